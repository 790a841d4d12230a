from __future__ import annotations

import pytest

from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator


class TaskStateStore:
    """Stands in for the Task SDK's per-task-instance store, which outlives a try."""

    def __init__(self) -> None:
        self.values: dict[str, object] = {}

    def get(self, key: str):
        return self.values.get(key)

    def set(self, key: str, value) -> None:
        self.values[key] = value


def _posts(emulator) -> int:
    return sum(1 for r in emulator.requests if r.method == "POST" and r.path.endswith("/organization_exports"))


def _operator(**kwargs) -> AsanaCreateOrganizationExportOperator:
    return AsanaCreateOrganizationExportOperator(task_id="create", **kwargs)


def test_templated_fields():
    assert set(AsanaCreateOrganizationExportOperator.template_fields) == {"organization_gid", "asana_conn_id"}


def test_submits_and_returns_gid(asana_emulator, emulator_conn):
    gid = _operator().execute({"task_state_store": TaskStateStore()})
    assert gid.isdigit() and gid in asana_emulator.exports
    assert _posts(asana_emulator) == 1


def test_explicit_organization(asana_emulator, emulator_conn):
    _operator(organization_gid=asana_emulator.non_enterprise_organization_gid)
    from airflow_provider_asana.exceptions import AsanaAPIError

    with pytest.raises(AsanaAPIError, match="HTTP 402.*Enterprise"):
        _operator(organization_gid=asana_emulator.non_enterprise_organization_gid).execute({})


def test_retry_reattaches_to_the_running_export(asana_emulator, emulator_conn):
    store = TaskStateStore()
    first = _operator().execute({"task_state_store": store})
    retry = _operator().execute({"task_state_store": store})
    assert retry == first
    assert _posts(asana_emulator) == 1


def test_retry_reuses_a_finished_export(asana_emulator_factory, monkeypatch):
    from tests.conftest import set_asana_connection

    emulator = asana_emulator_factory(polls_to_finish=1)
    set_asana_connection(monkeypatch, host=emulator.api_url, password=emulator.token,
                         extra={"workspace": emulator.organization_gid})
    store = TaskStateStore()
    first = _operator().execute({"task_state_store": store})
    assert _operator().execute({"task_state_store": store}) == first
    assert _posts(emulator) == 1


def test_retry_after_failed_export_starts_a_new_one(asana_emulator_factory, monkeypatch):
    from tests.conftest import set_asana_connection

    emulator = asana_emulator_factory(polls_to_finish=1)
    emulator.set_faults(export_state="error")
    set_asana_connection(monkeypatch, host=emulator.api_url, password=emulator.token,
                         extra={"workspace": emulator.organization_gid})
    store = TaskStateStore()
    first = _operator().execute({"task_state_store": store})
    second = _operator().execute({"task_state_store": store})
    assert second != first and _posts(emulator) == 2
    assert store.get("asana_organization_export_gid") == second


def test_retry_with_unknown_export_starts_a_new_one(asana_emulator, emulator_conn):
    store = TaskStateStore()
    store.set("asana_organization_export_gid", "1399999999999999")
    gid = _operator().execute({"task_state_store": store})
    assert gid != "1399999999999999" and _posts(asana_emulator) == 1


def test_not_durable_submits_every_try(asana_emulator, emulator_conn):
    store = TaskStateStore()
    _operator(durable=False).execute({"task_state_store": store})
    _operator(durable=False).execute({"task_state_store": store})
    assert _posts(asana_emulator) == 2
