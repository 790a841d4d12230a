"""Resource and graph exports: ``POST /exports/resource``, ``POST /exports/graph``, ``GET /jobs/{job_gid}``."""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_asana.emulator import AsanaEmulator, jobrequests
from airflow_provider_asana.emulator.api import EXPORT_IN_PROGRESS
from airflow_provider_asana.emulator.app import EmulatorApp
from airflow_provider_asana.emulator.directory import BUSINESS_ORG, ENTERPRISE_ORG
from airflow_provider_asana.emulator.jobfiles import write_resource_export
from airflow_provider_asana.emulator.lifecycle import ChangeRates
from airflow_provider_asana.emulator.presign import Verdict

from tests.emulator.helpers import Api

RATES = ChangeRates(update=0.2, insert=0.02, delete=0.01, trash=0.01)
EVERYTHING = ({"resource_type": "task"}, {"resource_type": "team"}, {"resource_type": "message"})


@pytest.fixture(scope="module")
def emulator(asana_emulator_cache_dir: Path) -> Iterator[AsanaEmulator]:
    """One emulator for the tests that leave no job in progress and no fault set."""
    with AsanaEmulator(
        export_size=32 << 10, polls_to_finish=1, change_rates=RATES, cache_dir=asana_emulator_cache_dir
    ) as running:
        yield running


@pytest.fixture
def jobs(emulator: AsanaEmulator) -> Iterator[Api]:
    client = Api(emulator)
    emulator.set_next_job_sequence(0)
    yield client
    emulator.clear_faults()
    client.session.close()


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()]


def _organization_export(app: EmulatorApp, api: Api, sequence: int) -> list[dict[str, Any]]:
    """The records of export ``sequence`` of the organization (its organization exports up to there)."""
    gid = ""
    while len(app.exports) <= sequence:
        gid, _ = api.finished_export()
    gid = gid or next(g for g, export in app.exports.items() if export["sequence"] == sequence)
    return _records(app.export_file(gid))


