"""Secrets on the wire: the token as sent (stripped, never echoed), netrc, proxies, clear-text downloads."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os

import pytest
import requests
import responses

from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.hooks.asana import AsanaAPIError, AsanaHook
from tests.conftest import TOKEN, WORKSPACE, set_asana_connection

BASE = "https://asana.test/api/1.0"
ME = {"data": {"gid": "1", "name": "Export Bot", "workspaces": [{"gid": WORKSPACE, "name": "Acme"}]}}
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")

pytestmark = pytest.mark.usefixtures("restore_secrets_masker")


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No proxy variables, and a HOME without a .netrc: each test sets what it needs."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("NETRC", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def write_netrc(home, host: str) -> None:
    netrc = home / ".netrc"
    netrc.write_text(f"machine {host}\n  login netrc-user\n  password netrc-password\n")
    os.chmod(netrc, 0o600)


def connect(monkeypatch, password: str, host: str = BASE, **extra) -> None:
    extra = {"workspace": WORKSPACE, "retry_backoff": 0.001, **extra}
    set_asana_connection(monkeypatch, host=host, password=password, extra=extra)


# -- the token as typed: stripped, or refused without being echoed -----------------------------------------


@pytest.mark.parametrize("typed", [f"{TOKEN}\n", f"{TOKEN}\r\n", f"  {TOKEN}\t", f"\n{TOKEN}\u2028"])
def test_surrounding_whitespace_is_stripped_sync(clean_env, monkeypatch, rsps, typed):
    connect(monkeypatch, typed)
    rsps.get(f"{BASE}/users/me", json=ME)
    AsanaHook().run("GET", "/users/me")
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.asyncio
async def test_surrounding_whitespace_is_stripped_async(asana_emulator, monkeypatch):
    connect(monkeypatch, f"{asana_emulator.token}\r\n", host=asana_emulator.api_url)
    hook = AsanaHook()
    try:
        me = await hook.arun("GET", "/users/me")  # the emulator answers 401 to any other token
    finally:
        await hook.aclose()
    assert me["data"]["gid"]


BAD_INSIDE = {
    "newline": "\n",
    "carriage return": "\r",
    "nul": "\x00",
    "tab": "\t",
    "space": " ",
    "del": "\x7f",
    "line separator": "\u2028",
    "no-break space": "\xa0",
    "non-ascii": "é",
}


def _assert_names_the_field_not_the_token(text: str, token: str) -> None:
    assert "'asana_default'" in text and "field password" in text and "Paste the token again" in text
    for part in token.split("/") + token.split("\x00") + [token[:8], token[-8:]]:
        if len(part) >= 4:
            assert part not in text


@pytest.mark.parametrize("char", BAD_INSIDE.values(), ids=BAD_INSIDE.keys())
def test_character_inside_the_token_is_refused_without_echo_sync(clean_env, monkeypatch, rsps, caplog, char):
    token = TOKEN[:10] + char + TOKEN[10:]
    connect(monkeypatch, token)
    with pytest.raises(ValueError) as raised:
        AsanaHook().run("GET", "/users/me")
    _assert_names_the_field_not_the_token(str(raised.value), token)
    assert not rsps.calls
    assert TOKEN[10:] not in caplog.text


@pytest.mark.asyncio
@pytest.mark.parametrize("char", ["\n", "\x00", "\u2028"])
async def test_character_inside_the_token_is_refused_without_echo_async(asana_emulator, monkeypatch, char):
    token = asana_emulator.token[:6] + char + asana_emulator.token[6:]
    connect(monkeypatch, token, host=asana_emulator.api_url)
    hook = AsanaHook()
    with pytest.raises(ValueError) as raised:
        await hook.arun("GET", "/users/me")
    await hook.aclose()
    _assert_names_the_field_not_the_token(str(raised.value), token)
    assert asana_emulator.token[6:] not in str(raised.value)
    assert not asana_emulator.requests


def test_test_connection_text_never_holds_the_token(clean_env, monkeypatch, rsps):
    connect(monkeypatch, TOKEN[:10] + "\n" + TOKEN[10:])
    ok, message = AsanaHook().test_connection()
    assert not ok and "field password" in message
    assert TOKEN[:10] not in message and TOKEN[10:] not in message

    connect(monkeypatch, TOKEN + "\n")
    rsps.get(f"{BASE}/users/me", json=ME)
    ok, message = AsanaHook().test_connection()
    assert ok and TOKEN not in message


def test_sent_and_stored_forms_are_both_masked(clean_env, monkeypatch):
    from airflow.sdk.log import redact

    connect(monkeypatch, f"{TOKEN}\r\n")
    AsanaHook().settings
    # What requests or httpx would print: the stripped token, or the stored one as a repr.
    line = f"header Bearer {TOKEN} and {TOKEN}\r\n"
    assert TOKEN not in redact(line)


def test_refused_token_is_masked_too(clean_env, monkeypatch, mocker):
    mask = mocker.patch("airflow.sdk.log.mask_secret")
    token = TOKEN + "\x00\n"
    connect(monkeypatch, token)
    with pytest.raises(ValueError):
        AsanaHook().settings
    masked = [c.args[0] for c in mask.call_args_list]
    assert token in masked and TOKEN + "\x00" in masked


@pytest.mark.asyncio
async def test_async_lookup_masks_the_sent_form(asana_emulator, monkeypatch, mocker):
    amask = mocker.patch("airflow.sdk.log.amask_secret")
    connect(monkeypatch, f" {asana_emulator.token}\n", host=asana_emulator.api_url)
    await AsanaHook().aget_settings()
    masked = [c.args[0] for c in amask.call_args_list]
    assert asana_emulator.token in masked and f" {asana_emulator.token}\n" in masked


# -- ~/.netrc never replaces the token; proxy variables still apply ----------------------------------------


def test_netrc_entry_for_the_api_host_does_not_replace_the_token(clean_env, monkeypatch, rsps):
    write_netrc(clean_env, "asana.test")
    assert requests.utils.get_netrc_auth(f"{BASE}/users/me") == ("netrc-user", "netrc-password")
    connect(monkeypatch, TOKEN)
    rsps.get(f"{BASE}/users/me", json=ME)
    AsanaHook().run("GET", "/users/me")
    assert rsps.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["sync", "async"])
async def test_netrc_entry_for_the_emulator_does_not_replace_the_token(
    asana_emulator, clean_env, monkeypatch, path
):
    write_netrc(clean_env, "127.0.0.1")
    connect(monkeypatch, asana_emulator.token, host=asana_emulator.api_url)
    hook = AsanaHook()
    try:
        me = hook.run("GET", "/users/me") if path == "sync" else await hook.arun("GET", "/users/me")
    finally:
        await hook.aclose()
    assert me["data"]["gid"]  # Basic netrc-user:netrc-password would get a 401
    assert [r.status for r in asana_emulator.requests] == [200]


def test_proxy_and_ca_bundle_variables_still_apply(clean_env, monkeypatch, rsps, tmp_path):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "corporate-ca.pem"))
    write_netrc(clean_env, "asana.test")
    connect(monkeypatch, TOKEN)
    rsps.get(f"{BASE}/users/me", json=ME)
    AsanaHook().run("GET", "/users/me")
    sent = rsps.calls[0].request.req_kwargs
    assert sent["proxies"].get("https") == "http://proxy.test:3128"
    assert sent["verify"] == str(tmp_path / "corporate-ca.pem")

    monkeypatch.setenv("NO_PROXY", "asana.test")
    AsanaHook().run("GET", "/users/me")
    assert "https" not in rsps.calls[1].request.req_kwargs["proxies"]


@pytest.mark.asyncio
@pytest.mark.parametrize("path", ["sync", "async"])
async def test_requests_go_through_the_environments_proxy(asana_emulator, clean_env, monkeypatch, path):
    """The emulator stands in for the proxy: a plain-http proxy gets the absolute URL, which it serves."""
    monkeypatch.setenv("HTTP_PROXY", asana_emulator.api_url.removesuffix("/api/1.0"))
    connect(monkeypatch, asana_emulator.token, host="http://behind-proxy.invalid/api/1.0", max_attempts=1)
    hook = AsanaHook()
    try:
        me = hook.run("GET", "/users/me") if path == "sync" else await hook.arun("GET", "/users/me")
    finally:
        await hook.aclose()
    assert me["data"]["gid"]
    assert [(r.path, r.status) for r in asana_emulator.requests] == [("/api/1.0/users/me", 200)]


# -- a download URL in clear text is refused -----------------------------------------------------------------


EXPORT_GID = "1300000000000001"
SIGNATURE = "f00dfeedsignature42"


def _finished(download_url: str) -> dict:
    return {"data": {"gid": EXPORT_GID, "state": "finished", "download_url": download_url,
                     "organization": {"gid": WORKSPACE, "name": "Acme"}}}


@pytest.mark.parametrize("api", [BASE, "http://asana.test/api/1.0", "http://10.0.0.5/api/1.0"])
def test_plain_http_download_url_is_refused(clean_env, monkeypatch, rsps, tmp_path, caplog, api):
    caplog.set_level(logging.DEBUG)
    url = f"http://s3.test/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
    connect(monkeypatch, TOKEN, host=api)
    rsps.get(f"{api}/organization_exports/{EXPORT_GID}", json=_finished(url))
    with pytest.raises(AsanaDownloadError) as raised:
        AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))
    text = str(raised.value)
    assert "not https" in text and "'http'" in text and "s3.test" in text
    assert SIGNATURE not in text and "/exports/" not in text and SIGNATURE not in caplog.text
    assert [c.request.url.split("?")[0] for c in rsps.calls] == [f"{api}/organization_exports/{EXPORT_GID}"]
    assert os.listdir(tmp_path) == ["home"]


def test_https_download_url_is_fetched(clean_env, monkeypatch, rsps, tmp_path):
    body = gzip.compress(b'{"__type": "Domain"}\n')
    url = f"https://s3.test/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
    connect(monkeypatch, TOKEN)
    rsps.get(f"{BASE}/organization_exports/{EXPORT_GID}", json=_finished(url))
    rsps.get(url, body=body, headers={"Content-Length": str(len(body))})
    result = AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))
    assert result["sha256"] == hashlib.sha256(body).hexdigest()


def test_plain_http_download_url_is_fetched_from_a_loopback_emulator(asana_emulator, monkeypatch, tmp_path):
    connect(monkeypatch, asana_emulator.token, host=asana_emulator.api_url)
    hook = AsanaHook()
    gid = hook.create_organization_export()["gid"]
    while hook.get_organization_export(gid)["state"] != "finished":
        pass
    assert hook.get_organization_export(gid)["download_url"].startswith("http://127.0.0.1:")
    result = hook.download_organization_export(gid, str(tmp_path / "export.json.gz"))
    assert result["bytes"] == asana_emulator.export_file(gid).stat().st_size


def test_bad_token_answer_is_an_api_error_without_the_token(clean_env, monkeypatch, rsps):
    connect(monkeypatch, f"{TOKEN}\n")
    rsps.get(f"{BASE}/users/me", status=401, json={"errors": [{"message": "Not Authorized"}]})
    with pytest.raises(AsanaAPIError) as raised:
        AsanaHook().run("GET", "/users/me")
    assert TOKEN not in str(raised.value) and json.dumps(TOKEN) not in repr(raised.value)
