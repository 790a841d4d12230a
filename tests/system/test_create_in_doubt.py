"""An ambiguous create, then a clear, in a real Airflow: the task state store and clearing as Airflow 3.3 does them."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.system.conftest import ON_DEMAND_DAG_ID, task_states

pytestmark = pytest.mark.usefixtures("airflow_db")

KEY = "asana_organization_export_gid"


def _store(run_id: str) -> dict:
    import json

    from sqlalchemy import select

    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == ON_DEMAND_DAG_ID, TaskStateStoreModel.run_id == run_id
            )
        )
        return {row.key: json.loads(row.value) for row in rows}


def _clear(run_id: str) -> None:
    """What the UI's "Clear" does to the run's task instances (the run is set running for dag.test())."""
    from sqlalchemy import select

    from airflow.models.taskinstance import TaskInstance, clear_task_instances
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState

    with create_session() as session:
        tis = list(
            session.scalars(
                select(TaskInstance).where(TaskInstance.dag_id == ON_DEMAND_DAG_ID, TaskInstance.run_id == run_id)
            )
        )
        clear_task_instances(tis, session, dag_run_state=DagRunState.RUNNING)


def test_ambiguous_create_fails_without_retry_and_a_clear_starts_fresh(
    example_dags, asana_emulator, emulator_conn, tmp_path
):
    emu, dag = asana_emulator, example_dags[ON_DEMAND_DAG_ID]
    conf = {"organization_gid": emu.organization_gid, "destination": tmp_path.as_uri() + "/", "verify_gzip": True}
    when = datetime(2026, 2, 1, tzinfo=timezone.utc)  # the same run both times: same logical date and run_after
    emu.set_faults(server_error=1, server_error_status=502, server_error_methods=("POST",))

    first = dag.test(logical_date=when, run_after=when, run_conf=conf)

    # create has retries=2, but Asana may have started an export: no retry, one POST, the marker kept.
    assert task_states(ON_DEMAND_DAG_ID, first.run_id)["create"] == "failed"
    assert sum(r.method == "POST" for r in emu.requests) == 1
    marker = _store(first.run_id)[KEY]
    assert marker["try_number"] == 1 and "HTTP 502" in marker["error"]

    _clear(first.run_id)  # Airflow keeps the task state store across a clear
    assert _store(first.run_id)[KEY] == marker
    again = dag.test(logical_date=when, run_after=when, run_conf=conf, mark_success_pattern="wait|land")

    assert again.run_id == first.run_id
    assert task_states(ON_DEMAND_DAG_ID, again.run_id)["create"] == "success"
    assert sum(r.method == "POST" for r in emu.requests) == 2
    gid = _store(again.run_id)[KEY]
    assert gid in emu.exports  # the gid replaced the marker
