"""The resource and graph export create operators: submit once, re-attach, the in-doubt rule, the wait."""

from __future__ import annotations

import pytest
import requests
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred
from responses import matchers

from airflow_provider_asana.exceptions import (
    AsanaExportAlreadyRunningError,
    AsanaExportFailedError,
    AsanaExportTimeoutError,
)
from airflow_provider_asana.operators.graph_export import AsanaCreateGraphExportOperator
from airflow_provider_asana.operators.resource_export import AsanaCreateResourceExportOperator
from airflow_provider_asana.triggers.export_job import AsanaExportJobTrigger

from tests.conftest import TOKEN, set_asana_connection
from tests.exports.conftest import (
    BASE,
    BUSY,
    GRAPH_EXPORTS,
    JOB_GID,
    JOB_URL,
    RESOURCE_EXPORTS,
    WORKSPACE,
    asana_error,
    calls,
    job,
)
from tests.operators.test_organization_export import TaskStateStore, _context

KEY = AsanaCreateResourceExportOperator.external_id_key
TASKS = [{"resource_type": "task", "filters": {"modified_at.after": "2026-11-29T08:00:00Z"}}]
PARENT = "1600000000000001"


def _resource(**kwargs) -> AsanaCreateResourceExportOperator:
    kwargs.setdefault("retries", 2)
    kwargs.setdefault("export_request_parameters", TASKS)
    return AsanaCreateResourceExportOperator(task_id="create", **kwargs)


def _graph(**kwargs) -> AsanaCreateGraphExportOperator:
    kwargs.setdefault("retries", 2)
    return AsanaCreateGraphExportOperator(task_id="graph", parent_gid=PARENT, **kwargs)


def _posts(rsps) -> int:
    return len(calls(rsps, "POST"))


def test_names_and_templated_fields():
    assert set(AsanaCreateResourceExportOperator.template_fields) == {
        "export_request_parameters",
        "workspace_gid",
        "asana_conn_id",
    }
    assert set(AsanaCreateGraphExportOperator.template_fields) == {"parent_gid", "asana_conn_id"}
    assert AsanaCreateGraphExportOperator.external_id_key != KEY  # two create tasks of one run never mix


def test_submits_and_returns_the_job_gid(asana_conn, rsps):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    store = TaskStateStore()
    assert _resource().execute(_context(store)) == JOB_GID
    assert store.get(KEY) == JOB_GID  # the gid replaced the in-doubt marker
    assert _posts(rsps) == 1


def test_graph_export_submits_the_parent(asana_conn, rsps):
    rsps.post(
        GRAPH_EXPORTS,
        status=201,
        json=job("not_started", subtype="graph_export_request"),
        match=[matchers.json_params_matcher({"data": {"parent": PARENT}})],
    )
    store = TaskStateStore()
    assert _graph().execute(_context(store)) == JOB_GID
    assert store.get(AsanaCreateGraphExportOperator.external_id_key) == JOB_GID


@pytest.mark.parametrize("status", ["not_started", "in_progress", "succeeded"])
def test_a_retry_reattaches_to_the_job_an_earlier_try_started(asana_conn, rsps, status):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    rsps.get(JOB_URL, json=job(status))
    store = TaskStateStore()
    first = _resource().execute(_context(store))
    assert _resource().execute(_context(store, try_number=2)) == first
    assert _posts(rsps) == 1


def test_a_retry_after_a_failed_job_starts_a_new_export(asana_conn, rsps):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started", gid="1400000000000002"))
    rsps.get(JOB_URL, json=job("failed"))
    store = TaskStateStore()
    _resource().execute(_context(store))
    assert _resource().execute(_context(store, try_number=2)) == "1400000000000002"
    assert store.get(KEY) == "1400000000000002"
    assert _posts(rsps) == 2


def test_a_retry_with_a_job_unknown_to_asana_starts_a_new_export(asana_conn, rsps):
    rsps.get(JOB_URL, status=404, json=asana_error("job: Not a recognized ID"))
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started", gid="1400000000000002"))
    store = TaskStateStore()
    store.set(KEY, JOB_GID)
    assert _resource().execute(_context(store, try_number=2)) == "1400000000000002"


@pytest.mark.parametrize(
    "answer",
    [
        {"status": 500, "json": asana_error("Server error")},
        {"body": requests.exceptions.ReadTimeout("read timed out")},
    ],
    ids=["500", "no answer"],
)
def test_an_ambiguous_create_fails_at_once_and_a_retry_does_not_post(asana_conn, rsps, answer):
    rsps.post(RESOURCE_EXPORTS, **answer)
    store = TaskStateStore()
    with pytest.raises(
        AirflowFailException, match=r"Try 1 of this task asked Asana to start a resource export"
    ):
        _resource().execute(_context(store))
    assert store.get(KEY)["try_number"] == 1  # the marker stays
    with pytest.raises(AirflowFailException, match="resubmit_if_in_doubt=True"):
        _resource().execute(_context(store, try_number=2))
    assert _posts(rsps) == 1


