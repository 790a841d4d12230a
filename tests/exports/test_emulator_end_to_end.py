"""Resource and graph exports end to end against the emulator: create, wait (worker and triggerer), land."""

from __future__ import annotations

import gzip
import hashlib
import json
import time

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_asana.exceptions import AsanaExportAlreadyRunningError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.operators.graph_export import AsanaCreateGraphExportOperator
from airflow_provider_asana.operators.resource_export import AsanaCreateResourceExportOperator
from airflow_provider_asana.sensors.export_job import AsanaExportJobSensor
from airflow_provider_asana.transfers.export_job_to_object_storage import (
    AsanaExportJobToObjectStorageOperator,
)
from airflow_provider_asana.triggers.export_job import AsanaExportJobTrigger

from tests.conftest import set_asana_connection
from tests.operators.test_organization_export import TaskStateStore, _context

pytestmark = pytest.mark.usefixtures("restore_secrets_masker")

CHANGES = [
    {"resource_type": "task", "filters": {"modified_at.after": "2000-01-01T00:00:00Z"}},
    {"resource_type": "team"},
]


def _connect(monkeypatch, emulator, **extra) -> None:
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid, "retry_backoff": 0.01, **extra},
    )


def _land(job_gid: str, target, **kwargs) -> dict:
    return AsanaExportJobToObjectStorageOperator(
        task_id="land", job_gid=job_gid, destination=str(target), **kwargs
    ).execute({})


def _lines(path) -> list[dict]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def test_a_resource_export_is_created_waited_for_and_landed(asana_emulator, emulator_conn, tmp_path):
    create = AsanaCreateResourceExportOperator(
        task_id="create", export_request_parameters=CHANGES, wait_for_completion=True, poll_interval=0.01
    )
    job_gid = create.execute(_context(TaskStateStore()))
    job = asana_emulator.jobs[job_gid]
    assert job["status"] == "succeeded"

    target = tmp_path / "changes.jsonl.gz"
    result = _land(job_gid, target, export_request_parameters=CHANGES)

    assert result["sha256"] == hashlib.sha256(target.read_bytes()).hexdigest() == job["sha256"]
    assert (result["kind"], result["created_at"], result["completed_at"]) == (
        "resource_export",
        job["created_at"],
        job["completed_at"],
    )
    assert result["resource_types"] == ["task", "team"]
    listing = [json.loads(line) for line in asana_emulator.job_listing(job_gid).read_text().splitlines()]
    assert [(o["gid"], o["resource_type"]) for o in _lines(target)] == [
        (o["gid"], o["resource_type"]) for o in listing
    ]
    assert {"task", "team"} == {o["resource_type"] for o in listing}
    posts = [r for r in asana_emulator.requests if r.method == "POST"]
    assert len(posts) == 1


def test_a_graph_export_of_a_team_lands_as_its_job_says(asana_emulator, emulator_conn, tmp_path):
    teams = AsanaHook().create_resource_export([{"resource_type": "team"}])["gid"]
    assert AsanaExportJobSensor(task_id="wait", job_gid=teams, poke_interval=0.01).execute({}) == teams
    _land(teams, tmp_path / "teams.jsonl.gz")
    team = _lines(tmp_path / "teams.jsonl.gz")[0]["gid"]

    graph = AsanaCreateGraphExportOperator(
        task_id="graph", parent_gid=team, wait_for_completion=True, poll_interval=0.01
    ).execute(_context(TaskStateStore()))
    result = _land(graph, tmp_path / "team.json.gz")
    assert result["kind"] == "graph_export"
    assert result["sha256"] == asana_emulator.jobs[graph]["sha256"]


@pytest.mark.asyncio
async def test_the_deferrable_create_waits_on_the_triggerer_and_resumes(asana_emulator, emulator_conn):
    store = TaskStateStore()
    create = AsanaCreateResourceExportOperator(
        task_id="create", export_request_parameters=CHANGES, wait_for_completion=True, deferrable=True,
        poll_interval=0.01,
    )  # fmt: skip
    with pytest.raises(TaskDeferred) as deferred:
        create.execute(_context(store))
    trigger = deferred.value.trigger
    assert isinstance(trigger, AsanaExportJobTrigger)
    (event,) = [e.payload async for e in trigger.run()]
    assert event["status"] == "success"
    assert event["message"].startswith(f"Asana resource export job {event['job_gid']} succeeded")
    assert create.resume_execution("execute_complete", {"event": event}, _context(store)) == event["job_gid"]
    asked = [",".join(r.query.get("opt_fields", [])) for r in asana_emulator.requests if r.method == "GET"]
    assert asked
    assert not any("download_url" in fields for fields in asked)  # a wait never asks for the URL


@pytest.mark.asyncio
async def test_the_trigger_reports_a_failed_job_and_an_unknown_one(asana_emulator, emulator_conn):
    asana_emulator.set_faults(job_status="failed")
    job_gid = AsanaHook().create_resource_export(CHANGES)["gid"]
    trigger = AsanaExportJobTrigger(job_gid, asana_conn_id="asana_default", poll_interval=0.01)
    (failed,) = [e.payload async for e in trigger.run()]
    assert failed["status"] == "failed"
    assert "ended in status 'failed'" in failed["message"]

    unknown = AsanaExportJobTrigger("1229999999999999", asana_conn_id="asana_default", poll_interval=0.01)
    (error,) = [e.payload async for e in unknown.run()]
    assert (error["status"], error["status_code"]) == ("error", 404)
    assert asana_emulator.token not in json.dumps([failed, error])


def test_the_emulators_busy_workspace_403_is_recognised_and_waited_out(
    asana_emulator_factory, monkeypatch, mocker
):
    emulator = asana_emulator_factory(polls_to_finish=1)  # a job ends when it is first read, not with time
    _connect(monkeypatch, emulator, max_busy_workspace_wait=0)
    first = AsanaHook().create_resource_export(CHANGES)["gid"]
    with pytest.raises(AsanaExportAlreadyRunningError, match="one export per workspace at a time"):
        AsanaHook().create_resource_export(CHANGES)

    _connect(monkeypatch, emulator, max_busy_workspace_wait=30)
    sleep = time.sleep
    # While the busy-workspace retry sleeps, the other export ends (this test reads it, which ends it).
    waits = mocker.patch("time.sleep", side_effect=lambda s: AsanaHook().get_job(first) and sleep(0))
    second = AsanaHook().create_resource_export(CHANGES)["gid"]
    assert second != first
    assert waits.call_count == 1
    refused = [r for r in emulator.requests if r.method == "POST" and r.status == 403]
    assert len(refused) == 2  # the one above, and the one waited out
