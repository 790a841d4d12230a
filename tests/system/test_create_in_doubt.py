"""An ambiguous create, then a clear, in a real Airflow: the task state store and clearing as Airflow 3.3 does them."""

from __future__ import annotations

import contextlib

import pytest

from tests.system.conftest import ON_DEMAND_DAG_ID, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

KEY = "asana_organization_export_gid"


def _store(run_id: str) -> dict:
    import json

    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == ON_DEMAND_DAG_ID, TaskStateStoreModel.run_id == run_id
            )
        )
        return {row.key: json.loads(row.value) for row in rows}


def _run_create(dag, run_id: str, *, clear: bool) -> tuple[str, int]:
    """
    Run the ``create`` task instance again, in process, as the scheduler would: as a retry of the same
    try sequence (what follows a worker crash), or after a clear (what the UI's "Clear" does).

    ``dag.test()`` cannot do this: it deletes and re-creates the run, and the task state store with it.
    """
    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.sdk.definitions.dag import _run_task
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState, TaskInstanceState
    from sqlalchemy import select

    def create_ti(session):
        return session.scalar(
            select(TaskInstance).where(
                TaskInstance.dag_id == ON_DEMAND_DAG_ID,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == "create",
            )
        )

    with create_session() as session:
        ti = create_ti(session)
        if clear:
            clear_task_instances([ti], session, dag_run_state=DagRunState.RUNNING)
        else:
            ti.prepare_db_for_next_try(session)
        ti.try_number += 1
        ti.state = TaskInstanceState.SCHEDULED
    with create_session() as session:
        ti = create_ti(session)
        try_number = ti.try_number
        with contextlib.suppress(Exception):  # a failed try is recorded on the task instance, checked below
            _run_task(ti=ti, task=dag.task_dict["create"], run_triggerer=True)  # it waits deferred
    with create_session() as session:
        return create_ti(session).state, try_number


def test_ambiguous_create_fails_without_retry_and_a_clear_starts_fresh(
    example_dags, asana_emulator, emulator_conn, tmp_path
):
    emu, dag = asana_emulator, example_dags[ON_DEMAND_DAG_ID]
    conf = {
        "organization_gid": emu.organization_gid,
        "destination": tmp_path.as_uri() + "/",
        "verify_gzip": True,
    }
    emu.set_faults(server_error=1, server_error_status=502, server_error_methods=("POST",))

    run = dag.test(run_conf=conf)

    # create has retries=2, but Asana may have started an export: no retry, one POST, the marker kept.
    assert task_states(ON_DEMAND_DAG_ID, run.run_id)["create"] == "failed"
    assert sum(r.method == "POST" for r in emu.requests) == 1
    marker = _store(run.run_id)[KEY]
    assert marker["try_number"] == 1
    assert "HTTP 502" in marker["error"]

    # A retry (as after a worker killed mid-request) finds the marker and does not ask Asana again.
    assert _run_create(dag, run.run_id, clear=False) == ("failed", 2)
    assert sum(r.method == "POST" for r in emu.requests) == 1
    assert _store(run.run_id)[KEY] == marker

    # Clearing keeps the task state store, but the next try starts fresh; the gid replaces the marker.
    assert _run_create(dag, run.run_id, clear=True) == ("success", 3)
    assert sum(r.method == "POST" for r in emu.requests) == 2
    assert _store(run.run_id)[KEY] in emu.exports
