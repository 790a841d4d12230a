"""Errors that say what happened: gids, answers without an export, Retry-After, base URL, message joins."""

from __future__ import annotations

import gzip
import re
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses
from responses import matchers

from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.hooks._api import parse_retry_after
from airflow_provider_asana.hooks.asana import EXPORT_FIELDS, AsanaAPIError, AsanaHook, AsanaTransportError
from tests.conftest import TOKEN, WORKSPACE, set_asana_connection

BASE = "https://asana.test/api/1.0"
EXPORTS = f"{BASE}/organization_exports"
EXPORT_GID = "1300000000000001"
EXPORT = {"gid": EXPORT_GID, "resource_type": "organization_export", "state": "pending", "download_url": None,
          "created_at": "2026-11-27T10:00:00.000Z", "organization": {"gid": WORKSPACE, "name": "Acme"}}
RATE_LIMITED = {"errors": [{"message": "You have made too many requests recently."}]}

pytestmark = pytest.mark.usefixtures("restore_secrets_masker")


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps(mocker):
    """Tenacity and the download sleep through time.sleep: record the waits instead of waiting."""
    return mocker.patch("time.sleep")


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(timezone.utc), usegmt=True)


# -- gids --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("gid", ["123\n", " 123", "123 ", "12a", "", "١٢٣", True, False, -1, None, 1.0])
def test_only_whole_digit_strings_are_gids(asana_conn, rsps, gid):
    hook = AsanaHook()
    with pytest.raises(ValueError, match=r"export_gid must be an Asana gid") as raised:
        hook.get_organization_export(gid)
    assert repr(gid) in str(raised.value)
    if gid is not None:  # None means the connection's workspace
        with pytest.raises(ValueError, match=r"organization_gid must be an Asana gid"):
            hook.create_organization_export(gid)
    assert not rsps.calls


@pytest.mark.asyncio
async def test_async_refuses_a_gid_with_a_newline_before_any_request(asana_emulator, emulator_conn):
    hook = AsanaHook()
    with pytest.raises(ValueError, match=r"export_gid must be an Asana gid.*; got '123\\n'\."):
        await hook.aget_organization_export("123\n")
    await hook.aclose()
    assert not asana_emulator.requests


@pytest.mark.parametrize("gid", [123, 0, "123", "0012"])
def test_valid_gids_pass(asana_conn, rsps, gid):
    rsps.post(EXPORTS, status=201, json={"data": EXPORT},
              match=[matchers.json_params_matcher({"data": {"organization": str(gid)}})])
    assert AsanaHook().create_organization_export(gid)["gid"] == EXPORT_GID


def test_workspace_extra_with_a_trailing_newline_is_trimmed(monkeypatch):
    set_asana_connection(monkeypatch, extra={"workspace": f"{WORKSPACE}\n"})
    assert AsanaHook().settings.workspace == WORKSPACE


# -- a success answer that is not an export ------------------------------------------------------------------


NOT_AN_EXPORT = {
    "no data": {},
    "null data": {"data": None},
    "list data": {"data": [EXPORT]},
    "no gid": {"data": {"state": "pending"}},
    "null gid": {"data": {"gid": None, "state": "pending"}},
    "numeric gid": {"data": {"gid": 1300000000000001}},
    "non-digit gid": {"data": {"gid": "None"}},
}


@pytest.mark.parametrize("body", NOT_AN_EXPORT.values(), ids=NOT_AN_EXPORT.keys())
def test_create_answer_without_an_export_gid_is_an_error(asana_conn, rsps, body):
    rsps.post(EXPORTS, status=201, json=body)
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().create_organization_export()
    text = str(raised.value)
    assert text.startswith("Asana POST /organization_exports answered with ")
    assert "no organization export gid" in text and "connection's host" in text
    assert len(rsps.calls) == 1


@pytest.mark.parametrize("body", NOT_AN_EXPORT.values(), ids=NOT_AN_EXPORT.keys())
def test_get_answer_without_an_export_gid_is_an_error(asana_conn, rsps, body):
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", json=body)
    with pytest.raises(AsanaAPIError, match=rf"Asana GET /organization_exports/{EXPORT_GID} answered with "):
        AsanaHook().get_organization_export(EXPORT_GID)


