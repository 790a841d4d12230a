"""The hook's resource and graph export calls at the HTTP boundary: requests, checks, errors, busy-workspace retries."""

from __future__ import annotations

import hashlib
import logging
import os
import traceback

import pytest
import requests
from responses import matchers

from airflow_provider_asana.exceptions import (
    AsanaAPIError,
    AsanaDownloadError,
    AsanaExportAlreadyRunningError,
    AsanaExportFailedError,
    AsanaTransportError,
)
from airflow_provider_asana.hooks.asana import JOB_FIELDS, AsanaHook

from tests.conftest import TOKEN, set_asana_connection
from tests.exports.conftest import (
    BASE,
    BODY,
    BUSY,
    COMPLETED_AT,
    CREATED_AT,
    DOWNLOAD_URL,
    EXPORT_GID,
    GRAPH_EXPORTS,
    JOB_GID,
    JOB_URL,
    RESOURCE_EXPORTS,
    SIGNATURE,
    WORKSPACE,
    asana_error,
    calls,
    job,
)

pytestmark = pytest.mark.usefixtures("restore_secrets_masker")

TASKS = [{"resource_type": "task", "filters": {"modified_at.after": "2026-11-29 08:00:00+00:00"}}]
SENT_TASKS = [{"resource_type": "task", "filters": {"modified_at.after": "2026-11-29T08:00:00Z"}}]


def _busy_conn(monkeypatch, **extra) -> None:
    set_asana_connection(
        monkeypatch, host=BASE, extra={"workspace": WORKSPACE, "retry_backoff": 1, "max_attempts": 4, **extra}
    )


# -- requests ---------------------------------------------------------------------------------------------


def test_resource_export_posts_the_checked_parameters_to_the_connections_workspace(asana_conn, rsps):
    rsps.post(
        RESOURCE_EXPORTS,
        status=201,
        json=job("not_started"),
        match=[
            matchers.json_params_matcher(
                {"data": {"workspace": WORKSPACE, "export_request_parameters": SENT_TASKS}}
            ),
            matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"}),
        ],
    )
    created = AsanaHook().create_resource_export(TASKS)
    assert created["gid"] == JOB_GID
    assert created["status"] == "not_started"
    assert len(rsps.calls) == 1


def test_resource_export_of_an_explicit_workspace(asana_conn, rsps):
    body = {"data": {"workspace": "777", "export_request_parameters": [{"resource_type": "team"}]}}
    rsps.post(RESOURCE_EXPORTS, status=201, json=job(), match=[matchers.json_params_matcher(body)])
    AsanaHook().create_resource_export([{"resource_type": "team"}], workspace_gid="777")
    assert len(rsps.calls) == 1


def test_graph_export_posts_the_parent(asana_conn, rsps):
    rsps.post(
        GRAPH_EXPORTS,
        status=201,
        json=job("not_started", subtype="graph_export_request"),
        match=[matchers.json_params_matcher({"data": {"parent": "1600000000000001"}})],
    )
    assert AsanaHook().create_graph_export("1600000000000001")["gid"] == JOB_GID


def test_get_job_asks_for_the_status_and_the_export(asana_conn, rsps):
    rsps.get(
        JOB_URL,
        json=job("succeeded"),
        match=[matchers.query_param_matcher({"opt_fields": ",".join(JOB_FIELDS)})],
    )
    found = AsanaHook().get_job(JOB_GID)
    assert found["status"] == "succeeded"
    assert found["new_resource_export"]["completed_at"] == COMPLETED_AT


BAD_BEFORE_ANY_REQUEST = {
    "teams take no filters": (
        lambda hook: hook.create_resource_export(
            [{"resource_type": "team", "filters": {"created_at.after": "2026-01-01T00:00:00Z"}}]
        ),
        r"export_request_parameters\[0\]\['filters'\]: teams take no filters",
    ),
    "unknown resource type": (
        lambda hook: hook.create_resource_export([{"resource_type": "project"}]),
        r"\['resource_type'\] must be one of",
    ),
    "bad workspace": (
        lambda hook: hook.create_resource_export(TASKS, workspace_gid="acme"),
        r"workspace_gid must be an Asana gid",
    ),
    "bad parent": (lambda hook: hook.create_graph_export("project-1"), r"parent_gid must be an Asana gid"),
    "bad job": (lambda hook: hook.get_job("../users/me"), r"job_gid must be an Asana gid"),
}


