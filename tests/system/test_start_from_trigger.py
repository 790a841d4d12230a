"""
A sensor with ``start_from_trigger=True``, through Airflow 3.3's own code: the serialized Dag, the scheduler's
deferral (``TaskInstance.defer_task``, which ``DagRun.schedule_tis`` calls), the trigger row as the triggerer
reads it, and the worker's resume.

``dag.test()`` cannot show this: it runs every task on the worker path (``execute()``), never through
``schedule_tis``, so the sensor checks first there, as without the flag.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.sensors.organization_export import AsanaOrganizationExportSensor

pytestmark = pytest.mark.usefixtures("airflow_db")


def _scheduled_task(export_gid: str, timeout: float):
    """The sensor as the scheduler sees it: the Dag serialized and read back."""
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization

    with DAG("asana_start_from_trigger", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        AsanaOrganizationExportSensor(
            task_id="wait",
            export_gid=export_gid,
            deferrable=True,
            start_from_trigger=True,
            poke_interval=0.05,
            timeout=timeout,
        )
    return DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("wait")


@pytest.mark.asyncio
async def test_the_scheduler_defers_it_and_the_first_check_is_the_triggers(asana_emulator, emulator_conn):
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.trigger import Trigger
    from airflow.sdk._shared.module_loading import import_string
    from airflow.serialization.decoders import smart_decode_trigger_kwargs
    from airflow.utils.session import create_session
    from airflow.utils.state import TaskInstanceState

    gid = AsanaHook().create_organization_export()["gid"]
    task = _scheduled_task(gid, timeout=600)
    assert task.start_from_trigger is True

    # The scheduler: instead of queueing the task for a worker, it creates the trigger and defers the task.
    ti = TaskInstance(task=task, run_id="manual__start_from_trigger", dag_version_id=uuid.uuid4())
    ti.start_date = datetime.now(timezone.utc)
    with create_session() as session:
        assert ti.defer_task(session=session) is True
        row = session.get(Trigger, ti.trigger_id)
        assert row is not None
        classpath, kwargs = row.classpath, row.kwargs
        session.rollback()
    assert ti.state == TaskInstanceState.DEFERRED
    assert ti.next_method == "execute_complete"
    assert ti.trigger_timeout is not None
    assert abs((ti.trigger_timeout - ti.start_date) - timedelta(seconds=600)) < timedelta(seconds=5)
    assert [r.method for r in asana_emulator.requests] == ["POST"]  # no check yet: no worker was involved

    # The triggerer: the trigger from its row, the task's template fields rendered as in Airflow 3.3.
    trigger = import_string(classpath)(**{k: smart_decode_trigger_kwargs(v) for k, v in kwargs.items()})
    trigger.task_instance = SimpleNamespace(task_id="wait", task=task)
    assert set(trigger.template_fields) == {"export_gid", "asana_conn_id"}
    trigger.render_template_fields(context={})
    (event,) = [e async for e in trigger.run()]
    assert event.payload["status"] == "success"
    polls = [r for r in asana_emulator.requests if r.method == "GET"]
    assert len(polls) == 2  # pending, then finished: both the trigger's

    # The worker: the task resumes in next_method with the event; it asks Asana nothing more.
    worker_side = AsanaOrganizationExportSensor(
        task_id="wait", export_gid=gid, deferrable=True, start_from_trigger=True
    )
    assert worker_side.resume_execution(ti.next_method, {"event": event.payload}, {}) == gid
    assert len([r for r in asana_emulator.requests if r.method == "GET"]) == 2


def test_the_scheduler_runs_a_sensor_without_the_flag_on_a_worker():
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import DAG
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.session import create_session

    with DAG("asana_worker_first", schedule=None, start_date=datetime(2026, 1, 1)) as dag:
        AsanaOrganizationExportSensor(task_id="wait", export_gid="1210000000000001", deferrable=True)
    task = DagSerialization.from_dict(DagSerialization.to_dict(dag)).get_task("wait")
    ti = TaskInstance(task=task, run_id="manual__worker_first", dag_version_id=uuid.uuid4())
    with create_session() as session:
        assert ti.defer_task(session=session) is False