def _epoch(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def test_a_resource_export_job_goes_from_not_started_to_succeeded(
    asana_emulator_factory: Callable[..., AsanaEmulator],
) -> None:
    emulator = asana_emulator_factory(export_size=32 << 10, polls_to_finish=2)
    api = Api(emulator)

    created = api.create_resource_export({"resource_type": "task"})
    gid = created.json()["data"]["gid"]
    polls = [api.get_job(gid).json()["data"] for _ in range(2)]

    assert created.status_code == 201
    first = created.json()["data"]
    assert (first["resource_type"], first["resource_subtype"], first["status"]) == (
        "job", "export_request", "not_started",
    )  # fmt: skip
    assert first["new_resource_export"]["download_url"] is None
    assert "completed_at" not in first["new_resource_export"]
    assert [poll["status"] for poll in polls] == ["in_progress", "succeeded"]
    assert polls[0]["new_resource_export"]["download_url"] is None
    done = polls[1]["new_resource_export"]
    assert done["gid"] == first["new_resource_export"]["gid"] != gid
    assert done["resource_type"] == "export_request"
    assert _epoch(done["created_at"]) < _epoch(done["completed_at"])
    body = requests.get(done["download_url"], timeout=10).content
    assert body == emulator.job_file(gid).read_bytes()
    listing = [json.loads(line) for line in emulator.job_listing(gid).read_text().splitlines()]
    lines = [json.loads(line) for line in gzip.decompress(body).splitlines()]
    assert listing == [{"gid": line["gid"], "resource_type": line["resource_type"]} for line in lines]
    assert emulator.jobs[gid]["status"] == "succeeded"
    assert emulator.jobs[gid]["counts"] == {"task": len(lines)}


def test_opt_fields_select_the_job_fields(jobs: Api) -> None:
    job = jobs.finished_job(jobs.create_resource_export({"resource_type": "team"}))

    only = jobs.get_job(job["gid"], params={"opt_fields": "status,new_resource_export.download_url"}).json()

    assert set(only["data"]) == {"gid", "resource_type", "status", "new_resource_export"}
    assert set(only["data"]["new_resource_export"]) == {"gid", "resource_type", "download_url"}


def test_an_unfiltered_resource_export_shows_the_organization_export(
    jobs: Api, emulator: AsanaEmulator
) -> None:
    lines = jobs.job_lines(jobs.finished_job(jobs.create_resource_export(*EVERYTHING)))
    records = _organization_export(emulator, jobs, 0)

    by_type: dict[str, dict[str, dict]] = {}
    for line in lines:
        by_type.setdefault(line["resource_type"], {})[line["gid"]] = line
    shown = {str(r["__object_id"]): r for r in records if "__trashed_at" not in r}
    tasks = {gid: r for gid, r in shown.items() if r["__type"] == "Task"}
    teams = {gid for gid, r in shown.items() if r["__type"] == "Team"}
    messages = {
        gid for gid, r in shown.items() if r["__type"] in ("ProjectStatusUpdateStory", "ProjectShareStory")
    }
    assert len(lines) == sum(len(objects) for objects in by_type.values())
    assert set(by_type["task"]) == set(tasks)
    assert all(by_type["task"][gid]["name"] == record["name"] for gid, record in tasks.items())
    assert set(by_type["team"]) == teams
    assert set(by_type.get("message", {})) <= messages
    memberships = [r for r in shown.values() if r["__type"] == "TeamMembership"]
    team = next(iter(by_type["team"].values()))
    assert len(team["members"]) == len({m["member"] for m in memberships if str(m["team"]) == team["gid"]})
    task = next(line for line in by_type["task"].values() if line["stories"])
    assert {story["gid"] for story in task["stories"]} <= set(shown)
    assert all(
        "download_url" not in a and "view_url" not in a for t in lines for a in t.get("attachments", [])
    )


def test_a_modified_at_window_holds_what_the_next_export_changed(jobs: Api, emulator: AsanaEmulator) -> None:
    records = {str(r["__object_id"]): r for r in _organization_export(emulator, jobs, 1)}
    changes = {
        str(row["__object_id"]): row["change"]
        for row in map(json.loads, emulator.export_changes(_export_gid(emulator, 1)).read_text().splitlines())
    }
    after, before = emulator.sequence_time(0), emulator.sequence_time(1)
    emulator.set_next_job_sequence(1)

    window = {"modified_at.after": after, "modified_at.before": before}
    lines = jobs.job_lines(
        jobs.finished_job(jobs.create_resource_export({"resource_type": "task", "filters": window}))
    )

    gids = {line["gid"] for line in lines}
    changed = {
        gid
        for gid, change in changes.items()
        if change in ("insert", "update")
        and records[gid]["__type"] == "Task"
        and "__trashed_at" not in records[gid]
    }
    assert changed, "the change rates should change some tasks"
    assert changed <= gids
    assert all(_epoch(after) < _epoch(line["modified_at"]) < _epoch(before) for line in lines)
    assert all(records[gid]["__type"] == "Task" for gid in gids)


def _a_project(emulator: AsanaEmulator) -> str:
    """The gid of a project of the organization's export 0."""
    view = emulator.organization().member(0, 0)
    kinds = view.structure.kinds
    return next(view.gid(e) for e in range(len(view.entries)) if kinds[e] == "Project" and view.visible(e))


def _export_gid(emulator: AsanaEmulator, sequence: int) -> str:
    return next(gid for gid, export in emulator.exports.items() if export["sequence"] == sequence)


def test_the_next_job_shows_the_next_export_of_the_sequence(jobs: Api, emulator: AsanaEmulator) -> None:
    first = jobs.finished_job(jobs.create_resource_export({"resource_type": "team"}))
    second = jobs.finished_job(jobs.create_resource_export({"resource_type": "team"}))

    assert emulator.jobs[first["gid"]]["sequence"] == 0
    assert emulator.jobs[second["gid"]]["sequence"] == 1
    assert second["new_resource_export"]["created_at"] == emulator.sequence_time(1)


def test_people_filters_and_fields_are_honoured(jobs: Api) -> None:
    everything = jobs.job_lines(jobs.finished_job(jobs.create_resource_export({"resource_type": "task"})))
    assignee = next(line["assignee"]["gid"] for line in everything if line["assignee"])

    lines = jobs.job_lines(
        jobs.finished_job(
            jobs.create_resource_export(
                {
                    "resource_type": "task",
                    "filters": {"assignee.any": [assignee]},
                    "fields": ["name", "assignee.name"],
                }
            )
        )
    )

    expected = [line for line in everything if line["assignee"] and line["assignee"]["gid"] == assignee]
    assert [line["gid"] for line in lines] == [line["gid"] for line in expected]
    assert all(set(line) == {"gid", "resource_type", "name", "assignee"} for line in lines)
    assert all(set(line["assignee"]) == {"gid", "resource_type", "name"} for line in lines)


def test_two_parameters_of_one_type_are_a_disjunction_with_duplicates(jobs: Api) -> None:
    one = {"resource_type": "team", "fields": ["name"]}

    lines = jobs.job_lines(jobs.finished_job(jobs.create_resource_export(one, one)))

    gids = [line["gid"] for line in lines]
    assert gids
    assert len(gids) == 2 * len(set(gids))


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ([], "export_request_parameters: Missing input"),
        ([{"resource_type": "team", "filters": {"created_at.after": "2020-01-01T00:00:00Z"}}],
         "export_request_parameters[0].filters: Filtering is not supported for teams"),
        ([{"resource_type": "project"}], "export_request_parameters[0].resource_type: Must be one of"),
        ([{"resource_type": "message", "filters": {"assignee.any": ["1"]}}],
         "export_request_parameters[0].filters.assignee.any: Only applicable to tasks"),
        ([{"resource_type": "task"}, {"resource_type": "task", "filters": {"modified_at.after": "yesterday"}}],
         "export_request_parameters[1].filters.modified_at.after: Not a valid date-time"),
        ([{"resource_type": "task", "filters": {"due_on.before": "2020-01-01"}}], "Unknown filter 'due_on.before'"),
        ([{"resource_type": "task", "fields": "name"}], "export_request_parameters[0].fields: Must be an array"),
    ],
)  # fmt: skip
def test_bad_requests_answer_400_naming_the_field(jobs: Api, parameters: list, message: str) -> None:
    response = jobs.create_resource_export(*parameters)

    assert response.status_code == 400
    assert message in response.json()["errors"][0]["message"]
    assert jobs.emulator.jobs == {} or all(j["status"] == "succeeded" for j in jobs.emulator.jobs.values())