@pytest.mark.parametrize("body", [b"null", b"[]", b'"ok"'])
def test_success_answer_that_is_not_a_json_object(asana_conn, rsps, body):
    rsps.get(f"{BASE}/users/me", body=body, content_type="application/json")
    with pytest.raises(AsanaAPIError, match=r"answered HTTP 200 with a JSON (null|array|string) body"):
        AsanaHook().run("GET", "/users/me")


# -- opt_fields=None ---------------------------------------------------------------------------------------


def test_opt_fields_none_means_the_default_fields(asana_conn, rsps):
    default = matchers.query_param_matcher({"opt_fields": ",".join(EXPORT_FIELDS)})
    rsps.post(EXPORTS, status=201, json={"data": {"gid": EXPORT_GID}}, match=[default])
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", json={"data": {"gid": EXPORT_GID}}, match=[default])
    hook = AsanaHook()
    created = hook.create_organization_export(opt_fields=None)
    got = hook.get_organization_export(EXPORT_GID, opt_fields=None)
    assert set(created) == set(got) == {"gid", "resource_type", "created_at", "state", "download_url",
                                        "organization"}


@pytest.mark.asyncio
async def test_async_opt_fields_none_means_the_default_fields(asana_emulator, emulator_conn):
    hook = AsanaHook()
    gid = hook.create_organization_export()["gid"]
    try:
        export = await hook.aget_organization_export(gid, opt_fields=None)
    finally:
        await hook.aclose()
    assert export["state"] == "started"
    assert asana_emulator.requests[-1].query["opt_fields"] == [",".join(EXPORT_FIELDS)]


def test_list_workspaces_opt_fields_none(asana_conn, rsps):
    rsps.get(f"{BASE}/workspaces", json={"data": [{"gid": "1"}]},
             match=[matchers.query_param_matcher({"opt_fields": "name,is_organization", "limit": "100"})])
    assert AsanaHook().list_workspaces(opt_fields=None) == [{"gid": "1"}]


# -- Retry-After ---------------------------------------------------------------------------------------------


NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "date", "expected"),
    [
        ("7", None, 7.0),
        (" 0.25 ", None, 0.25),
        ("0", None, 0.0),
        (_http_date(NOW + timedelta(seconds=42)), _http_date(NOW), 42.0),
        (_http_date(NOW - timedelta(seconds=42)), _http_date(NOW), 0.0),
        ("nan", None, None),
        ("NaN", None, None),
        ("inf", None, None),
        ("-5", None, None),
        ("1e3", None, None),
        ("1_000", None, None),
        ("soon", None, None),
        ("", None, None),
        (None, None, None),
    ],
)
def test_retry_after_values(value, date, expected):
    assert parse_retry_after(value, date) == expected


def test_retry_after_date_without_a_date_header_counts_from_our_clock():
    wait = parse_retry_after(_http_date(datetime.now(timezone.utc) + timedelta(seconds=120)))
    assert wait is not None and 115 <= wait <= 120


def test_retry_after_as_an_http_date_is_honoured(asana_conn, rsps, sleeps):
    headers = {"Retry-After": _http_date(NOW + timedelta(seconds=9)), "Date": _http_date(NOW)}
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", status=429, headers=headers, json=RATE_LIMITED)
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", json={"data": EXPORT})
    AsanaHook().get_organization_export(EXPORT_GID)
    assert [c.args[0] for c in sleeps.call_args_list] == [9.0]


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "tomorrow"])
def test_unusable_retry_after_falls_back_to_the_backoff(asana_conn, rsps, sleeps, value):
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", status=429, headers={"Retry-After": value}, json=RATE_LIMITED)
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", json={"data": EXPORT})
    AsanaHook().get_organization_export(EXPORT_GID)
    (wait,) = [c.args[0] for c in sleeps.call_args_list]
    assert 0 <= wait <= 0.01  # the connection's retry_backoff is 0.001 s


