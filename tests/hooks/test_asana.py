from __future__ import annotations

import json
import logging

import pytest
import requests
import responses
from responses import matchers

from airflow_provider_asana import __version__
from airflow_provider_asana.hooks.asana import EXPORT_FIELDS, AsanaAPIError, AsanaHook, AsanaTransportError

from tests.conftest import TOKEN, WORKSPACE, set_asana_connection

BASE = "https://asana.test/api/1.0"
EXPORTS = f"{BASE}/organization_exports"
EXPORT = {
    "gid": "1300000000000001",
    "resource_type": "organization_export",
    "created_at": "2026-11-27T10:00:00.000Z",
    "state": "pending",
    "download_url": None,
    "organization": {"gid": WORKSPACE, "resource_type": "workspace", "name": "Acme"},
}


def _error(message: str, phrase: str | None = None) -> dict:
    item = {"message": message, "help": "For more information on API status codes ..."}
    if phrase:
        item["phrase"] = phrase
    return {"errors": [item]}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps(mocker):
    """Tenacity sleeps through time.sleep: record the waits instead of waiting."""
    return mocker.patch("time.sleep")


class TestRequestShape:
    def test_create_posts_organization_and_asks_for_every_field(self, asana_conn, rsps):
        rsps.post(
            EXPORTS,
            status=201,
            json={"data": EXPORT},
            match=[
                matchers.json_params_matcher({"data": {"organization": WORKSPACE}}),
                matchers.query_param_matcher({"opt_fields": ",".join(EXPORT_FIELDS)}),
                matchers.header_matcher({"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"}),
            ],
        )
        export = AsanaHook().create_organization_export()
        assert export == EXPORT
        user_agent = rsps.calls[0].request.headers["User-Agent"]
        assert user_agent.startswith(f"airflow-provider-asana/{__version__} ")

    def test_explicit_organization_overrides_the_connection_workspace(self, asana_conn, rsps):
        rsps.post(
            EXPORTS,
            status=201,
            json={"data": EXPORT},
            match=[matchers.json_params_matcher({"data": {"organization": "777"}})],
        )
        AsanaHook().create_organization_export("777")
        assert len(rsps.calls) == 1

    def test_missing_fields_are_present_as_none(self, asana_conn, rsps):
        rsps.get(
            f"{EXPORTS}/1300000000000001",
            json={"data": {"gid": "1300000000000001", "resource_type": "organization_export"}},
        )
        export = AsanaHook().get_organization_export("1300000000000001")
        assert set(export) == {"gid", "resource_type", "created_at", "state", "download_url", "organization"}
        assert export["state"] is None

    def test_get_with_narrowed_fields_and_pretty(self, asana_conn, rsps):
        rsps.get(
            f"{EXPORTS}/1300000000000001",
            json={"data": {"gid": "1300000000000001", "state": "started"}},
            match=[matchers.query_param_matcher({"opt_fields": "state", "opt_pretty": "true"})],
        )
        export = AsanaHook().get_organization_export(
            "1300000000000001", opt_fields=["state"], opt_pretty=True
        )
        assert export == {"gid": "1300000000000001", "state": "started"}

    def test_generic_run_and_pagination(self, asana_conn, rsps):
        rsps.get(
            f"{BASE}/workspaces",
            match=[matchers.query_param_matcher({"opt_fields": "name,is_organization", "limit": "100"})],
            json={
                "data": [{"gid": "1"}],
                "next_page": {"offset": "tok1", "path": "/workspaces?offset=tok1", "uri": "x"},
            },
        )
        rsps.get(
            f"{BASE}/workspaces",
            match=[
                matchers.query_param_matcher(
                    {"opt_fields": "name,is_organization", "limit": "100", "offset": "tok1"}
                )
            ],
            json={"data": [{"gid": "2"}, {"gid": "3"}], "next_page": None},
        )
        assert [w["gid"] for w in AsanaHook().list_workspaces()] == ["1", "2", "3"]

    @pytest.mark.parametrize("limit", [0, 101, "10", True])
    def test_paginate_refuses_bad_limit(self, asana_conn, rsps, limit):
        with pytest.raises(ValueError, match="limit must be an integer from 1 to 100"):
            list(AsanaHook().paginate("/workspaces", limit=limit))

    def test_one_session_reused_across_calls(self, asana_conn, rsps):
        rsps.get(f"{BASE}/users/me", json={"data": {"gid": "1", "name": "Ann"}})
        hook = AsanaHook()
        hook.run("GET", "/users/me")
        session = hook.session
        hook.run("GET", "/users/me")
        assert hook.session is session
        assert isinstance(session, requests.Session)


