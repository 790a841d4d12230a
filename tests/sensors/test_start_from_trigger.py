"""``start_from_trigger``: the sensor's arguments for starting on the triggerer, and what it refuses."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from airflow.sdk import DAG
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
from airflow_provider_asana.sensors.organization_export import AsanaOrganizationExportSensor

from tests.sensors.test_organization_export import _create

GID = "1210000000000001"
TRIGGER = "airflow_provider_asana.triggers.organization_export.AsanaOrganizationExportTrigger"


def _sensor(**kwargs) -> AsanaOrganizationExportSensor:
    kwargs.setdefault("export_gid", GID)
    kwargs.setdefault("deferrable", True)
    return AsanaOrganizationExportSensor(task_id="wait", start_from_trigger=True, **kwargs)


def test_start_trigger_args_hold_the_literal_ids_and_the_timeout():
    sensor = _sensor(asana_conn_id="asana_acme", poke_interval=30, timeout=timedelta(hours=12))
    assert sensor.start_from_trigger is True
    args = sensor.start_trigger_args
    assert args is not None
    assert args.trigger_cls == TRIGGER
    assert args.trigger_kwargs == {
        "export_gid": GID,
        "asana_conn_id": "asana_acme",
        "poll_interval": 30.0,
        "end_time": None,  # fixed at parse time, so no wall-clock deadline: the trigger timeout ends it
    }
    assert args.next_method == "execute_complete"
    assert args.timeout == timedelta(hours=12)


def test_off_by_default_and_the_class_is_left_alone():
    _sensor()
    plain = AsanaOrganizationExportSensor(task_id="wait", export_gid=GID, deferrable=True)
    assert plain.start_from_trigger is False
    assert plain.start_trigger_args is None
    assert AsanaOrganizationExportSensor.start_trigger_args is None


def test_needs_deferrable():
    with pytest.raises(ValueError, match=r"task_id='wait'\): start_from_trigger=True needs deferrable=True"):
        _sensor(deferrable=False)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"export_gid": "{{ params.export_gid }}"}, "export_gid"),
        ({"export_gid": "{% if true %}1{% endif %}"}, "export_gid"),
        ({"asana_conn_id": "asana_{{ params.tenant }}"}, "asana_conn_id"),
    ],
)
def test_refuses_templates_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"needs {name} as a literal string") as refused:
        _sensor(**kwargs)
    assert "the scheduler renders no template and pulls no XCom" in str(refused.value)
    assert "leave start_from_trigger=False" in str(refused.value)


def test_refuses_an_upstream_xcom():
    with DAG("d", schedule=None, start_date=datetime(2026, 1, 1)):
        create = AsanaCreateOrganizationExportOperator(task_id="create")
        with pytest.raises(ValueError, match="needs export_gid as a literal string"):
            _sensor(export_gid=create.output)


def test_refuses_a_gid_that_is_not_digits():
    with pytest.raises(ValueError, match="export_gid must be an export gid"):
        _sensor(export_gid="acme")


def test_run_on_a_worker_it_checks_first_as_before(asana_emulator, emulator_conn):
    """Where the scheduler does not start it on the triggerer (``dag.test()``), execute() still works."""
    gid = _create()
    with pytest.raises(TaskDeferred) as deferred:
        _sensor(export_gid=gid, poke_interval=0.05, timeout=600).execute({})
    assert deferred.value.trigger.end_time is not None
    assert len([r for r in asana_emulator.requests if r.method == "GET"]) == 1