def test_retry_after_beyond_the_budget_fails_at_once(monkeypatch, rsps, sleeps):
    set_asana_connection(monkeypatch, host=BASE, extra={"workspace": WORKSPACE, "max_retry_wait": 300})
    rsps.post(EXPORTS, status=429, headers={"Retry-After": "3600"}, json=RATE_LIMITED)
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().create_organization_export()
    text = str(raised.value)
    assert "HTTP 429" in text and "asked to wait 3600 s" in text and "retry budget of 300 s" in text
    assert "Raise the connection's max_retry_wait extra to at least 3600" in text
    assert raised.value.status_code == 429 and raised.value.retry_after == 3600
    assert len(rsps.calls) == 1 and not sleeps.called


def test_retry_after_beyond_what_is_left_of_the_budget(monkeypatch, rsps, sleeps):
    set_asana_connection(monkeypatch, host=BASE, extra={"workspace": WORKSPACE, "max_retry_wait": 30})
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", status=429, headers={"Retry-After": "20"}, json=RATE_LIMITED)
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().get_organization_export(EXPORT_GID)
    assert "asked to wait 20 s" in str(raised.value) and "the 10 s left of the" in str(raised.value)
    assert "at least 40" in str(raised.value)
    assert [c.args[0] for c in sleeps.call_args_list] == [20.0]


@pytest.mark.asyncio
async def test_async_retry_after_beyond_the_budget_fails_at_once(asana_emulator, monkeypatch):
    set_asana_connection(monkeypatch, host=asana_emulator.api_url, password=asana_emulator.token,
                         extra={"max_retry_wait": 2})
    asana_emulator.set_faults(rate_limit=1, rate_limit_methods=("GET",), rate_limit_retry_after=30)
    hook = AsanaHook()
    with pytest.raises(AsanaAPIError, match=r"asked to wait 30 s .* retry budget of 2 s"):
        await hook.arun("GET", "/users/me")
    await hook.aclose()
    assert [r.status for r in asana_emulator.requests] == [429]


def _finished(url: str) -> dict:
    return {"data": {"gid": EXPORT_GID, "state": "finished", "download_url": url,
                     "organization": {"gid": WORKSPACE, "name": "Acme"}}}


DOWNLOAD = f"https://s3.test/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature=feedface"


def test_download_honours_retry_after_as_an_http_date(asana_conn, rsps, sleeps, tmp_path):
    body = gzip.compress(b"{}\n")
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", json=_finished(DOWNLOAD))
    rsps.get(DOWNLOAD, status=503, headers={"Retry-After": _http_date(NOW + timedelta(seconds=5)),
                                            "Date": _http_date(NOW)})
    rsps.get(DOWNLOAD, body=body, headers={"Content-Length": str(len(body))})
    AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))
    assert [c.args[0] for c in sleeps.call_args_list] == [5.0]


def test_download_retry_after_beyond_the_budget_fails_at_once(monkeypatch, rsps, sleeps, tmp_path):
    set_asana_connection(monkeypatch, host=BASE, extra={"workspace": WORKSPACE, "max_retry_wait": 60})
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", json=_finished(DOWNLOAD))
    rsps.get(DOWNLOAD, status=503, headers={"Retry-After": "600"})
    with pytest.raises(AsanaDownloadError) as raised:
        AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))
    text = str(raised.value)
    assert "HTTP 503" in text and "s3.test asked to wait 600 s" in text
    assert "max_retry_wait extra to at least 600" in text
    assert "feedface" not in text
    assert len([c for c in rsps.calls if c.request.url.startswith("https://s3.test")]) == 1
    assert not sleeps.called and not list(tmp_path.iterdir())


# -- the base URL: port, /api/1.0 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "suggested"),
    [
        ("https://asana.internal/api/1.0", 8443, "'https://asana.internal:8443/api/1.0'"),
        ("https://asana.internal:9000/api/1.0", 8443, "'https://asana.internal:8443/api/1.0'"),
        (None, 443, "'https://app.asana.com:443/api/1.0'"),
        ("http://[::1]/api/1.0", 8080, "'http://[::1]:8080/api/1.0'"),
    ],
)
def test_port_field_is_refused_with_the_host_to_use(monkeypatch, host, port, suggested):
    set_asana_connection(monkeypatch, host=host, port=port)
    with pytest.raises(ValueError) as raised:
        AsanaHook().settings
    text = str(raised.value)
    assert f"field port is set ({port!r})" in text and f"set host to {suggested} and clear port" in text


