from __future__ import annotations

import time

import pytest
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferred,
)

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaExportFailedError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.sensors.organization_export import AsanaOrganizationExportSensor
from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger

from tests.conftest import set_asana_connection


def _sensor(gid: str, **kwargs) -> AsanaOrganizationExportSensor:
    kwargs.setdefault("poke_interval", 0.05)
    return AsanaOrganizationExportSensor(task_id="wait", export_gid=gid, **kwargs)


def _resume(sensor: AsanaOrganizationExportSensor, event) -> str:
    return sensor.resume_execution("execute_complete", {"event": event}, {})


@pytest.fixture
def slow_emulator(asana_emulator_factory, monkeypatch):
    """An emulator whose exports stay pending/started for an hour."""
    emulator = asana_emulator_factory(polls_to_finish=None, seconds_to_finish=3600)
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid},
    )
    return emulator


def _create() -> str:
    return AsanaHook().create_organization_export()["gid"]


def test_default_poke_interval_follows_asanas_advice():
    assert AsanaOrganizationExportSensor(task_id="w", export_gid="1").poke_interval == 120


class TestPokeMode:
    def test_finished_returns_gid(self, asana_emulator, emulator_conn):
        gid = _create()
        assert _sensor(gid).execute({}) == gid

    def test_error_fails_naming_export_and_organization(self, asana_emulator, emulator_conn):
        asana_emulator.set_faults(export_state="error")
        gid = _create()
        with pytest.raises(
            AsanaExportFailedError, match=rf"export {gid} of organization {asana_emulator.organization_gid}"
        ):
            _sensor(gid).execute({})

    def test_timeout(self, slow_emulator):
        with pytest.raises(AirflowSensorTimeout):
            _sensor(_create(), timeout=0.2).execute({})

    def test_timeout_with_soft_fail_skips(self, slow_emulator):
        with pytest.raises(AirflowSkipException):
            _sensor(_create(), timeout=0.2, soft_fail=True).execute({})

    def test_asana_error_not_skipped_by_soft_fail(self, asana_emulator, emulator_conn):
        with pytest.raises(AsanaAPIError, match="HTTP 404"):
            _sensor("1399999999999999", soft_fail=True).execute({})


class TestDeferrableMode:
    def test_pokes_once_then_defers_with_ids_only(self, asana_emulator, emulator_conn):
        gid = _create()
        sensor = _sensor(gid, deferrable=True, timeout=600)
        before = time.time()
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})
        trigger = deferred.value.trigger
        assert isinstance(trigger, AsanaOrganizationExportTrigger)
        assert deferred.value.method_name == "execute_complete"
        _, kwargs = trigger.serialize()
        assert kwargs["export_gid"] == gid
        assert kwargs["asana_conn_id"] == "asana_default"
        assert before + 600 <= kwargs["end_time"] <= time.time() + 600
        assert asana_emulator.token not in repr(kwargs)
        assert len([r for r in asana_emulator.requests if r.method == "GET"]) == 1

    def test_already_finished_returns_without_deferring(self, asana_emulator_factory, monkeypatch):
        emulator = asana_emulator_factory(polls_to_finish=1)
        set_asana_connection(
            monkeypatch,
            host=emulator.api_url,
            password=emulator.token,
            extra={"workspace": emulator.organization_gid},
        )
        gid = _create()
        assert _sensor(gid, deferrable=True).execute({}) == gid

    def test_error_at_first_poke_fails(self, asana_emulator_factory, monkeypatch):
        emulator = asana_emulator_factory(polls_to_finish=1)
        emulator.set_faults(export_state="error")
        set_asana_connection(
            monkeypatch,
            host=emulator.api_url,
            password=emulator.token,
            extra={"workspace": emulator.organization_gid},
        )
        with pytest.raises(AsanaExportFailedError):
            _sensor(_create(), deferrable=True, soft_fail=True).execute({})

    def test_success_event(self):
        assert (
            _resume(
                _sensor("123", deferrable=True), {"status": "success", "export_gid": "123", "message": "ok"}
            )
            == "123"
        )

    def test_failed_event_is_the_exports_own_failure(self):
        with pytest.raises(AsanaExportFailedError, match="ended in state 'error'"):
            _resume(
                _sensor("123", deferrable=True),
                {"status": "failed", "export_gid": "123", "message": "export 123 ended in state 'error'"},
            )

    def test_error_event_is_a_failure_to_ask_with_the_hooks_message_and_status(self):
        with pytest.raises(AsanaAPIError, match="failed with HTTP 401") as failed:
            _resume(
                _sensor("123", deferrable=True),
                {
                    "status": "error",
                    "export_gid": "123",
                    "message": "GET failed with HTTP 401",
                    "status_code": 401,
                },
            )
        assert type(failed.value) is AsanaAPIError
        assert failed.value.status_code == 401

    def test_timeout_event(self):
        with pytest.raises(AirflowSensorTimeout, match="still 'started'"):
            _resume(
                _sensor("123", deferrable=True),
                {"status": "timeout", "export_gid": "123", "message": "still 'started'"},
            )

    def test_timeout_event_with_soft_fail_skips(self):
        with pytest.raises(AirflowSkipException):
            _resume(
                _sensor("123", deferrable=True, soft_fail=True),
                {"status": "timeout", "export_gid": "123", "message": "x"},
            )

    def test_deferral_timeout_with_soft_fail_skips(self):
        sensor = _sensor("123", deferrable=True, soft_fail=True)
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("__fail__", {"error": "Trigger timeout", "traceback": None}, {})

    def test_deferral_timeout_with_never_fail_fails_as_in_poke_mode(self):
        sensor = _sensor("123", deferrable=True, never_fail=True)
        with pytest.raises(AirflowSensorTimeout):
            sensor.resume_execution("__fail__", {"error": "Trigger timeout", "traceback": None}, {})

    @pytest.mark.parametrize(
        ("flags", "expected"),
        [
            ({}, TaskDeferralError),
            ({"soft_fail": True}, TaskDeferralError),
            ({"never_fail": True}, AirflowSkipException),
        ],
    )
    def test_crashed_trigger_is_handled_as_a_failed_poke(self, flags, expected):
        sensor = _sensor("123", deferrable=True, **flags)
        with pytest.raises(expected):
            sensor.resume_execution("__fail__", {"error": "Trigger failure", "traceback": None}, {})

    @pytest.mark.parametrize("event", [None, {}, {"status": "cancelled"}, "success", {"status": "Success"}])
    def test_invalid_event_refused(self, event):
        with pytest.raises(AirflowException, match="invalid trigger event"):
            _resume(_sensor("123", deferrable=True), event)

    @pytest.mark.asyncio
    async def test_trigger_event_resumes_the_sensor(self, asana_emulator, emulator_conn):
        gid = _create()
        sensor = _sensor(gid, deferrable=True)
        with pytest.raises(TaskDeferred) as deferred:
            sensor.execute({})
        events = [e async for e in deferred.value.trigger.run()]
        assert _resume(sensor, events[0].payload) == gid


