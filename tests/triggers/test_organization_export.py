from __future__ import annotations

import asyncio
import importlib
import json
import time

import pytest

from airflow.triggers.base import TriggerEvent
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger


def _trigger(gid: str, *, poll_interval: float = 0.01, timeout: float = 30.0) -> AsanaOrganizationExportTrigger:
    return AsanaOrganizationExportTrigger(
        export_gid=gid, asana_conn_id="asana_default", poll_interval=poll_interval, end_time=time.time() + timeout
    )


async def _events(trigger: AsanaOrganizationExportTrigger) -> list[TriggerEvent]:
    return [event async for event in trigger.run()]


def _create(emulator) -> str:
    return AsanaHook().create_organization_export()["gid"]


def test_serialize_round_trip_holds_only_ids_and_times():
    trigger = AsanaOrganizationExportTrigger("1300000000000001", "asana_default", 30, 1_900_000_000.5)
    classpath, kwargs = trigger.serialize()
    assert kwargs == {
        "export_gid": "1300000000000001",
        "asana_conn_id": "asana_default",
        "poll_interval": 30.0,
        "end_time": 1_900_000_000.5,
    }
    module, name = classpath.rsplit(".", 1)
    rebuilt = getattr(importlib.import_module(module), name)(**kwargs)
    assert rebuilt.serialize() == (classpath, kwargs)
    json.dumps(kwargs)
    from airflow.sdk.serde import deserialize, serialize

    assert deserialize(serialize(kwargs)) == kwargs


@pytest.mark.asyncio
async def test_success_after_pending_and_started(asana_emulator, emulator_conn):
    gid = _create(asana_emulator)
    events = await _events(_trigger(gid))
    assert [e.payload for e in events] == [
        {"status": "success", "export_gid": gid, "message": f"Asana organization export {gid} is finished."}
    ]
    polls = [r for r in asana_emulator.requests if r.method == "GET" and r.path.endswith(f"/organization_exports/{gid}")]
    assert len(polls) == 2  # started, then finished (polls_to_finish=2)
    # The trigger never asks for the download URL, so none is minted on its behalf.
    assert all("download_url" not in ",".join(r.query.get("opt_fields", [])) for r in polls)
    assert "download_url" not in json.dumps(events[0].payload)


@pytest.mark.asyncio
async def test_error_state_names_export_and_organization(asana_emulator, emulator_conn):
    asana_emulator.set_faults(export_state="error")
    gid = _create(asana_emulator)
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "error"
    assert gid in event.payload["message"] and asana_emulator.organization_gid in event.payload["message"]


@pytest.mark.asyncio
async def test_timeout_when_deadline_passes(asana_emulator_factory, monkeypatch):
    emulator = asana_emulator_factory(polls_to_finish=None, seconds_to_finish=3600)
    from tests.conftest import set_asana_connection

    set_asana_connection(monkeypatch, host=emulator.api_url, password=emulator.token,
                         extra={"workspace": emulator.organization_gid})
    gid = AsanaHook().create_organization_export()["gid"]
    started = time.monotonic()
    (event,) = await _events(_trigger(gid, poll_interval=0.05, timeout=0.3))
    assert event.payload["status"] == "timeout" and event.payload["export_gid"] == gid
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_rides_out_429_and_5xx_mid_wait(asana_emulator, emulator_conn):
    gid = _create(asana_emulator)
    asana_emulator.set_faults(rate_limit=2, rate_limit_methods=("GET",), rate_limit_retry_after=0.05,
                              server_error=1, server_error_methods=("GET",))
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "success"
    statuses = [r.status for r in asana_emulator.requests if r.method == "GET"]
    assert statuses.count(429) == 2 and statuses.count(500) == 1


@pytest.mark.asyncio
async def test_unknown_export_is_an_error_event(asana_emulator, emulator_conn):
    (event,) = await _events(_trigger("1399999999999999"))
    assert event.payload["status"] == "error" and "HTTP 404" in event.payload["message"]


@pytest.mark.asyncio
async def test_connection_looked_up_asynchronously(asana_emulator, emulator_conn, mocker):
    sync_lookup = mocker.patch.object(AsanaHook, "get_connection", side_effect=AssertionError("sync lookup"))
    gid = asana_emulator_gid = None
    # Create through the emulator's API directly so the sync path is not used in this test at all.
    import requests

    response = requests.post(
        f"{asana_emulator.api_url}/organization_exports",
        json={"data": {"organization": asana_emulator.organization_gid}},
        headers={"Authorization": f"Bearer {asana_emulator.token}"},
        timeout=5,
    )
    gid = response.json()["data"]["gid"]
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "success"
    assert not sync_lookup.called and asana_emulator_gid is None


@pytest.mark.asyncio
async def test_event_loop_stays_responsive_on_a_slow_asana(asana_emulator, emulator_conn):
    gid = _create(asana_emulator)
    warm_up = AsanaHook()  # first-use imports block any loop; they are not what this test is about
    await warm_up.aget_organization_export(gid)
    await warm_up.aclose()
    asana_emulator.set_faults(latency=0.4)
    gaps: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    beat = asyncio.create_task(heartbeat())
    started = time.monotonic()
    (event,) = await _events(_trigger(gid))
    done.set()
    await beat
    assert event.payload["status"] == "success"
    assert time.monotonic() - started >= 0.4  # a poll, 0.4 s slow
    # A sync call would stall the loop for the whole 0.4 s; the margin is for a loaded CI machine.
    assert max(gaps) < 0.2, f"the event loop stalled for {max(gaps):.3f} s"