class TestInputValidation:
    @pytest.mark.parametrize("gid", ["", "abc", "12a", " 12", None, 1.5, ["1"]])
    def test_bad_export_gid_refused_before_any_request(self, asana_conn, rsps, gid):
        with pytest.raises(ValueError, match=r"export_gid must be an Asana gid") as err:
            AsanaHook().get_organization_export(gid)
        assert repr(gid) in str(err.value)
        assert len(rsps.calls) == 0

    def test_bad_organization_gid_refused(self, asana_conn, rsps):
        with pytest.raises(ValueError, match=r"organization_gid must be an Asana gid.*'acme'"):
            AsanaHook().create_organization_export("acme")
        assert len(rsps.calls) == 0

    def test_no_organization_anywhere(self, monkeypatch, rsps):
        set_asana_connection(monkeypatch, extra={})
        with pytest.raises(ValueError, match=r"organization_gid was not given.*no 'workspace' extra"):
            AsanaHook().create_organization_export()
        assert len(rsps.calls) == 0

    def test_older_prefixed_workspace_extra_is_read(self, monkeypatch):
        set_asana_connection(monkeypatch, extra={"extra__asana__workspace": "4242"})
        assert AsanaHook().settings.workspace == "4242"

    def test_official_provider_connection_works_unchanged(self, monkeypatch):
        # What apache-airflow-providers-asana's form saves: token in password, workspace and project extras.
        set_asana_connection(monkeypatch, extra={"workspace": "4242", "project": "99"})
        settings = AsanaHook().settings
        assert (settings.base_url, settings.workspace) == ("https://app.asana.com/api/1.0", "4242")

    @pytest.mark.parametrize(
        ("fields", "match"),
        [
            ({"host": "asana.test"}, "field host must be an API base URL with its scheme"),
            ({"password": ""}, "has no token"),
            ({"extra": {"read_timeout": "soon"}}, "extra 'read_timeout' must be a number"),
            ({"extra": {"workspace": "acme"}}, "extra 'workspace'.*must be an Asana gid"),
        ],
    )
    def test_bad_connection_fields_named(self, monkeypatch, fields, match):
        set_asana_connection(monkeypatch, **fields)
        with pytest.raises(ValueError, match=match):
            AsanaHook().settings