def test_unknown_and_non_enterprise_workspaces(jobs: Api) -> None:
    assert jobs.create_resource_export(*EVERYTHING, workspace="999").status_code == 404
    assert jobs.create_resource_export(*EVERYTHING, workspace=BUSINESS_ORG.gid).status_code == 402
    assert jobs.post("/exports/resource", json={"data": {}}).json()["errors"][0]["message"] == (
        "workspace: Missing input"
    )


def test_one_export_in_progress_per_workspace(asana_emulator_factory: Callable[..., AsanaEmulator]) -> None:
    emulator = asana_emulator_factory(export_size=32 << 10, polls_to_finish=2)
    api = Api(emulator)
    first = api.create_resource_export({"resource_type": "team"})
    project = _a_project(emulator)

    refused = api.create_resource_export({"resource_type": "task"})
    graph = api.create_graph_export(project)
    done = api.finished_job(first)
    accepted = api.create_resource_export({"resource_type": "task"})

    assert refused.status_code == 403
    assert refused.json() == {
        "errors": [{"message": EXPORT_IN_PROGRESS, "help": refused.json()["errors"][0]["help"]}]
    }
    assert (graph.status_code, graph.json()["errors"][0]["message"]) == (403, EXPORT_IN_PROGRESS)
    assert done["status"] == "succeeded"
    assert accepted.status_code == 201
    assert len(emulator.jobs) == 2


def test_a_failed_job_has_no_url_and_frees_the_workspace(jobs: Api) -> None:
    jobs.emulator.set_faults(job_status="failed")

    job = jobs.finished_job(jobs.create_resource_export({"resource_type": "team"}))
    jobs.emulator.clear_faults()
    after = jobs.create_resource_export({"resource_type": "team"})

    assert job["status"] == "failed"
    assert job["new_resource_export"]["download_url"] is None
    assert after.status_code == 201
    jobs.finished_job(after)


def test_api_faults_apply_to_the_new_endpoints(jobs: Api) -> None:
    jobs.emulator.set_faults(forbidden=True)
    assert jobs.create_resource_export({"resource_type": "team"}).status_code == 403
    assert jobs.create_graph_export("1").status_code == 403
    assert jobs.get_job("1").status_code == 403
    jobs.emulator.set_faults(forbidden=False, non_enterprise=True)
    assert jobs.create_resource_export({"resource_type": "team"}).status_code == 402
    jobs.emulator.set_faults(non_enterprise=False, rate_limit=1, server_error=1, server_error_methods=["GET"])

    limited = jobs.create_resource_export({"resource_type": "team"})
    created = jobs.create_resource_export({"resource_type": "team"})
    failed = jobs.get_job(created.json()["data"]["gid"])

    assert limited.status_code == 429
    assert (created.status_code, failed.status_code) == (201, 500)
    jobs.finished_job(created)


