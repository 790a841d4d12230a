from __future__ import annotations

from types import SimpleNamespace

import pytest
import requests
import responses
from airflow.sdk.exceptions import AirflowFailException
from structlog.testing import capture_logs

from airflow_provider_asana.exceptions import AsanaAPIError
from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator

from tests.conftest import WORKSPACE, set_asana_connection

KEY = AsanaCreateOrganizationExportOperator.external_id_key
EXPORTS_URL = "https://asana.test/api/1.0/organization_exports"


class TaskStateStore:
    """Stands in for the Task SDK's per-task-instance store, which outlives a try (and a clear)."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def set(self, key: str, value) -> None:
        if value is None:
            raise ValueError("Cannot set value as None")
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def _posts(emulator) -> int:
    return sum(
        1 for r in emulator.requests if r.method == "POST" and r.path.endswith("/organization_exports")
    )


def _operator(**kwargs) -> AsanaCreateOrganizationExportOperator:
    kwargs.setdefault("retries", 2)
    return AsanaCreateOrganizationExportOperator(task_id="create", **kwargs)


def _context(store: TaskStateStore | None, try_number: int = 1, max_tries: int = 2) -> dict:
    """A try's context: the store, and the try number and max_tries the Task SDK's ``ti`` carries."""
    context: dict = {"ti": SimpleNamespace(try_number=try_number, max_tries=max_tries, stats_tags={})}
    if store is not None:
        context["task_state_store"] = store
    return context


def test_templated_fields():
    assert set(AsanaCreateOrganizationExportOperator.template_fields) == {"organization_gid", "asana_conn_id"}


def test_submits_and_returns_gid(asana_emulator, emulator_conn):
    store = TaskStateStore()
    gid = _operator().execute(_context(store))
    assert gid.isdigit()
    assert gid in asana_emulator.exports
    assert _posts(asana_emulator) == 1
    assert store.get(KEY) == gid  # the gid replaced the in-doubt marker


def test_explicit_organization(asana_emulator, emulator_conn):
    with pytest.raises(AsanaAPIError, match="HTTP 402.*Enterprise"):
        _operator(organization_gid=asana_emulator.non_enterprise_organization_gid).execute({})


def test_retry_reattaches_to_the_running_export(asana_emulator, emulator_conn):
    # The re-attaching try returns what poll_until_complete returns (ResumableJobMixin.execute_resumable,
    # although the mixin declares None): it must be the gid, the XCom downstream tasks read.
    store = TaskStateStore()
    first = _operator().execute(_context(store))
    retry = _operator().execute(_context(store, try_number=2))
    assert retry == first
    assert retry in asana_emulator.exports
    assert _posts(asana_emulator) == 1


def test_retry_reuses_a_finished_export(asana_emulator_factory, monkeypatch):
    emulator = asana_emulator_factory(polls_to_finish=1)
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid},
    )
    store = TaskStateStore()
    first = _operator().execute(_context(store))
    assert _operator().execute(_context(store, try_number=2)) == first
    assert _posts(emulator) == 1


def test_retry_after_failed_export_starts_a_new_one(asana_emulator_factory, monkeypatch):
    emulator = asana_emulator_factory(polls_to_finish=1)
    emulator.set_faults(export_state="error")
    set_asana_connection(
        monkeypatch,
        host=emulator.api_url,
        password=emulator.token,
        extra={"workspace": emulator.organization_gid},
    )
    store = TaskStateStore()
    first = _operator().execute(_context(store))
    second = _operator().execute(_context(store, try_number=2))
    assert second != first
    assert _posts(emulator) == 2
    assert store.get(KEY) == second


def test_retry_with_unknown_export_starts_a_new_one(asana_emulator, emulator_conn):
    store = TaskStateStore()
    store.set(KEY, "1399999999999999")
    gid = _operator().execute(_context(store, try_number=2))
    assert gid != "1399999999999999"
    assert _posts(asana_emulator) == 1


def test_not_durable_submits_every_try(asana_emulator, emulator_conn):
    store = TaskStateStore()
    _operator(durable=False).execute(_context(store))
    _operator(durable=False).execute(_context(store, try_number=2))
    assert _posts(asana_emulator) == 2


# -- never two exports where one was asked ----------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_error_on_create_fails_at_once_and_leaves_the_marker(asana_emulator, emulator_conn, status):
    asana_emulator.set_faults(server_error=1, server_error_status=status, server_error_methods=("POST",))
    store = TaskStateStore()
    with pytest.raises(AirflowFailException) as failed:
        _operator().execute(_context(store))
    message = str(failed.value)
    assert "Try 1 of this task asked Asana to start an organization export at " in message
    assert f"HTTP {status}" in message  # what happened, from the hook
    assert "no endpoint lists exports" in message
    assert "clear this task" in message
    assert "resubmit_if_in_doubt=True" in message
    assert isinstance(failed.value.__cause__, AsanaAPIError)
    assert _posts(asana_emulator) == 1
    marker = store.get(KEY)
    assert marker["try_number"] == 1
    assert marker["in_doubt_since"]
    assert f"HTTP {status}" in marker["error"]


@pytest.mark.parametrize(
    "no_answer",
    [
        requests.exceptions.ReadTimeout("Read timed out."),
        requests.exceptions.ConnectionError("Connection aborted."),
    ],
    ids=["read-timeout", "dropped-after-sending"],
)
def test_no_answer_to_create_fails_at_once_and_the_retry_does_not_post(asana_conn, no_answer):
    store = TaskStateStore()
    with responses.RequestsMock() as rsps:
        rsps.post(EXPORTS_URL, body=no_answer)
        with pytest.raises(AirflowFailException, match="may have started one"):
            _operator().execute(_context(store))
        assert len(rsps.calls) == 1  # not repeated inside the try
        with pytest.raises(AirflowFailException, match="Try 1 of this task asked Asana") as retry:
            _operator().execute(_context(store, try_number=2))
        assert len(rsps.calls) == 1  # the retry asked Asana nothing at all
    assert type(no_answer).__name__ in str(retry.value)


def test_marker_is_stored_before_the_request_is_sent(asana_conn):
    """A worker killed mid-request leaves the marker, so its retry does not ask again."""
    store = TaskStateStore()
    seen: list = []

    def create(request):
        seen.append(store.get(KEY))
        if len(seen) == 1:
            raise KeyboardInterrupt  # the try dies with the request in flight: nothing runs after this
        return 201, {}, '{"data": {"gid": "1300000000000002", "state": "pending"}}'

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, EXPORTS_URL, callback=create)
        with pytest.raises(KeyboardInterrupt):
            _operator().execute(_context(store))
        assert seen
        assert seen[0]["try_number"] == 1
        with pytest.raises(AirflowFailException, match="Try 1 of this task"):
            _operator().execute(_context(store, try_number=2))
        assert len(rsps.calls) == 1


def test_resubmit_if_in_doubt_posts_once_more_and_warns(asana_emulator, emulator_conn):
    asana_emulator.set_faults(server_error=1, server_error_status=502, server_error_methods=("POST",))
    store = TaskStateStore()
    with pytest.raises(AsanaAPIError, match="HTTP 502"):  # the hook's error: Airflow retries the task
        _operator(resubmit_if_in_doubt=True).execute(_context(store))
    since = store.get(KEY)["in_doubt_since"]
    with capture_logs() as logs:
        gid = _operator(resubmit_if_in_doubt=True).execute(_context(store, try_number=2))
    assert _posts(asana_emulator) == 2
    assert store.get(KEY) == gid
    warnings = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert any(
        f"Try 1 asked Asana for an export at {since}" in w and "resubmit_if_in_doubt" in w for w in warnings
    )


def test_cleared_task_starts_fresh(asana_conn):
    """Clearing keeps the task state store but raises max_tries: the marker of an earlier clear is ignored."""
    store = TaskStateStore()
    with responses.RequestsMock() as rsps:
        rsps.post(EXPORTS_URL, body=requests.exceptions.ReadTimeout("Read timed out."))
        rsps.post(EXPORTS_URL, json={"data": {"gid": "1300000000000007", "state": "pending"}}, status=201)
        with pytest.raises(AirflowFailException):
            _operator().execute(_context(store, try_number=1, max_tries=2))
        # Cleared after try 1: max_tries = 1 + retries; the next try is 2, the first since the clear.
        gid = _operator().execute(_context(store, try_number=2, max_tries=3))
        assert len(rsps.calls) == 2
    assert gid == "1300000000000007"
    assert store.get(KEY) == gid


def test_retry_of_a_cleared_run_still_refuses(asana_conn):
    """A marker left by a try after the clear is not stale."""
    store = TaskStateStore()
    with responses.RequestsMock() as rsps:
        rsps.post(EXPORTS_URL, body=requests.exceptions.ReadTimeout("Read timed out."))
        with pytest.raises(AirflowFailException):
            _operator().execute(_context(store, try_number=4, max_tries=5))  # first try after a clear at 3
        with pytest.raises(AirflowFailException, match="Try 4 of this task"):
            _operator().execute(_context(store, try_number=5, max_tries=5))
        assert len(rsps.calls) == 1


@pytest.mark.parametrize(
    ("faults", "error"),
    [
        ({"rate_limit": 10, "rate_limit_retry_after": 0}, "HTTP 429"),
        ({"server_error": 10, "server_error_status": 503}, "HTTP 503"),
        ({"non_enterprise": True}, "HTTP 402"),
        ({"forbidden": True}, "HTTP 403"),
    ],
    ids=["429-past-retries", "503-past-retries", "402", "403"],
)
def test_refused_create_leaves_no_marker(asana_emulator, monkeypatch, faults, error):
    set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password=asana_emulator.token,
        extra={"workspace": asana_emulator.organization_gid, "retry_backoff": 0.001, "max_attempts": 2},
    )
    asana_emulator.set_faults(**faults)
    store = TaskStateStore()
    with pytest.raises(AsanaAPIError, match=error) as failed:
        _operator().execute(_context(store))
    assert not isinstance(failed.value, AirflowFailException)  # retries may help; no export can exist
    assert KEY not in store.values
    asana_emulator.clear_faults()
    _operator().execute(_context(store, try_number=2))  # the retry starts the export
    assert isinstance(store.get(KEY), str)


@pytest.mark.parametrize(("status", "in_doubt"), [(408, True), (409, False), (400, False), (501, True)])
def test_which_statuses_leave_the_export_in_doubt(asana_conn, status, in_doubt):
    store = TaskStateStore()
    with responses.RequestsMock() as rsps:
        rsps.post(EXPORTS_URL, status=status, json={"errors": [{"message": "no"}]})
        with pytest.raises((AsanaAPIError, AirflowFailException), match=f"HTTP {status}") as failed:
            _operator().execute(_context(store))
        assert len(rsps.calls) == 1
    assert isinstance(failed.value, AirflowFailException) is in_doubt
    assert (KEY in store.values) is in_doubt


def test_unknown_organization_leaves_no_marker(asana_emulator, emulator_conn):
    store = TaskStateStore()
    with pytest.raises(AsanaAPIError, match="HTTP 404"):
        _operator(organization_gid="1299999999999999").execute(_context(store))
    assert KEY not in store.values


def test_bad_token_leaves_no_marker(asana_emulator, monkeypatch):
    set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password="0/wrong",
        extra={"workspace": asana_emulator.organization_gid},
    )
    store = TaskStateStore()
    with pytest.raises(AsanaAPIError, match="HTTP 401"):
        _operator().execute(_context(store))
    assert KEY not in store.values


def test_connect_error_leaves_no_marker(monkeypatch):
    set_asana_connection(
        monkeypatch,
        host="http://127.0.0.1:9/api/1.0",
        extra={"workspace": WORKSPACE, "retry_backoff": 0.001, "max_attempts": 2},
    )
    store = TaskStateStore()
    with pytest.raises(AsanaAPIError, match="could not connect"):
        _operator().execute(_context(store))
    assert KEY not in store.values


@pytest.mark.parametrize("organization_gid", ["not-a-gid", None])
def test_error_before_any_request_leaves_no_marker(monkeypatch, organization_gid):
    set_asana_connection(monkeypatch, host="https://asana.test/api/1.0", extra={})  # no workspace extra
    store = TaskStateStore()
    with responses.RequestsMock() as rsps, pytest.raises(ValueError, match="organization_gid"):
        _operator(organization_gid=organization_gid).execute(_context(store))
    assert not rsps.calls
    assert KEY not in store.values


def test_refused_resubmit_puts_the_earlier_marker_back(asana_emulator, emulator_conn):
    store = TaskStateStore()
    earlier = {"in_doubt_since": "2026-01-01T00:00:00+00:00", "try_number": 1, "error": "HTTP 504"}
    store.set(KEY, earlier)
    asana_emulator.set_faults(non_enterprise=True)
    with pytest.raises(AsanaAPIError, match="HTTP 402"):
        _operator(resubmit_if_in_doubt=True).execute(_context(store, try_number=2))
    assert store.get(KEY) == earlier


def test_not_durable_lets_airflow_retry_an_ambiguous_create(asana_emulator, emulator_conn):
    asana_emulator.set_faults(server_error=1, server_error_status=502, server_error_methods=("POST",))
    store = TaskStateStore()
    with pytest.raises(AsanaAPIError, match="HTTP 502") as failed:
        _operator(durable=False).execute(_context(store))
    assert not isinstance(failed.value, AirflowFailException)
    assert not store.values


def test_without_a_task_state_store_an_ambiguous_create_still_fails_at_once(asana_emulator, emulator_conn):
    asana_emulator.set_faults(server_error=1, server_error_status=502, server_error_methods=("POST",))
    with pytest.raises(AirflowFailException, match="may have started one"):
        _operator().execute(_context(None))


# -- re-attach reads the state with care -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"gid": "1300000000000001"}, "was returned without a state"),
        ({"gid": "1300000000000001", "state": "archived"}, "reported an unknown state 'archived'"),
    ],
    ids=["missing", "unknown"],
)
def test_reattach_to_an_export_in_an_unknown_state_fails_clearly(asana_conn, data, said):
    store = TaskStateStore()
    store.set(KEY, "1300000000000001")
    with responses.RequestsMock() as rsps:
        rsps.get(f"{EXPORTS_URL}/1300000000000001", json={"data": data})
        with pytest.raises(AsanaAPIError, match=said) as failed:
            _operator().execute(_context(store, try_number=2))
        assert [c.request.method for c in rsps.calls] == ["GET"]  # no second export
    assert "neither re-attaches to it nor starts another" in str(failed.value)
    assert store.get(KEY) == "1300000000000001"