class TestErrors:
    @pytest.mark.parametrize(
        ("status", "body", "expected"),
        [
            (
                400,
                _error("organization: Not a valid gid"),
                ["HTTP 400", "organization: Not a valid gid", "fix the value"],
            ),
            (401, _error("Not Authorized"), ["HTTP 401", "Not Authorized", "invalid, expired or revoked"]),
            (402, _error("Premium only"), ["HTTP 402", "Enterprise", "service-account"]),
            (403, _error("Forbidden"), ["HTTP 403", "Enterprise", "service-account"]),
            (
                404,
                _error("Unknown object: 1300000000000009"),
                ["HTTP 404", "Unknown object", "list_workspaces()"],
            ),
            (451, _error("Unavailable"), ["HTTP 451", "legal"]),
        ],
    )
    def test_status_mapped_to_explained_error(self, asana_conn, rsps, status, body, expected):
        rsps.get(f"{EXPORTS}/1300000000000009", status=status, json=body)
        with pytest.raises(AsanaAPIError) as err:
            AsanaHook().get_organization_export("1300000000000009")
        text = str(err.value)
        for part in expected:
            assert part in text
        assert "GET /organization_exports/1300000000000009" in text
        assert err.value.status_code == status
        assert err.value.messages == [body["errors"][0]["message"]]
        assert len(rsps.calls) == 1, "4xx other than 429 must not be retried"

    def test_server_error_carries_phrase_to_quote(self, asana_conn, rsps, sleeps):
        rsps.get(f"{EXPORTS}/1", status=500, json=_error("Server Error", phrase="6 sad squid snuggle softly"))
        with pytest.raises(AsanaAPIError) as err:
            AsanaHook().get_organization_export("1")
        assert err.value.phrase == "6 sad squid snuggle softly"
        assert "contact Asana support quoting the phrase '6 sad squid snuggle softly'" in str(err.value)

    def test_html_body_still_readable(self, asana_conn, rsps):
        rsps.post(
            EXPORTS,
            status=502,
            content_type="text/html",
            body="<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>",
        )
        with pytest.raises(AsanaAPIError) as err:
            AsanaHook().create_organization_export()
        text = str(err.value)
        assert "HTTP 502" in text
        assert "non-JSON text/html body" in text
        assert "502 Bad Gateway" in text
        assert "<title>" not in text
        assert err.value.messages == []

    def test_token_never_in_logs_error_text_or_repr(self, asana_conn, rsps, caplog):
        caplog.set_level(logging.DEBUG)
        rsps.get(f"{EXPORTS}/1", status=401, json=_error("Not Authorized"))
        hook = AsanaHook()
        with pytest.raises(AsanaAPIError) as err:
            hook.get_organization_export("1")
        assert TOKEN not in str(err.value)
        assert TOKEN not in repr(err.value)
        assert TOKEN not in caplog.text
        assert TOKEN not in repr(hook.settings)
        assert TOKEN not in repr(hook)

    def test_token_registered_with_secrets_masker(self, asana_conn, mocker):
        mask = mocker.patch("airflow.sdk.log.mask_secret")
        AsanaHook().settings
        assert mocker.call(TOKEN) in mask.call_args_list