def test_download_faults_apply_to_job_files(jobs: Api) -> None:
    job = jobs.finished_job(jobs.create_resource_export({"resource_type": "task"}))
    jobs.emulator.set_faults(expire_urls=1)
    expired = jobs.get_job(job["gid"]).json()["data"]["new_resource_export"]["download_url"]
    fresh = jobs.get_job(job["gid"]).json()["data"]["new_resource_export"]["download_url"]
    jobs.emulator.set_faults(truncate_gzip=True)
    truncated = requests.get(fresh, timeout=10).content

    answer = requests.get(expired, timeout=10)
    assert answer.status_code == 403
    assert b"Request has expired" in answer.content
    assert job["new_resource_export"]["download_url"] not in answer.text
    with pytest.raises(EOFError):
        gzip.decompress(truncated)
    jobs.emulator.clear_faults()
    assert requests.get(fresh, timeout=10).content == jobs.emulator.job_file(job["gid"]).read_bytes()


def test_a_job_url_expires_after_its_lifetime(jobs: Api, emulator: AsanaEmulator) -> None:
    job = jobs.finished_job(jobs.create_resource_export({"resource_type": "team"}))
    url = urlsplit(job["new_resource_export"]["download_url"])
    query = parse_qs(url.query)
    expires_at = int(query["X-Emulator-Expires-At-Ms"][0]) / 1000

    valid = emulator.signer.check(url.path, query, now=expires_at - 1)
    expired = emulator.signer.check(url.path, query, now=expires_at)

    assert (valid.verdict, expired.verdict) == (Verdict.VALID, Verdict.EXPIRED)
    assert query["X-Amz-Expires"] == ["300"]


def test_graph_export_of_a_project(jobs: Api) -> None:
    everything = jobs.job_lines(jobs.finished_job(jobs.create_resource_export({"resource_type": "task"})))
    project = next(line["projects"][0]["gid"] for line in everything if line["projects"])
    task = everything[0]["gid"]

    job = jobs.finished_job(jobs.create_graph_export(project))
    lines = jobs.job_lines(job)

    assert (job["resource_subtype"], job["new_graph_export"]["resource_type"]) == (
        "graph_export_request", "graph_export",
    )  # fmt: skip
    assert [line["resource_type"] for line in lines[:2]] == ["project", "section"]
    assert lines[0]["gid"] == project
    in_project = {line["gid"] for line in everything if any(p["gid"] == project for p in line["projects"])}
    graph_tasks = {line["gid"] for line in lines if line["resource_type"] == "task"}
    assert in_project <= graph_tasks
    assert jobs.create_graph_export(task).status_code == 400
    assert jobs.create_graph_export("1").status_code == 404


def test_control_endpoints_for_jobs(jobs: Api, emulator: AsanaEmulator) -> None:
    base = emulator.api_url.removesuffix("/api/1.0") + "/_emulator/"
    job = jobs.finished_job(jobs.create_resource_export({"resource_type": "team"}))

    put = requests.put(base + "next_job_sequence", json={"sequence": 3}, timeout=10)
    window = requests.get(base + "sequence/3", timeout=10).json()
    listing = requests.get(base + f"jobs/{job['gid']}/listing", timeout=10)
    bad = requests.put(base + "next_job_sequence", json={"sequence": -1}, timeout=10)

    assert put.json() == {"sequence": 3}
    assert emulator.next_job_sequence() == 3
    assert window == {"sequence": 3, "time": emulator.sequence_time(3), "previous": emulator.sequence_time(2)}
    assert requests.get(base + "jobs", timeout=10).json()[job["gid"]]["kind"] == "resource"
    assert listing.text == emulator.job_listing(job["gid"]).read_text()
    assert bad.status_code == 400
    assert requests.get(base + "jobs/1/listing", timeout=10).status_code == 404


def test_the_organization_read_from_its_export_files_is_the_generated_one(
    asana_emulator_cache_dir: Path,
) -> None:
    app = EmulatorApp(export_size=32 << 10, cache_dir=asana_emulator_cache_dir, change_rates=RATES)
    read = app.organization()
    generated = dataclasses.replace(read, lines=None)
    parameters = jobrequests.export_parameters({"export_request_parameters": list(EVERYTHING)})

    for export in (0, 2):
        for member in range(len(read.plan)):
            one, other = read.member(member, export), generated.member(member, export)
            assert [entry.alive for entry in one.entries] == [entry.alive for entry in other.entries]
            alive = [entry for entry in range(len(one.entries)) if one.entries[entry].alive]
            assert [one.entries[e][:4] for e in alive] == [other.entries[e][:4] for e in alive]
            assert [one.modified(e) for e in alive] == [other.modified(e) for e in alive]
        files = []
        for organization in (read, generated):
            out = io.BytesIO()
            write_resource_export(out, io.BytesIO(), organization, export, ENTERPRISE_ORG, parameters)
            files.append(gzip.decompress(out.getvalue()))
        assert files[0] == files[1]
        assert files[0].count(b"\n") > 50