@pytest.mark.parametrize(("call", "said"), BAD_BEFORE_ANY_REQUEST.values(), ids=BAD_BEFORE_ANY_REQUEST.keys())
def test_bad_input_fails_before_any_request(asana_conn, rsps, call, said):
    with pytest.raises(ValueError, match=said):
        call(AsanaHook())
    assert len(rsps.calls) == 0  # nothing registered: any request would have failed differently


def test_no_workspace_anywhere_names_the_argument_and_the_extra(monkeypatch, rsps):
    set_asana_connection(monkeypatch, host=BASE, extra={})
    with pytest.raises(ValueError, match=r"workspace_gid was not given.*'workspace' extra"):
        AsanaHook().create_resource_export(TASKS)
    assert len(rsps.calls) == 0


def test_an_answer_without_a_job_gid_is_an_api_error(asana_conn, rsps):
    rsps.get(JOB_URL, json={"data": {"resource_type": "job", "status": "succeeded"}})
    with pytest.raises(
        AsanaAPIError, match=r"GET /jobs/1400000000000001 answered with a job without a 'gid'"
    ):
        AsanaHook().get_job(JOB_GID)


# -- errors and retries -----------------------------------------------------------------------------------


def test_a_read_timeout_on_create_is_not_repeated_and_says_so(asana_conn, rsps):
    rsps.post(RESOURCE_EXPORTS, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(AsanaTransportError) as raised:
        AsanaHook().create_resource_export(TASKS)
    assert len(rsps.calls) == 1
    assert "Asana may have started a resource export" in str(raised.value)
    assert "AsanaCreateResourceExportOperator" in str(raised.value)


def test_get_job_retries_a_server_error(asana_conn, rsps):
    rsps.get(JOB_URL, status=503, json=asana_error("Service unavailable"))
    rsps.get(JOB_URL, json=job("in_progress"))
    assert AsanaHook().get_job(JOB_GID)["status"] == "in_progress"
    assert len(rsps.calls) == 2


def test_access_errors_give_the_advice_of_the_kind_of_export(asana_conn, rsps):
    rsps.post(RESOURCE_EXPORTS, status=402, json=asana_error("Payment required"))
    rsps.post(GRAPH_EXPORTS, status=404, json=asana_error("parent: Unknown object"))
    with pytest.raises(AsanaAPIError, match=r"HTTP 402.*Compliance Management add-on"):
        AsanaHook().create_resource_export(TASKS)
    with pytest.raises(AsanaAPIError, match=r"HTTP 404.*Check the parent gid"):
        AsanaHook().create_graph_export("1600000000000001")


# -- one export at a time per workspace -------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", [RESOURCE_EXPORTS, GRAPH_EXPORTS])
def test_a_busy_workspace_is_waited_for_then_the_export_starts(monkeypatch, rsps, sleeps, caplog, endpoint):
    _busy_conn(monkeypatch)
    rsps.post(endpoint, status=403, json=BUSY)
    rsps.post(endpoint, status=403, json=BUSY)
    rsps.post(endpoint, status=201, json=job("not_started"))
    hook = AsanaHook()
    with caplog.at_level(logging.WARNING):
        if endpoint == RESOURCE_EXPORTS:
            created = hook.create_resource_export(TASKS)
        else:
            created = hook.create_graph_export("1600000000000001")
    assert created["gid"] == JOB_GID
    assert len(rsps.calls) == 3
    assert sleeps.call_count == 2
    assert "another export of" in caplog.text
    assert "max_busy_workspace_wait=600 s" in caplog.text


def test_a_busy_workspace_past_max_busy_workspace_wait_fails_saying_what_to_do(monkeypatch, rsps, sleeps):
    _busy_conn(monkeypatch, max_busy_workspace_wait=30)
    rsps.post(RESOURCE_EXPORTS, status=403, json=BUSY)
    with pytest.raises(AsanaExportAlreadyRunningError) as raised:
        AsanaHook().create_resource_export(TASKS)
    slept = sum(call.args[0] for call in sleeps.call_args_list)
    assert slept <= 30
    assert len(rsps.calls) == sleeps.call_count + 1 >= 2
    text = str(raised.value)
    assert raised.value.status_code == 403
    assert (
        f"Another export of workspace {WORKSPACE} was still in progress after {len(rsps.calls)} attempts"
        in text
    )
    assert "max_busy_workspace_wait is 30 s" in text
    assert "Airflow pool with one slot" in text


def test_zero_max_busy_workspace_wait_fails_at_once(monkeypatch, rsps, sleeps):
    _busy_conn(monkeypatch, max_busy_workspace_wait=0)
    rsps.post(RESOURCE_EXPORTS, status=403, json=BUSY)
    with pytest.raises(AsanaExportAlreadyRunningError, match="one export per workspace at a time"):
        AsanaHook().create_resource_export(TASKS)
    assert len(rsps.calls) == 1
    assert sleeps.call_count == 0


def test_retry_after_on_a_busy_workspace_is_honoured(monkeypatch, rsps, sleeps):
    _busy_conn(monkeypatch)
    rsps.post(RESOURCE_EXPORTS, status=403, json=BUSY, headers={"Retry-After": "42"})
    rsps.post(RESOURCE_EXPORTS, status=201, json=job())
    AsanaHook().create_resource_export(TASKS)
    assert [call.args[0] for call in sleeps.call_args_list] == [42.0]


PERMISSION_403 = {
    "resource export without the plan": (
        RESOURCE_EXPORTS,
        "POST",
        asana_error("You do not have permission to perform this action."),
    ),
    "graph export of a hidden parent": (GRAPH_EXPORTS, "POST", asana_error("Forbidden")),
    "a proxy's page": (RESOURCE_EXPORTS, "POST", None),
    "the words on another endpoint": (JOB_URL, "GET", BUSY),
}


@pytest.mark.parametrize(("url", "method", "body"), PERMISSION_403.values(), ids=PERMISSION_403.keys())
def test_a_permission_403_is_not_taken_for_a_busy_workspace(monkeypatch, rsps, sleeps, url, method, body):
    _busy_conn(monkeypatch)
    if body is None:
        rsps.add(
            method, url, status=403, body="<html><h1>403 Forbidden</h1></html>", content_type="text/html"
        )
    else:
        rsps.add(method, url, status=403, json=body)
    hook = AsanaHook()
    call = {
        RESOURCE_EXPORTS: lambda: hook.create_resource_export(TASKS),
        GRAPH_EXPORTS: lambda: hook.create_graph_export("1600000000000001"),
        JOB_URL: lambda: hook.get_job(JOB_GID),
    }[url]
    with pytest.raises(AsanaAPIError) as raised:
        call()
    assert not isinstance(raised.value, AsanaExportAlreadyRunningError)
    assert raised.value.status_code == 403
    assert "one export per workspace" not in str(raised.value)
    assert len(rsps.calls) == 1
    assert sleeps.call_count == 0


# -- download ---------------------------------------------------------------------------------------------


def test_download_lands_the_file_and_says_what_it_is(asana_conn, rsps, tmp_path):
    rsps.get(JOB_URL, json=job("succeeded"))
    rsps.get(DOWNLOAD_URL, body=BODY, headers={"Content-Length": str(len(BODY))})
    target = tmp_path / "tasks.jsonl.gz"

    result = AsanaHook().download_job_export(JOB_GID, str(target))

    assert target.read_bytes() == BODY
    assert result == {
        "uri": result["uri"],
        "bytes": len(BODY),
        "sha256": hashlib.sha256(BODY).hexdigest(),
        "job_gid": JOB_GID,
        "export_gid": EXPORT_GID,
        "kind": "resource_export",
        "created_at": CREATED_AT,
        "completed_at": COMPLETED_AT,
    }
    assert result["uri"].endswith("tasks.jsonl.gz")
    assert SIGNATURE not in repr(result)
    first, fresh = calls(rsps, "GET", JOB_URL)
    assert "download_url" not in first.request.params["opt_fields"]  # what the file is, read first
    assert "download_url" in fresh.request.params["opt_fields"]  # the URL, right before the download
    assert "Authorization" not in calls(rsps, "GET", DOWNLOAD_URL.split("?")[0])[0].request.headers


def test_download_of_a_graph_export(asana_conn, rsps, tmp_path):
    rsps.get(JOB_URL, json=job("succeeded", subtype="graph_export_request"))
    rsps.get(DOWNLOAD_URL, body=BODY, headers={"Content-Length": str(len(BODY))})
    result = AsanaHook().download_job_export(JOB_GID, str(tmp_path / "project.json.gz"))
    assert result["kind"] == "graph_export"


def test_an_expired_url_is_renewed_from_the_job(asana_conn, rsps, tmp_path):
    renewed = DOWNLOAD_URL.replace(SIGNATURE, "beefsignature")
    rsps.get(JOB_URL, json=job("succeeded"))  # what the file is
    rsps.get(JOB_URL, json=job("succeeded"))  # the first URL
    rsps.get(JOB_URL, json=job("succeeded", url=renewed))  # a fresh one
    expired = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
    rsps.get(DOWNLOAD_URL, status=403, body=expired, content_type="application/xml")
    rsps.get(renewed, body=BODY, headers={"Content-Length": str(len(BODY))})

    result = AsanaHook().download_job_export(JOB_GID, str(tmp_path / "tasks.jsonl.gz"))

    assert result["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert len(calls(rsps, "GET", JOB_URL)) == 3
    assert [c.request.url for c in rsps.calls if "s3.test" in c.request.url] == [DOWNLOAD_URL, renewed]


def test_a_corrupt_file_never_lands(asana_conn, rsps, tmp_path):
    corrupt = BODY[:-8] + b"\0" * 8  # CRC and length trailer wrong
    rsps.get(JOB_URL, json=job("succeeded"))
    rsps.get(DOWNLOAD_URL, body=corrupt, headers={"Content-Length": str(len(corrupt))})
    with pytest.raises(AsanaDownloadError):
        AsanaHook().download_job_export(JOB_GID, str(tmp_path / "tasks.jsonl.gz"))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("status", "error", "said"),
    [
        (
            "in_progress",
            AsanaDownloadError,
            r"Asana resource export job 1400000000000001 has not succeeded yet",
        ),
        ("failed", AsanaExportFailedError, r"resource export job 1400000000000001 ended in status 'failed'"),
    ],
)
def test_nothing_is_downloaded_from_a_job_that_has_not_succeeded(
    asana_conn, rsps, tmp_path, status, error, said
):
    rsps.get(JOB_URL, json=job(status))
    with pytest.raises(error, match=said):
        AsanaHook().download_job_export(JOB_GID, str(tmp_path / "tasks.jsonl.gz"))
    assert calls(rsps, "GET", DOWNLOAD_URL.split("?")[0]) == []
    assert os.listdir(tmp_path) == []


def test_a_job_that_is_no_export_is_refused(asana_conn, rsps, tmp_path):
    rsps.get(
        JOB_URL, json={"data": {"gid": JOB_GID, "resource_subtype": "duplicate_task", "status": "succeeded"}}
    )
    with pytest.raises(
        AsanaDownloadError, match=r"holds no resource or graph export.*AsanaCreateResourceExport"
    ):
        AsanaHook().download_job_export(JOB_GID, str(tmp_path / "tasks.jsonl.gz"))


def test_an_object_already_there_is_kept_unless_overwrite(asana_conn, rsps, tmp_path):
    target = tmp_path / "tasks.jsonl.gz"
    target.write_bytes(b"yesterday")
    rsps.get(JOB_URL, json=job("succeeded"))
    rsps.get(DOWNLOAD_URL, body=BODY, headers={"Content-Length": str(len(BODY))})
    with pytest.raises(AsanaDownloadError, match="already exists: pass overwrite=True"):
        AsanaHook().download_job_export(JOB_GID, str(target))
    assert target.read_bytes() == b"yesterday"
    assert calls(rsps, "GET", DOWNLOAD_URL.split("?")[0]) == []
    AsanaHook().download_job_export(JOB_GID, str(target), overwrite=True)
    assert target.read_bytes() == BODY


def test_a_plain_http_download_url_is_refused_without_echoing_it(asana_conn, rsps, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    plain = DOWNLOAD_URL.replace("https://", "http://")
    rsps.get(JOB_URL, json=job("succeeded", url=plain))
    with pytest.raises(AsanaDownloadError, match="download_url is not https") as raised:
        AsanaHook().download_job_export(JOB_GID, str(tmp_path / "tasks.jsonl.gz"))
    told = "".join(traceback.format_exception(raised.value)) + caplog.text
    assert SIGNATURE not in told
    assert calls(rsps, "GET", plain.split("?")[0]) == []
