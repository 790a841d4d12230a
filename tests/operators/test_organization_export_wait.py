"""Submit and wait in one task (``wait_for_completion=True``), deferrable or polling, as the sensor."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException, TaskDeferralError, TaskDeferred

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaExportFailedError, AsanaExportTimeoutError
from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
from airflow_provider_asana.sensors.organization_export import AsanaOrganizationExportSensor
from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger

from tests.conftest import set_asana_connection
from tests.operators.test_organization_export import KEY, TaskStateStore, _context, _posts


def _operator(**kwargs) -> AsanaCreateOrganizationExportOperator:
    kwargs.setdefault("retries", 2)
    kwargs.setdefault("wait_for_completion", True)
    kwargs.setdefault("poll_interval", 0.01)
    return AsanaCreateOrganizationExportOperator(task_id="create", **kwargs)


def _gets(emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "GET")


def _defer(operator, context) -> AsanaOrganizationExportTrigger:
    with pytest.raises(TaskDeferred) as deferred:
        operator.execute(context)
    assert deferred.value.method_name == "execute_complete"
    trigger = deferred.value.trigger
    assert isinstance(trigger, AsanaOrganizationExportTrigger)
    return trigger


async def _fire(trigger: AsanaOrganizationExportTrigger) -> dict:
    (event,) = [e async for e in trigger.run()]
    return event.payload


def _resume(operator, event, context) -> str:
    """What a worker does once the trigger fired: the task resumes in the method it deferred to."""
    return operator.resume_execution("execute_complete", {"event": event}, context)


def _connect(monkeypatch, emulator) -> None:
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid, "retry_backoff": 0.001, "max_attempts": 2},
    )


@pytest.fixture
def slow_emulator(asana_emulator_factory, monkeypatch):
    """An emulator whose exports stay pending/started for an hour."""
    emulator = asana_emulator_factory(polls_to_finish=None, seconds_to_finish=3600)
    _connect(monkeypatch, emulator)
    return emulator


def test_waiting_is_off_by_default_so_existing_dags_keep_their_sensor(asana_emulator, emulator_conn):
    operator = AsanaCreateOrganizationExportOperator(task_id="create")
    assert operator.wait_for_completion is False
    gid = operator.execute(_context(TaskStateStore()))
    assert gid in asana_emulator.exports
    assert _gets(asana_emulator) == 0  # returned at once, nothing waited


def test_defaults_are_the_sensors():
    operator = AsanaCreateOrganizationExportOperator(task_id="create")
    sensor = AsanaOrganizationExportSensor(task_id="wait", export_gid="1")
    assert operator.poll_interval == sensor.poke_interval == 120
    assert operator.timeout == sensor.timeout == 7 * 24 * 3600


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("poll_interval", 0),
        ("poll_interval", -1),
        ("poll_interval", "120"),
        ("timeout", -1),
        ("timeout", True),
    ],
)
def test_bad_durations_name_the_argument(name, value):
    with pytest.raises(ValueError, match=rf"task_id='create'\): {name} must be seconds") as raised:
        _operator(**{name: value})
    assert "timedelta" in str(raised.value)


def test_durations_may_be_timedeltas():
    operator = _operator(poll_interval=timedelta(minutes=3), timeout=timedelta(hours=12))
    assert (operator.poll_interval, operator.timeout) == (180.0, 43200.0)


# -- deferrable ---------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_submits_defers_at_once_and_resumes_without_posting_again(asana_emulator, emulator_conn):
    store = TaskStateStore()
    operator = _operator(deferrable=True, timeout=600)
    before = time.time()
    trigger = _defer(operator, _context(store))
    _, kwargs = trigger.serialize()
    gid = kwargs["export_gid"]
    assert store.get(KEY) == gid  # stored before deferring: a retry re-attaches
    assert kwargs["asana_conn_id"] == "asana_default"
    assert kwargs["poll_interval"] == 0.01
    assert before + 600 <= kwargs["end_time"] <= time.time() + 600
    assert asana_emulator.token not in repr(kwargs)
    assert (_posts(asana_emulator), _gets(asana_emulator)) == (1, 0)  # deferred without a check

    event = await _fire(trigger)
    resumed = _operator(deferrable=True)  # a worker resumes a fresh instance of the task
    assert _resume(resumed, event, _context(store)) == gid
    assert asana_emulator.exports[gid]["state"] == "finished"
    assert _posts(asana_emulator) == 1


@pytest.mark.asyncio
async def test_failed_export_fails_and_the_retry_starts_a_new_one(asana_emulator, emulator_conn):
    asana_emulator.set_faults(export_state="error")
    store = TaskStateStore()
    first = await _fire(_defer(_operator(deferrable=True), _context(store)))
    with pytest.raises(AsanaExportFailedError, match=rf"export {first['export_gid']} of organization"):
        _resume(_operator(deferrable=True), first, _context(store))

    retry = _defer(_operator(deferrable=True), _context(store, try_number=2))
    assert retry.export_gid != first["export_gid"]
    assert _posts(asana_emulator) == 2


@pytest.mark.asyncio
async def test_failure_to_ask_fails_and_the_retry_reattaches(asana_emulator, monkeypatch):
    _connect(monkeypatch, asana_emulator)
    store = TaskStateStore()
    trigger = _defer(_operator(deferrable=True), _context(store))
    asana_emulator.set_faults(forbidden=True)
    event = await _fire(trigger)
    with pytest.raises(AsanaAPIError, match="HTTP 403") as failed:
        _resume(_operator(deferrable=True), event, _context(store))
    assert type(failed.value) is AsanaAPIError
    assert failed.value.status_code == 403

    asana_emulator.clear_faults()
    retry = _defer(_operator(deferrable=True), _context(store, try_number=2))
    assert retry.export_gid == trigger.export_gid
    assert _posts(asana_emulator) == 1


@pytest.mark.asyncio
async def test_timeout_fails_without_retries_and_a_clear_reattaches(slow_emulator):
    store = TaskStateStore()
    trigger = _defer(_operator(deferrable=True, timeout=0.2), _context(store))
    event = await _fire(trigger)
    assert event["status"] == "timeout"
    with pytest.raises(AsanaExportTimeoutError) as failed:
        _resume(_operator(deferrable=True, timeout=0.2), event, _context(store))
    assert isinstance(failed.value, AirflowFailException)  # Airflow does not retry it
    message = str(failed.value)
    assert f"export {trigger.export_gid} was still 'pending' at the deadline" in message
    assert "timeout=0.2 s" in message
    assert "clear this task to re-attach" in message

    # Cleared after try 1 (max_tries raised): the next try waits on the same export.
    cleared = _defer(_operator(deferrable=True), _context(store, try_number=2, max_tries=3))
    assert cleared.export_gid == trigger.export_gid
    assert _posts(slow_emulator) == 1


def test_crashed_trigger_fails_the_try_and_the_retry_reattaches(asana_emulator, emulator_conn):
    store = TaskStateStore()
    trigger = _defer(_operator(deferrable=True), _context(store))
    with pytest.raises(TaskDeferralError):
        _operator(deferrable=True).resume_execution(
            "__fail__", {"error": "Trigger failure", "traceback": None}, _context(store)
        )
    assert _defer(_operator(deferrable=True), _context(store, try_number=2)).export_gid == trigger.export_gid
    assert _posts(asana_emulator) == 1


def test_retry_after_the_export_finished_returns_it_without_waiting(asana_emulator_factory, monkeypatch):
    emulator = asana_emulator_factory(polls_to_finish=1)
    _connect(monkeypatch, emulator)
    store = TaskStateStore()
    trigger = _defer(_operator(deferrable=True), _context(store))
    assert _operator(deferrable=True).execute(_context(store, try_number=2)) == trigger.export_gid
    assert _posts(emulator) == 1


@pytest.mark.parametrize("event", [None, {}, {"status": "success"}, {"status": "done", "export_gid": "1"}])
def test_invalid_event_refused(event):
    with pytest.raises(
        AirflowException, match="AsanaCreateOrganizationExportOperator resumed with an invalid"
    ):
        _resume(_operator(deferrable=True), event, {})


def test_ambiguous_create_still_fails_at_once_and_never_defers(asana_emulator, emulator_conn):
    asana_emulator.set_faults(server_error=1, server_error_status=502, server_error_methods=("POST",))
    store = TaskStateStore()
    with pytest.raises(AirflowFailException, match="may have started one"):
        _operator(deferrable=True).execute(_context(store))
    with pytest.raises(AirflowFailException, match="Try 1 of this task"):
        _operator(deferrable=True).execute(_context(store, try_number=2))
    assert (_posts(asana_emulator), _gets(asana_emulator)) == (1, 0)


@pytest.mark.asyncio
async def test_not_durable_still_waits(asana_emulator, emulator_conn):
    store = TaskStateStore()
    trigger = _defer(_operator(deferrable=True, durable=False), _context(store))
    assert _resume(_operator(deferrable=True), await _fire(trigger), _context(store)) == trigger.export_gid
    assert not store.values


# -- polling on the worker ----------------------------------------------------------------------------


def test_polls_until_finished(asana_emulator_factory, monkeypatch):
    emulator = asana_emulator_factory(polls_to_finish=3)
    _connect(monkeypatch, emulator)
    store = TaskStateStore()
    gid = _operator(deferrable=False).execute(_context(store))
    assert emulator.exports[gid]["state"] == "finished"
    assert _gets(emulator) == 3
    assert _posts(emulator) == 1
    assert store.get(KEY) == gid


def test_polling_export_in_error_fails(asana_emulator, emulator_conn):
    asana_emulator.set_faults(export_state="error")
    with pytest.raises(AsanaExportFailedError, match="ended in state 'error'"):
        _operator(deferrable=False).execute(_context(TaskStateStore()))


def test_polling_failure_to_ask_fails_and_the_retry_reattaches(asana_emulator, monkeypatch):
    _connect(monkeypatch, asana_emulator)
    store = TaskStateStore()
    asana_emulator.set_faults(server_error=2, server_error_status=502, server_error_methods=("GET",))
    with pytest.raises(AsanaAPIError, match="HTTP 502"):
        _operator(deferrable=False).execute(_context(store))
    gid = _operator(deferrable=False).execute(_context(store, try_number=2))
    assert gid == store.get(KEY)
    assert _posts(asana_emulator) == 1


def test_polling_timeout_fails_without_retries(slow_emulator):
    started = time.monotonic()
    with pytest.raises(AsanaExportTimeoutError, match="still 'pending' at the deadline"):
        _operator(deferrable=False, timeout=0.3, poll_interval=0.05).execute(_context(TaskStateStore()))
    assert 0.3 <= time.monotonic() - started < 5
