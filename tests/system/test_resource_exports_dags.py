"""
The resource export Dags run end to end with ``dag.test()`` against the emulator: two consecutive hours of
the hourly incremental load (the second window overlaps the first), a re-run, and a graph export on demand.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.system.conftest import (
    GRAPH_DAG_ID,
    HOURLY_DAG_ID,
    asset_events,
    sha256_of,
    task_states,
    uri_to_path,
    xcom,
)
from tests.tables.helpers import rows

pytestmark = pytest.mark.usefixtures("airflow_db")

SUCCESS = "success"
#: 1 MiB with half the tasks updated a day: about 70 changed tasks an emulated hour, generated in seconds.
EXPORT_SIZE = 1 << 20


@pytest.fixture
def changing_emulator(asana_emulator_factory, monkeypatch):
    from airflow_provider_asana.emulator.changes import ChangeRates

    from tests.conftest import set_asana_connection

    emulator = asana_emulator_factory(export_size=EXPORT_SIZE, change_rates=ChangeRates(update=0.5))
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid, "retry_backoff": 0.01},
    )
    return emulator


def _lines(path: Path) -> list[dict]:
    with gzip.open(path, "rb") as f:
        return [json.loads(line) for line in f if line.strip()]


def _gids(lines: list[dict], resource_type: str) -> set[str]:
    return {o["gid"] for o in lines if o["resource_type"] == resource_type}


def _changes(tables_root: Path, export_gid: str, name: str = "task") -> Counter[str]:
    return Counter(
        c["_change_type"]
        for c in rows(tables_root, f"resources/_changes/{name}")
        if c["_export_gid"] == export_gid
    )


def test_two_consecutive_hours_then_a_rerun_upsert_each_object_once(
    example_dags, changing_emulator, lake_root
):
    emu = changing_emulator
    dag = example_dags[HOURLY_DAG_ID]
    overlap = timedelta(minutes=10)  # the Dag's OVERLAP
    day_start = datetime.fromisoformat(emu.sequence_time(0))  # export 1's changes happen in the next day
    tables_root = lake_root / "asana" / f"organization={emu.organization_gid}" / "tables"

    def run_hour(hour: int) -> tuple[str, dict, list[dict]]:
        emu.set_next_job_sequence(1)  # every job shows the same state of the organization: export 1
        end = day_start + timedelta(hours=hour)
        run = dag.test(logical_date=end)  # a manual run's data interval is the hour before its date
        assert run.state == SUCCESS, task_states(HOURLY_DAG_ID, run.run_id)
        landed = xcom(HOURLY_DAG_ID, run.run_id, "land")
        job = emu.jobs[landed["job_gid"]]
        # The window: the data interval, widened by the overlap at its start.
        start = end - timedelta(hours=1) - overlap
        assert [
            {name: datetime.fromisoformat(value) for name, value in p["filters"].items()}
            for p in landed["export_request_parameters"]
        ] == [{"modified_at.after": start, "modified_at.before": end}] * 2
        assert [p["resource_type"] for p in job["request"]["export_request_parameters"]] == [
            "task",
            "message",
        ]
        path = uri_to_path(landed["uri"])
        assert path == (
            lake_root / "asana" / f"organization={emu.organization_gid}" / "resources"
            / f"hour={(end - timedelta(hours=1)).strftime('%Y%m%dT%H%M%S')}" / "resource_export.jsonl.gz"
        )  # fmt: skip
        assert sha256_of(path) == job["sha256"] == landed["sha256"]
        lines = _lines(path)
        assert all(start < datetime.fromisoformat(o["modified_at"]) < end for o in lines), (
            "an object outside the window"
        )
        return run.run_id, landed, lines

    first_run, first, first_lines = run_hour(13)
    loaded = xcom(HOURLY_DAG_ID, first_run, "load_tables")
    first_tasks = _gids(first_lines, "task")
    assert len(first_tasks) > 20
    assert loaded["tables"]["task"]["inserted"] == len(first_tasks)
    assert _changes(tables_root, first["export_gid"]) == {"insert": len(first_tasks)}
    events = {e["extra"]["table"] for e in asset_events(first_run)}
    assert (
        events == {"task", "task_story", "task_attachment"} == {"task", *loaded["tables"]["task"]["children"]}
    )

    second_run, second, second_lines = run_hour(14)
    second_tasks = _gids(second_lines, "task")
    overlapping = first_tasks & second_tasks
    assert overlapping, "the second window overlaps the first: objects modified in the 10 minutes in both"
    loaded = xcom(HOURLY_DAG_ID, second_run, "load_tables")
    assert (loaded["tables"]["task"]["inserted"], loaded["tables"]["task"]["updated"]) == (
        len(second_tasks - first_tasks),
        0,
    )
    # Change rows only for what changed: the objects of the overlap, exported again unchanged, get none.
    assert _changes(tables_root, second["export_gid"]) == {"insert": len(second_tasks - first_tasks)}
    table = [r["gid"] for r in rows(tables_root, "resources/task")]
    assert len(table) == len(set(table)), "a task has two rows"
    assert set(table) == first_tasks | second_tasks
    messages = [r["gid"] for r in rows(tables_root, "resources/message")]
    assert sorted(messages) == sorted(_gids(first_lines, "message") | _gids(second_lines, "message"))

    # The second hour again (a clear, a re-run): the hour's file is replaced, the tables hold the same rows
    # and the re-exported objects get no change rows.
    rerun, again, _ = run_hour(14)
    assert again["job_gid"] != second["job_gid"]
    assert not _changes(tables_root, again["export_gid"])
    assert sorted(r["gid"] for r in rows(tables_root, "resources/task")) == sorted(table)
    assert xcom(HOURLY_DAG_ID, rerun, "load_tables")["tables"]["task"]["inserted"] == 0

    # Every job was one at a time: the create requests were never refused for a busy workspace.
    posts = [r for r in emu.requests if r.method == "POST"]
    assert [(r.path, r.status) for r in posts] == [("/api/1.0/exports/resource", 201)] * 3


def test_graph_export_of_one_project_on_demand(example_dags, changing_emulator, tmp_path):
    from airflow.sdk.exceptions import ParamValidationError

    emu = changing_emulator
    dag = example_dags[GRAPH_DAG_ID]
    project = _project_gid(emu)
    destination = tmp_path / "exports"

    run = dag.test(run_conf={"project_gid": project, "destination": destination.as_uri()})

    assert run.state == SUCCESS, task_states(GRAPH_DAG_ID, run.run_id)
    job_gid = xcom(GRAPH_DAG_ID, run.run_id, "create")
    landed = xcom(GRAPH_DAG_ID, run.run_id, "land")
    path = destination / f"project={project}" / f"job={job_gid}" / "graph_export.jsonl.gz"
    assert uri_to_path(landed["uri"]) == path
    assert (landed["kind"], landed["job_gid"]) == ("graph_export", job_gid)
    assert sha256_of(path) == emu.jobs[job_gid]["sha256"]
    lines = _lines(path)
    assert lines[0]["gid"] == project
    assert {o["resource_type"] for o in lines} >= {"project", "task"}

    # The form takes digits only: anything else is refused before a run is created or a request sent.
    emu.clear_requests()
    for conf in ({}, {"project_gid": "12a4"}, {"project_gid": "https://app.asana.com/0/123/list"}):
        with pytest.raises(ParamValidationError, match="project_gid"):
            dag.test(run_conf=conf)
    assert emu.requests == []


def _project_gid(emulator) -> str:
    """A project of the emulated organization, from a resource export of its tasks."""
    from airflow_provider_asana.hooks.asana import AsanaHook

    hook = AsanaHook()
    job = hook.create_resource_export([{"resource_type": "task", "fields": ["projects"]}])
    while hook.get_job(job["gid"])["status"] != "succeeded":
        pass  # the emulator's jobs end on their second read
    with gzip.open(emulator.job_file(job["gid"]), "rb") as f:
        for line in f:
            projects = json.loads(line).get("projects")
            if projects:
                return projects[0]["gid"]
    raise AssertionError("no task of the emulated organization is in a project")


def test_hourly_and_graph_dags_are_wired_for_one_export_at_a_time(example_dags):
    from airflow.sdk import CronDataIntervalTimetable

    from airflow_provider_asana.operators.graph_export import AsanaCreateGraphExportOperator
    from airflow_provider_asana.operators.resource_export import AsanaCreateResourceExportOperator
    from airflow_provider_asana.transfers.export_job_to_object_storage import (
        AsanaExportJobToObjectStorageOperator,
    )
    from airflow_provider_asana.transfers.resource_export_to_delta_tables import (
        AsanaResourceExportToDeltaTablesOperator,
    )

    hourly, graph = example_dags[HOURLY_DAG_ID], example_dags[GRAPH_DAG_ID]
    # A data interval of one hour per run (a cron string would be a trigger timetable, without one).
    assert isinstance(hourly.timetable, CronDataIntervalTimetable)
    assert hourly.max_active_runs == 1
    create, land, load = (hourly.get_task(t) for t in ("create", "land", "load_tables"))
    assert (type(create), type(land), type(load)) == (
        AsanaCreateResourceExportOperator,
        AsanaExportJobToObjectStorageOperator,
        AsanaResourceExportToDeltaTablesOperator,
    )
    assert create.downstream_task_ids == {"land"}
    assert land.downstream_task_ids == {"load_tables"}
    assert land.overwrite is True
    graph_create = graph.get_task("create")
    assert type(graph_create) is AsanaCreateGraphExportOperator
    assert graph.schedule is None
    for task in (create, graph_create):
        assert (task.wait_for_completion, task.deferrable) == (True, True)
        assert task.pool == "asana_exports"  # one slot, counting deferred tasks: one export per workspace
    assert {t.pool for t in (land, load, graph.get_task("land"))} == {"default_pool"}