class TestRetries:
    def test_retry_after_honoured_on_get(self, asana_conn, rsps, sleeps):
        rsps.get(f"{EXPORTS}/1", status=429, headers={"Retry-After": "7"}, json=_error("Too many requests"))
        rsps.get(f"{EXPORTS}/1", json={"data": EXPORT})
        assert AsanaHook().get_organization_export("1")["gid"] == EXPORT["gid"]
        assert [c.args[0] for c in sleeps.call_args_list] == [7.0]

    def test_retry_after_honoured_on_post(self, asana_conn, rsps, sleeps):
        rsps.post(EXPORTS, status=429, headers={"Retry-After": "3"}, json=_error("Too many requests"))
        rsps.post(EXPORTS, status=201, json={"data": EXPORT})
        AsanaHook().create_organization_export()
        assert [c.args[0] for c in sleeps.call_args_list] == [3.0]
        assert len(rsps.calls) == 2

    @pytest.mark.parametrize("status", [500, 502, 503, 504])
    def test_get_retries_server_errors_with_backoff(self, asana_conn, rsps, sleeps, status):
        rsps.get(f"{EXPORTS}/1", status=status, json=_error("Server Error", phrase="a b c"))
        rsps.get(f"{EXPORTS}/1", json={"data": EXPORT})
        AsanaHook().get_organization_export("1")
        assert len(rsps.calls) == 2
        assert len(sleeps.call_args_list) == 1

    def test_get_retries_read_timeout_and_connect_error(self, asana_conn, rsps, sleeps):
        rsps.get(f"{EXPORTS}/1", body=requests.ReadTimeout("read timed out"))
        rsps.get(f"{EXPORTS}/1", body=requests.ConnectionError("connection reset"))
        rsps.get(f"{EXPORTS}/1", json={"data": EXPORT})
        AsanaHook().get_organization_export("1")
        assert len(rsps.calls) == 3

    @pytest.mark.parametrize("status", [500, 502, 504])
    def test_post_not_retried_when_asana_may_have_acted(self, asana_conn, rsps, sleeps, status):
        rsps.post(EXPORTS, status=status, json=_error("Server Error"))
        with pytest.raises(AsanaAPIError):
            AsanaHook().create_organization_export()
        assert len(rsps.calls) == 1
        assert not sleeps.called

    def test_post_retried_on_503(self, asana_conn, rsps, sleeps):
        rsps.post(EXPORTS, status=503, json=_error("Unavailable"))
        rsps.post(EXPORTS, status=201, json={"data": EXPORT})
        AsanaHook().create_organization_export()
        assert len(rsps.calls) == 2

    def test_post_not_retried_on_read_timeout(self, asana_conn, rsps, sleeps):
        rsps.post(EXPORTS, body=requests.ReadTimeout("read timed out"))
        rsps.post(EXPORTS, status=201, json={"data": EXPORT})
        with pytest.raises(AsanaTransportError) as err:
            AsanaHook().create_organization_export()
        assert err.value.kind == "timeout"
        assert "not repeated" in str(err.value)
        assert len(rsps.calls) == 1
        assert not sleeps.called

    def test_post_retried_on_connect_error(self, monkeypatch, sleeps):
        # A closed port on loopback: the connection is refused before anything is sent.
        set_asana_connection(
            monkeypatch,
            host="http://127.0.0.1:9/api/1.0",
            extra={"workspace": WORKSPACE, "retry_backoff": 0.001, "max_attempts": 3},
        )
        with pytest.raises(AsanaTransportError) as err:
            AsanaHook().create_organization_export()
        assert err.value.kind == "connect"
        assert len(sleeps.call_args_list) == 2

    def test_attempts_bounded(self, asana_conn, rsps, sleeps):
        rsps.get(f"{EXPORTS}/1", status=429, headers={"Retry-After": "1"}, json=_error("Too many requests"))
        with pytest.raises(AsanaAPIError) as err:
            AsanaHook().get_organization_export("1")
        assert err.value.status_code == 429
        assert "max_retry_wait" in str(err.value)
        assert len(rsps.calls) == 4  # the connection's max_attempts

    def test_total_wait_bounded(self, monkeypatch, rsps, sleeps):
        set_asana_connection(monkeypatch, host=BASE, extra={"max_retry_wait": 30})
        rsps.get(f"{EXPORTS}/1", status=429, headers={"Retry-After": "20"}, json=_error("Too many requests"))
        with pytest.raises(AsanaAPIError):
            AsanaHook().get_organization_export("1")
        # 20 s fits in the 30 s budget once; a second 20 s wait would pass it.
        assert [c.args[0] for c in sleeps.call_args_list] == [20.0]


class TestTestConnection:
    ME = {
        "gid": "1",
        "name": "Export Bot",
        "email": "bot@acme.test",
        "workspaces": [{"gid": WORKSPACE, "resource_type": "workspace", "name": "Acme"}],
    }

    def test_success_names_user_and_workspace(self, asana_conn, rsps):
        rsps.get(f"{BASE}/users/me", json={"data": self.ME})
        ok, message = AsanaHook().test_connection()
        assert ok
        assert "Export Bot <bot@acme.test>" in message
        assert f"can see workspace {WORKSPACE} (Acme)" in message

    def test_workspace_not_visible(self, monkeypatch, rsps):
        set_asana_connection(monkeypatch, host=BASE, extra={"workspace": "999"})
        rsps.get(f"{BASE}/users/me", json={"data": self.ME})
        ok, message = AsanaHook().test_connection()
        assert not ok
        assert "cannot see workspace 999" in message

    def test_bad_token(self, asana_conn, rsps):
        rsps.get(f"{BASE}/users/me", status=401, json=_error("Not Authorized"))
        ok, message = AsanaHook().test_connection()
        assert not ok
        assert "HTTP 401" in message
        assert TOKEN not in message


def test_request_json_body_is_exactly_asanas(asana_conn, rsps):
    rsps.post(EXPORTS, status=201, json={"data": EXPORT})
    AsanaHook().create_organization_export("123")
    assert json.loads(rsps.calls[0].request.body) == {"data": {"organization": "123"}}
