"""The fan-out example Dag, end to end with ``dag.test()``: three organizations, one of them failing."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from airflow_provider_asana.emulator.directory import BUSINESS_ORG, ENTERPRISE_ORG, SECOND_ENTERPRISE_ORG

from tests.conftest import set_asana_connection
from tests.system.conftest import FAN_OUT_DAG_ID, deferred_export_gids, sha256_of, uri_to_path


def test_fan_out_dag_tasks_and_wiring(example_dags):
    from airflow.sdk import TriggerRule

    dag = example_dags[FAN_OUT_DAG_ID]
    assert dag.schedule == "@daily"
    assert dag.catchup is False
    assert dag.max_active_runs == 1  # never two exports of one organization at once
    create, land, report = (
        dag.get_task(t) for t in ("export_organization.create", "export_organization.land", "report")
    )
    assert {t.task_id for t in dag.tasks} == {"plan", create.task_id, land.task_id, report.task_id}
    assert type(create.task_group).__name__ == "MappedTaskGroup"  # one group instance per organization
    assert dag.get_task("plan").downstream_task_ids == {create.task_id, land.task_id, report.task_id}
    assert create.downstream_task_ids == {land.task_id}
    assert land.downstream_task_ids == {report.task_id}
    # One task submits and waits (on the triggerer); both tasks that call Asana from a worker share the pool.
    assert (create.wait_for_completion, create.deferrable, create.poll_interval) == (True, True, 1.0)
    assert create.pool == land.pool == "asana"
    assert report.pool != "asana"
    assert report.trigger_rule == TriggerRule.ALL_DONE_MIN_ONE_SUCCESS  # runs whatever the organizations did
    assert land.overwrite is True


def _plan(example_dags, monkeypatch, organizations):
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_ORGANIZATIONS", json.dumps(organizations))
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_LAKE_ROOT", "s3://aws_default@lake/raw/")
    return example_dags[FAN_OUT_DAG_ID].get_task("plan").python_callable(ds="2026-01-15")


def test_plan_one_token_for_several_or_one_connection_each(example_dags, monkeypatch):
    planned = _plan(
        example_dags,
        monkeypatch,
        ["1200000000000001", {"organization_gid": "1200000000000004", "asana_conn_id": "asana_second"}],
    )
    lake = "s3://aws_default@lake/raw/asana"
    name = "date=2026-01-15/organization_export.json.gz"
    assert planned == [
        {
            "organization_gid": "1200000000000001",
            "asana_conn_id": "asana_default",
            "destination": f"{lake}/organization=1200000000000001/{name}",
        },
        {
            "organization_gid": "1200000000000004",
            "asana_conn_id": "asana_second",
            "destination": f"{lake}/organization=1200000000000004/{name}",
        },
    ]


FIX = "Set the Variable asana_organizations to a JSON list of organization gids or of"


@pytest.mark.parametrize(
    ("organizations", "said", "fix"),
    [
        (None, r"asana_organizations is None, not a non-empty list", FIX),
        ([], r"asana_organizations is \[\], not a non-empty list", FIX),
        ({"organization_gid": "1"}, "not a non-empty list", FIX),
        (
            ["acme"],
            r"asana_organizations\[0\]: organization_gid must be a gid \(digits only\), got 'acme'",
            FIX,
        ),
        ([1200000000000001], r"asana_organizations\[0\]: organization_gid must be a gid", FIX),
        (
            ["1", {"organization_gid": "2", "asana_conn_id": ""}],
            r"asana_organizations\[1\]: asana_conn_id",
            FIX,
        ),
        (
            ["1", "1"],
            r"asana_organizations\[1\]: organization 1 is listed twice",
            "list each organization once",
        ),
    ],
    ids=["missing", "empty", "not-a-list", "letters", "number", "empty-conn-id", "twice"],
)
def test_plan_refuses_bad_organizations_naming_the_variable(
    example_dags, monkeypatch, organizations, said, fix
):
    with pytest.raises(ValueError, match=said) as refused:
        _plan(example_dags, monkeypatch, organizations)
    assert fix in str(refused.value)


def _task_states(run_id: str) -> dict[tuple[str, int], str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state).where(
                TaskInstance.dag_id == FAN_OUT_DAG_ID, TaskInstance.run_id == run_id
            )
        ).all()
    return {(task_id, index): str(getattr(state, "value", state)) for task_id, index, state in rows}


def _xcom(run_id: str, task_id: str, key: str, map_index: int = -1):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == FAN_OUT_DAG_ID,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
                XComModel.map_index == map_index,
            )
        )


@pytest.mark.usefixtures("airflow_db")
def test_three_organizations_one_failing(example_dags, asana_emulator, monkeypatch, lake_root):
    emu = asana_emulator
    # One token for two organizations (asana_default), and one organization with a connection of its own.
    for conn_id in ("asana_default", "asana_second"):
        set_asana_connection(monkeypatch, conn_id, host=emu.api_url, password=emu.token, extra={})
    organizations = [
        ENTERPRISE_ORG.gid,
        {"organization_gid": SECOND_ENTERPRISE_ORG.gid, "asana_conn_id": "asana_second"},
        BUSINESS_ORG.gid,  # not Enterprise: Asana refuses its export (402)
    ]
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_ORGANIZATIONS", json.dumps(organizations))
    from airflow.models.pool import Pool

    Pool.create_or_update_pool("asana", slots=15, description="Asana API", include_deferred=False)
    dag = example_dags[FAN_OUT_DAG_ID]
    # One try each, so the POSTs counted below are the Dag's one per organization, not retries'.
    for task_id in ("export_organization.create", "export_organization.land"):
        dag.get_task(task_id).retries = 0

    started = datetime.now(timezone.utc)
    run = dag.test(logical_date=datetime(2026, 1, 15, tzinfo=timezone.utc))

    states = _task_states(run.run_id)
    assert run.state == "failed", states
    assert states == {
        ("plan", -1): "success",
        ("export_organization.create", 0): "success",
        ("export_organization.create", 1): "success",
        ("export_organization.create", 2): "failed",
        ("export_organization.land", 0): "success",
        ("export_organization.land", 1): "success",
        ("export_organization.land", 2): "upstream_failed",
        ("report", -1): "failed",
    }
    for index, gid in enumerate((ENTERPRISE_ORG.gid, SECOND_ENTERPRISE_ORG.gid)):
        landed = _xcom(run.run_id, "export_organization.land", "return_value", index)
        expected = (
            lake_root / "asana" / f"organization={gid}" / "date=2026-01-15" / "organization_export.json.gz"
        )
        assert uri_to_path(landed["uri"]) == expected
        assert emu.exports[landed["export_gid"]]["organization"] == gid
        assert sha256_of(expected) == emu.export_sha256(landed["export_gid"]) == landed["sha256"]
    assert not (lake_root / "asana" / f"organization={BUSINESS_ORG.gid}").exists()
    # Each organization's create waited for its export on the triggerer (dag.test() runs triggers inline).
    assert deferred_export_gids(since=started) == set(emu.exports)

    report = _xcom(run.run_id, "report", "report")
    assert set(report["landed"]) == {ENTERPRISE_ORG.gid, SECOND_ENTERPRISE_ORG.gid}
    assert report["failed"] == {
        BUSINESS_ORG.gid: "no finished export: see export_organization.create [2]",
    }

    # Exactly one export POST per organization: two started exports, one per good organization, and the
    # failing organization's single refused request.
    posts = [r.status for r in emu.requests if r.method == "POST"]
    assert sorted(posts) == [201, 201, 402]
    assert sorted(e["organization"] for e in emu.exports.values()) == sorted(
        [ENTERPRISE_ORG.gid, SECOND_ENTERPRISE_ORG.gid]
    )