def test_unknown_state_fails_naming_it(asana_conn):
    import responses

    with responses.RequestsMock() as rsps:
        rsps.get(
            "https://asana.test/api/1.0/organization_exports/123",
            json={"data": {"gid": "123", "state": "archived"}},
        )
        with pytest.raises(AsanaAPIError, match="export 123 reported an unknown state 'archived'"):
            _sensor("123").poke({})


# -- never_fail / soft_fail: deferrable mode does what poke mode does ----------------------------------------
#
# Airflow 3.3's poke mode: an exception from poke() skips under never_fail; soft_fail skips only a timeout
# (AirflowSensorTimeout, AirflowFailException), so a failed export or a failure to ask still fails; the
# sensor's own timeout fails under never_fail. The deferrable first check runs through that same loop; the
# trigger's events are mapped to the same outcomes.

FLAGS = {"default": {}, "soft_fail": {"soft_fail": True}, "never_fail": {"never_fail": True}}
EXPECTED = {
    ("default", "failed"): AsanaExportFailedError,
    ("default", "error"): AsanaAPIError,
    ("default", "timeout"): AirflowSensorTimeout,
    ("soft_fail", "failed"): AsanaExportFailedError,
    ("soft_fail", "error"): AsanaAPIError,
    ("soft_fail", "timeout"): AirflowSkipException,
    ("never_fail", "failed"): AirflowSkipException,
    ("never_fail", "error"): AirflowSkipException,
    ("never_fail", "timeout"): AirflowSensorTimeout,
}
CASES = [
    (mode, flags, situation)
    for mode in ("poke", "first_check", "trigger")
    for flags, situation in EXPECTED
    if not (mode == "first_check" and situation == "timeout")  # a first check never times out
]


def _emulator_for(factory, monkeypatch, mode: str, situation: str):
    """An emulator where the export ends in ``situation`` at the first check (poke modes) or after it (trigger)."""
    first_check_sees_it = mode != "trigger"
    if situation == "timeout":
        emulator = factory(polls_to_finish=None, seconds_to_finish=3600)
    else:
        emulator = factory(polls_to_finish=1 if first_check_sees_it else 2)
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid, "retry_backoff": 0.001, "max_attempts": 2},
    )
    if situation == "failed":
        emulator.set_faults(export_state="error")
    return emulator


@pytest.mark.asyncio
@pytest.mark.parametrize(("mode", "flags", "situation"), CASES, ids=["-".join(c) for c in CASES])
async def test_both_modes_agree(asana_emulator_factory, monkeypatch, mode, flags, situation):
    emulator = _emulator_for(asana_emulator_factory, monkeypatch, mode, situation)
    gid = _create()
    if situation == "error" and mode != "trigger":
        gid = "1399999999999999"  # unknown to Asana: the check itself fails (HTTP 404)
    sensor = _sensor(
        gid, deferrable=mode != "poke", timeout=0.3 if situation == "timeout" else 60, **FLAGS[flags]
    )
    expected = EXPECTED[flags, situation]

    async def check() -> None:
        if mode == "trigger":
            with pytest.raises(TaskDeferred) as deferred:
                sensor.execute({})
            if situation == "error":
                emulator.set_faults(forbidden=True)  # the trigger's check fails (HTTP 403)
            (event,) = [e async for e in deferred.value.trigger.run()]
            assert event.payload["status"] == situation
            _resume(sensor, event.payload)
        else:
            sensor.execute({})

    with pytest.raises(Exception) as raised:  # noqa: PT011 - the exact type is checked below
        await check()
    assert type(raised.value) is expected, f"{mode} {flags} {situation}: {raised.value!r}"


def test_silent_fail_keeps_the_deferrable_first_check_going_as_in_poke_mode(asana_emulator, monkeypatch):
    set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password=asana_emulator.token,
        extra={"workspace": asana_emulator.organization_gid, "retry_backoff": 0.001, "max_attempts": 2},
    )
    gid = _create()
    asana_emulator.set_faults(server_error=4, server_error_status=502, server_error_methods=("GET",))
    # Two checks fail past their retries and are logged; then it defers.
    with pytest.raises(TaskDeferred):
        _sensor(gid, deferrable=True, silent_fail=True).execute({})
    statuses = [r.status for r in asana_emulator.requests if r.method == "GET"]
    assert statuses == [502, 502, 502, 502, 200]
