from __future__ import annotations

import time

import pytest

from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException, TaskDeferralTimeout
from airflow.sdk.exceptions import TaskDeferred
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
    set_asana_connection(monkeypatch, host=emulator.api_url, password=emulator.token,
                         extra={"workspace": emulator.organization_gid})
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
        with pytest.raises(AsanaExportFailedError, match=rf"export {gid} of organization {asana_emulator.organization_gid}"):
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
        assert kwargs["export_gid"] == gid and kwargs["asana_conn_id"] == "asana_default"
        assert before + 600 <= kwargs["end_time"] <= time.time() + 600
        assert asana_emulator.token not in repr(kwargs)
        assert len([r for r in asana_emulator.requests if r.method == "GET"]) == 1

    def test_already_finished_returns_without_deferring(self, asana_emulator_factory, monkeypatch):
        emulator = asana_emulator_factory(polls_to_finish=1)
        set_asana_connection(monkeypatch, host=emulator.api_url, password=emulator.token,
                             extra={"workspace": emulator.organization_gid})
        gid = _create()
        assert _sensor(gid, deferrable=True).execute({}) == gid

    def test_error_at_first_poke_fails(self, asana_emulator_factory, monkeypatch):
        emulator = asana_emulator_factory(polls_to_finish=1)
        emulator.set_faults(export_state="error")
        set_asana_connection(monkeypatch, host=emulator.api_url, password=emulator.token,
                             extra={"workspace": emulator.organization_gid})
        with pytest.raises(AsanaExportFailedError):
            _sensor(_create(), deferrable=True, soft_fail=True).execute({})

    def test_success_event(self):
        assert _resume(_sensor("123", deferrable=True), {"status": "success", "export_gid": "123", "message": "ok"}) == "123"

    def test_error_event_fails_even_with_soft_fail(self):
        with pytest.raises(AsanaExportFailedError, match="ended in state 'error'"):
            _resume(_sensor("123", deferrable=True, soft_fail=True),
                    {"status": "error", "export_gid": "123", "message": "export 123 ended in state 'error'"})

    def test_timeout_event(self):
        with pytest.raises(AirflowSensorTimeout, match="still 'started'"):
            _resume(_sensor("123", deferrable=True), {"status": "timeout", "export_gid": "123", "message": "still 'started'"})

    def test_timeout_event_with_soft_fail_skips(self):
        with pytest.raises(AirflowSkipException):
            _resume(_sensor("123", deferrable=True, soft_fail=True), {"status": "timeout", "export_gid": "123", "message": "x"})

    def test_deferral_timeout_with_soft_fail_skips(self):
        sensor = _sensor("123", deferrable=True, soft_fail=True)
        with pytest.raises(AirflowSkipException):
            sensor.resume_execution("__fail__", {"error": "Trigger timeout", "traceback": None}, {})

    @pytest.mark.parametrize("event", [None, {}, {"status": "cancelled"}, "success"])
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
        rsps.get("https://asana.test/api/1.0/organization_exports/123", json={"data": {"gid": "123", "state": "archived"}})
        with pytest.raises(AirflowException, match="export 123 reported an unknown state 'archived'"):
            _sensor("123").poke({})