def test_resubmit_if_in_doubt_starts_another(asana_conn, rsps):
    rsps.post(GRAPH_EXPORTS, status=502, json=asana_error("Bad gateway"))
    rsps.post(GRAPH_EXPORTS, status=201, json=job("not_started", subtype="graph_export_request"))
    store = TaskStateStore()
    with pytest.raises(AirflowFailException, match="start a graph export"):
        _graph().execute(_context(store))
    assert _graph(resubmit_if_in_doubt=True).execute(_context(store, try_number=2)) == JOB_GID
    assert _posts(rsps) == 2


def test_a_busy_workspace_that_outlasts_the_wait_started_nothing(monkeypatch, rsps, sleeps):
    set_asana_connection(
        monkeypatch,
        host=BASE,
        extra={"workspace": WORKSPACE, "retry_backoff": 1, "max_busy_workspace_wait": 5},
    )
    rsps.post(RESOURCE_EXPORTS, status=403, json=BUSY)
    store = TaskStateStore()
    with pytest.raises(AsanaExportAlreadyRunningError):
        _resource().execute(_context(store))
    assert store.get(KEY) is None  # no marker: Airflow's own retry may start the export


@pytest.mark.parametrize(
    ("operator", "said"),
    [
        (
            lambda: _resource(export_request_parameters=[{"resource_type": "team", "fields": "name"}]),
            "fields",
        ),
        (lambda: _resource(workspace_gid="acme"), "workspace_gid"),
        (lambda: AsanaCreateGraphExportOperator(task_id="graph", parent_gid="{{ params.p }}"), "parent_gid"),
    ],
    ids=["bad fields", "bad workspace", "unrendered parent"],
)
def test_bad_arguments_fail_before_the_marker_and_any_request(asana_conn, rsps, operator, said):
    store = TaskStateStore()
    with pytest.raises(ValueError, match=said):
        operator().execute(_context(store))
    assert store.values == {}
    assert len(rsps.calls) == 0


# -- the wait ---------------------------------------------------------------------------------------------


def test_polls_the_job_until_it_succeeded(asana_conn, rsps, sleeps):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    rsps.get(JOB_URL, json=job("in_progress"))
    rsps.get(JOB_URL, json=job("succeeded"))
    operator = _resource(wait_for_completion=True, poll_interval=7)
    assert operator.execute(_context(TaskStateStore())) == JOB_GID
    polls = calls(rsps, "GET", JOB_URL)
    assert len(polls) == 2
    assert "download_url" not in polls[0].request.params["opt_fields"]  # a wait never asks for the URL
    assert [c.args[0] for c in sleeps.call_args_list] == [7.0]


def test_a_job_that_failed_while_polled_fails_the_task(asana_conn, rsps, sleeps):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    rsps.get(JOB_URL, json=job("failed"))
    with pytest.raises(
        AsanaExportFailedError, match=r"resource export job 1400000000000001 ended in status 'failed'"
    ):
        _resource(wait_for_completion=True).execute(_context(TaskStateStore()))


def test_polling_timeout_fails_without_retries(asana_conn, rsps, sleeps):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    rsps.get(JOB_URL, json=job("in_progress"))
    with pytest.raises(
        AsanaExportTimeoutError, match=r"was still 'in_progress' at the deadline.*clear this task"
    ):
        _resource(wait_for_completion=True, timeout=0).execute(_context(TaskStateStore()))


def test_deferrable_defers_at_once_with_ids_only_and_resumes(asana_conn, rsps):
    rsps.post(RESOURCE_EXPORTS, status=201, json=job("not_started"))
    store = TaskStateStore()
    with pytest.raises(TaskDeferred) as deferred:
        _resource(wait_for_completion=True, deferrable=True, poll_interval=30).execute(_context(store))
    trigger = deferred.value.trigger
    assert isinstance(trigger, AsanaExportJobTrigger)
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow_provider_asana.triggers.export_job.AsanaExportJobTrigger"
    assert set(kwargs) == {"job_gid", "asana_conn_id", "poll_interval", "end_time"}
    assert kwargs["job_gid"] == JOB_GID
    assert TOKEN not in repr(kwargs)
    assert store.get(KEY) == JOB_GID  # stored before deferring: a retry re-attaches
    assert len(calls(rsps, "GET")) == 0

    resumed = _resource(wait_for_completion=True, deferrable=True)
    event = {"status": "success", "job_gid": JOB_GID, "message": "succeeded.", "status_code": None}
    assert resumed.resume_execution("execute_complete", {"event": event}, _context(store)) == JOB_GID
    failed = {**event, "status": "failed", "message": "Asana resource export job 1 ended in status 'failed'."}
    with pytest.raises(AsanaExportFailedError):
        resumed.execute_complete(_context(store), failed)
    with pytest.raises(AsanaExportTimeoutError):
        resumed.execute_complete(_context(store), {**event, "status": "timeout"})
    assert _posts(rsps) == 1