def test_emulator_connection_uri_has_no_port(asana_emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_ASANA_DEFAULT", asana_emulator.connection_uri)
    assert AsanaHook().run("GET", "/users/me")["data"]["gid"]


@pytest.mark.parametrize(
    ("host", "match"),
    [
        ("https://user:secret@asana.test/api/1.0", "must not carry credentials"),
        ("https://asana.test/api/1.0?token=x", "without '\\?' or '#' parts"),
        ("https://asana.test:99999/api/1.0", "invalid port"),
    ],
)
def test_host_with_credentials_query_or_bad_port_is_refused(monkeypatch, host, match):
    set_asana_connection(monkeypatch, host=host)
    with pytest.raises(ValueError, match=match) as raised:
        AsanaHook().settings
    assert "secret" not in str(raised.value)


def test_404_from_a_host_without_api_path_hints_at_it(asana_emulator, monkeypatch):
    host = asana_emulator.api_url.removesuffix("/api/1.0")
    set_asana_connection(monkeypatch, host=host, password=asana_emulator.token, extra={})
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().run("GET", "/users/me")
    text = str(raised.value)
    assert "HTTP 404" in text and f"API base URL is {host}, without Asana's /api/1.0 path" in text


def test_404_from_a_host_with_api_path_has_no_such_hint(asana_conn, rsps):
    rsps.get(f"{EXPORTS}/{EXPORT_GID}", status=404, json={"errors": [{"message": "Unknown object"}]})
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().get_organization_export(EXPORT_GID)
    assert "/api/1.0 path" not in str(raised.value)


# -- bodies and message joins -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "said"),
    [
        (b"null", "Asana said: nothing (a JSON null body)."),
        (b"[]", "Asana said: nothing (a JSON array body)."),
        (b'{"errors": null}', "Asana said: nothing (an error body without messages)."),
        (b"", "Asana said: an empty body (application/json)."),
    ],
)
def test_error_bodies_are_described_as_they_are(asana_conn, rsps, body, said):
    rsps.get(f"{BASE}/users/me", status=400, body=body, content_type="application/json")
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().run("GET", "/users/me")
    assert said in str(raised.value) and "non-JSON" not in str(raised.value)


def _no_double_stops(text: str) -> None:
    assert not re.search(r"\.\s*\.|\?\s*\.|!\s*\.", text.replace("...", "")), text


def test_402_message_has_single_full_stops(asana_emulator, emulator_conn):
    asana_emulator.set_faults(non_enterprise=True)
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().create_organization_export()
    text = str(raised.value)
    assert "HTTP 402" in text and "only available to Enterprise organizations." in text
    _no_double_stops(str(raised.value))


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 429, 451, 500, 418])
@pytest.mark.parametrize("message", ["Premium only.", "Really?", "Stop!", "No period"])
def test_no_advice_join_doubles_a_stop(asana_conn, rsps, sleeps, status, message):
    rsps.get(f"{BASE}/users/me", status=status, json={"errors": [{"message": message, "phrase": "a b c"}]})
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().run("GET", "/users/me")
    _no_double_stops(str(raised.value))


def test_transport_error_text_ends_once(asana_conn, rsps, sleeps):
    rsps.get(f"{BASE}/users/me", body=requests.ConnectionError("connection reset."))
    with pytest.raises(AsanaTransportError) as raised:
        AsanaHook().run("GET", "/users/me")
    _no_double_stops(str(raised.value))


# -- a create call sent but unanswered -----------------------------------------------------------------------


def test_unanswered_create_points_to_the_in_doubt_rule(asana_conn, rsps, sleeps):
    rsps.post(EXPORTS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(AsanaTransportError) as raised:
        AsanaHook().create_organization_export()
    text = str(raised.value)
    assert "may have started an organization export" in text and "it was not repeated" in text
    assert "resubmit_if_in_doubt=True" in text and "retry the task" not in text.lower()
    assert len(rsps.calls) == 1 and TOKEN not in text


def test_unanswered_other_post_stays_generic(asana_conn, rsps, sleeps):
    rsps.post(f"{BASE}/tasks", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(AsanaTransportError) as raised:
        AsanaHook().run("POST", "/tasks", json={"data": {}})
    assert "may have acted on it; it was not repeated." in str(raised.value)
    assert "export" not in str(raised.value)
