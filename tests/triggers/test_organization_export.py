from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import TYPE_CHECKING

import pytest
import requests

from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger, export_outcome

from tests.conftest import set_asana_connection

if TYPE_CHECKING:
    from airflow.triggers.base import TriggerEvent


def _trigger(
    gid: str, *, poll_interval: float = 0.01, timeout: float = 30.0
) -> AsanaOrganizationExportTrigger:
    return AsanaOrganizationExportTrigger(
        export_gid=gid,
        asana_conn_id="asana_default",
        poll_interval=poll_interval,
        end_time=time.time() + timeout,
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
        {
            "status": "success",
            "export_gid": gid,
            "message": f"Asana organization export {gid} is finished.",
            "status_code": None,
        }
    ]
    polls = [
        r
        for r in asana_emulator.requests
        if r.method == "GET" and r.path.endswith(f"/organization_exports/{gid}")
    ]
    assert len(polls) == 2  # started, then finished (polls_to_finish=2)
    # The trigger never asks for the download URL, so none is minted on its behalf.
    assert all("download_url" not in ",".join(r.query.get("opt_fields", [])) for r in polls)
    assert "download_url" not in json.dumps(events[0].payload)


@pytest.mark.asyncio
async def test_export_error_state_is_a_failed_event_naming_export_and_organization(
    asana_emulator, emulator_conn
):
    asana_emulator.set_faults(export_state="error")
    gid = _create(asana_emulator)
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "failed"
    assert event.payload["status_code"] is None
    assert gid in event.payload["message"]
    assert asana_emulator.organization_gid in event.payload["message"]


@pytest.mark.asyncio
async def test_timeout_when_deadline_passes(asana_emulator_factory, monkeypatch):
    emulator = asana_emulator_factory(polls_to_finish=None, seconds_to_finish=3600)
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid},
    )
    gid = AsanaHook().create_organization_export()["gid"]
    started = time.monotonic()
    (event,) = await _events(_trigger(gid, poll_interval=0.05, timeout=0.3))
    assert event.payload["status"] == "timeout"
    assert event.payload["export_gid"] == gid
    assert time.monotonic() - started < 5


@pytest.mark.asyncio
async def test_rides_out_429_and_5xx_mid_wait(asana_emulator, emulator_conn):
    gid = _create(asana_emulator)
    asana_emulator.set_faults(
        rate_limit=2,
        rate_limit_methods=("GET",),
        rate_limit_retry_after=0.05,
        server_error=1,
        server_error_methods=("GET",),
    )
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "success"
    statuses = [r.status for r in asana_emulator.requests if r.method == "GET"]
    assert statuses.count(429) == 2
    assert statuses.count(500) == 1


@pytest.mark.asyncio
async def test_unknown_export_is_an_error_event(asana_emulator, emulator_conn):
    (event,) = await _events(_trigger("1399999999999999"))
    assert event.payload["status"] == "error"
    assert "HTTP 404" in event.payload["message"]
    assert event.payload["status_code"] == 404


@pytest.mark.asyncio
async def test_failing_to_ask_past_the_retry_budget_is_an_error_event(asana_emulator, monkeypatch):
    set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password=asana_emulator.token,
        extra={"workspace": asana_emulator.organization_gid, "retry_backoff": 0.001, "max_attempts": 2},
    )
    gid = _create(asana_emulator)
    asana_emulator.set_faults(server_error=5, server_error_status=502, server_error_methods=("GET",))
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "error"
    assert event.payload["status_code"] == 502
    assert "HTTP 502" in event.payload["message"]


@pytest.mark.parametrize(
    ("export", "status", "said"),
    [
        ({"state": "pending"}, None, None),
        ({"state": "started"}, None, None),
        ({"state": "finished"}, "success", "export 123 is finished"),
        (
            {"state": "error", "organization": {"gid": "9", "name": "Org"}},
            "failed",
            "of organization 9 (Org)",
        ),
        ({"state": "archived"}, "error", "export 123 reported an unknown state 'archived'"),
        ({}, "error", "export 123 was returned without a state"),
    ],
)
def test_export_outcome(export, status, said):
    outcome = export_outcome("123", {"gid": "123", **export})
    if status is None:
        assert outcome is None
    else:
        assert outcome[0] == status
        assert said in outcome[1]


@pytest.mark.asyncio
async def test_missing_connection_is_an_error_event_not_a_crash(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_ASANA_DEFAULT", raising=False)
    (event,) = await _events(_trigger("123"))
    assert event.payload["status"] == "error"
    assert event.payload["export_gid"] == "123"
    assert "'asana_default'" in event.payload["message"]
    assert "AirflowNotFoundException" in event.payload["message"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "fields",
    [
        {"host": "ftp://asana.test/api/1.0"},
        {"extra": {"max_attempts": "many"}},
        {"extra": {"read_timeout": -1}},
    ],
    ids=["bad-host", "bad-max-attempts", "bad-read-timeout"],
)
async def test_invalid_connection_is_an_error_event_without_the_token(monkeypatch, fields):
    conn = set_asana_connection(monkeypatch, **fields)
    (event,) = await _events(_trigger("123"))
    assert event.payload["status"] == "error"
    assert "Connection 'asana_default'" in event.payload["message"]
    assert "ValueError" in event.payload["message"]
    assert conn["password"] not in json.dumps(event.payload)


@pytest.mark.asyncio
async def test_connection_looked_up_asynchronously(asana_emulator, emulator_conn, mocker):
    sync_lookup = mocker.patch.object(AsanaHook, "get_connection", side_effect=AssertionError("sync lookup"))
    gid = asana_emulator_gid = None
    # Create through the emulator's API directly so the sync path is not used in this test at all.
    response = await asyncio.to_thread(
        requests.post,
        f"{asana_emulator.api_url}/organization_exports",
        json={"data": {"organization": asana_emulator.organization_gid}},
        headers={"Authorization": f"Bearer {asana_emulator.token}"},
        timeout=5,
    )
    gid = response.json()["data"]["gid"]
    (event,) = await _events(_trigger(gid))
    assert event.payload["status"] == "success"
    assert not sync_lookup.called
    assert asana_emulator_gid is None


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


@pytest.mark.asyncio
async def test_without_end_time_it_waits_until_the_task_times_it_out(asana_emulator_factory, monkeypatch):
    """A sensor started from the triggerer has no deadline of its own: Airflow's trigger timeout ends it."""
    emulator = asana_emulator_factory(polls_to_finish=None, seconds_to_finish=3600)
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid},
    )
    gid = AsanaHook().create_organization_export()["gid"]
    trigger = AsanaOrganizationExportTrigger(gid, "asana_default", poll_interval=0.05)
    assert trigger.serialize()[1]["end_time"] is None
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(_events(trigger), timeout=0.5)
    assert sum(r.method == "GET" for r in emulator.requests) >= 3  # it kept polling
