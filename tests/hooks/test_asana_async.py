"""The hook's async path against the emulator: same requests, errors and retries as the sync path."""

from __future__ import annotations

import asyncio

import pytest

from airflow_provider_asana.hooks.asana import AsanaAPIError, AsanaHook, AsanaTransportError

from tests.conftest import WORKSPACE, set_asana_connection


@pytest.mark.asyncio
async def test_async_get_matches_sync(asana_emulator, emulator_conn):
    hook = AsanaHook()
    gid = hook.create_organization_export()["gid"]
    try:
        export = await AsanaHook().aget_organization_export(gid)
    finally:
        await hook.aclose()
    assert export["gid"] == gid
    assert export["state"] == "started"
    assert set(export) == {"gid", "resource_type", "created_at", "state", "download_url", "organization"}
    get = [r for r in asana_emulator.requests if r.method == "GET"][-1]
    assert get.authorization
    assert get.user_agent.startswith("airflow-provider-asana/")


@pytest.mark.asyncio
async def test_async_honours_retry_after(asana_emulator, emulator_conn):
    asana_emulator.set_faults(rate_limit=2, rate_limit_methods=("GET",), rate_limit_retry_after=1)
    hook = AsanaHook()
    try:
        me = await hook.arun("GET", "/users/me")
    finally:
        await hook.aclose()
    assert me["data"]["gid"]
    times = [r.time for r in asana_emulator.requests if r.path.endswith("/users/me")]
    assert [r.status for r in asana_emulator.requests] == [429, 429, 200]
    assert times[1] - times[0] >= 0.95
    assert times[2] - times[1] >= 0.95


@pytest.mark.asyncio
async def test_async_error_mapping_is_the_sync_one(asana_emulator, monkeypatch):
    set_asana_connection(
        monkeypatch, host=asana_emulator.api_url, password="wrong-token", extra={"workspace": WORKSPACE}
    )
    hook = AsanaHook()
    with pytest.raises(AsanaAPIError) as async_error:
        await hook.arun("GET", "/users/me")
    await hook.aclose()
    with pytest.raises(AsanaAPIError) as sync_error:
        AsanaHook().run("GET", "/users/me")
    assert str(async_error.value) == str(sync_error.value)
    assert async_error.value.status_code == 401
    assert "wrong-token" not in str(async_error.value)


@pytest.mark.asyncio
async def test_async_post_not_retried_on_read_timeout(asana_emulator, monkeypatch):
    set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password=asana_emulator.token,
        extra={"workspace": asana_emulator.organization_gid, "read_timeout": 0.2, "retry_backoff": 0.01},
    )
    asana_emulator.set_faults(latency=0.5)
    hook = AsanaHook()
    with pytest.raises(AsanaTransportError) as err:
        await hook.arun(
            "POST", "/organization_exports", json={"data": {"organization": asana_emulator.organization_gid}}
        )
    await hook.aclose()
    assert err.value.kind == "timeout"
    await asyncio.sleep(0.6)  # the emulator logs a request once its late answer goes out
    assert len([r for r in asana_emulator.requests if r.method == "POST"]) == 1


@pytest.mark.asyncio
async def test_async_get_retried_on_read_timeout(asana_emulator, monkeypatch):
    set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password=asana_emulator.token,
        extra={"read_timeout": 0.2, "retry_backoff": 0.01, "max_attempts": 3},
    )
    asana_emulator.set_faults(latency=0.5)
    hook = AsanaHook()
    with pytest.raises(AsanaTransportError):
        await hook.arun("GET", "/users/me")
    await hook.aclose()
    await asyncio.sleep(0.6)  # every attempt was sent; the emulator logs each once its late answer goes out
    assert len([r for r in asana_emulator.requests if r.path.endswith("/users/me")]) == 3
