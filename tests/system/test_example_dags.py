"""The example Dags parse cleanly, are wired as documented, and do nothing at parse time."""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import (
    DAG_IDS,
    EXAMPLE_DAGS,
    LAKE_DAG_ID,
    ON_DEMAND_DAG_ID,
    REPORT_DAG_ID,
    TABLES_DAG_ID,
)

DAG_FILES = sorted(EXAMPLE_DAGS.glob("*.py"))
ASSET_NAME = "asana_organization_export"


def test_dagbag_has_the_example_dags_and_no_import_errors(system_env):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))

    assert bag.import_errors == {}
    assert bag.captured_warnings == {}
    assert sorted(bag.dag_ids) == sorted(DAG_IDS)
    for dag in bag.dags.values():
        assert dag.doc_md, f"{dag.dag_id} has no doc_md"
        assert dag.doc_md.strip(), f"{dag.dag_id} has no doc_md"
        assert "asana" in dag.tags


def _assert_waits_in_one_task(create) -> None:
    """The one-task form: create starts the export and waits for it on the triggerer."""
    assert create.wait_for_completion is True
    assert create.deferrable is True
    assert create.poll_interval == 1.0  # ASANA_EXAMPLE_POKE_INTERVAL from the system-test environment
    assert create.timeout == timedelta(hours=12).total_seconds()
    assert create.retries >= 1


def test_lake_dag_tasks_and_wiring(example_dags):
    from airflow.sdk import Asset

    from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
    from airflow_provider_asana.transfers.organization_export_to_object_storage import (
        AsanaOrganizationExportToObjectStorageOperator,
    )

    dag = example_dags[LAKE_DAG_ID]
    assert dag.catchup is False
    assert dag.start_date is not None
    assert dag.schedule == "@daily"
    create, land = (dag.get_task(t) for t in ("create", "land"))
    assert {t.task_id for t in dag.tasks} == {"create", "land"}
    assert type(create) is AsanaCreateOrganizationExportOperator
    assert type(land) is AsanaOrganizationExportToObjectStorageOperator
    assert create.downstream_task_ids == {"land"}
    _assert_waits_in_one_task(create)

    # Everything that needs the outside world is a template, rendered at run time.
    assert "var.value.get('asana_organization_gid'" in create.organization_gid
    assert "extra_dejson" in create.organization_gid
    assert "{{ ds }}" in land.destination
    assert "asana_lake_root" in land.destination
    assert land.overwrite is True
    assert land.verify_gzip is True
    assert land.retries >= 1

    assert land.outlets == [Asset(name=ASSET_NAME, uri="x-asana://organization-export")]
    assert create.outlets == []


@pytest.mark.parametrize(
    ("variables", "extra", "expected"),
    [
        ({"asana_organization_gid": "1200000000000777"}, None, "1200000000000777"),  # no connection read
        ({}, {"workspace": "1200000000000001"}, "1200000000000001"),
        ({}, {"extra__asana__workspace": "1200000000000002"}, "1200000000000002"),
        ({"asana_organization_gid": ""}, {"workspace": "1200000000000001"}, "1200000000000001"),
        ({}, {}, ""),  # the create task then fails, saying what to set
    ],
    ids=["variable", "workspace-extra", "legacy-extra", "empty-variable", "nothing"],
)
def test_lake_organization_gid_template(example_dags, variables, extra, expected):
    from types import SimpleNamespace

    lake = example_dags[LAKE_DAG_ID]
    create, land = lake.get_task("create"), lake.get_task("land")

    def get_connection(conn_id):
        assert conn_id == "asana_default"
        if extra is None:
            raise AssertionError("the connection was read although the Variable is set")
        return SimpleNamespace(extra_dejson=extra)

    context = {
        "var": SimpleNamespace(
            value=SimpleNamespace(get=lambda key, default=None: variables.get(key, default))
        ),
        "conn": SimpleNamespace(get=get_connection),
        "ds": "2026-01-15",
    }
    assert create.render_template(create.organization_gid, context) == expected
    destination = land.render_template(land.destination, context)
    assert destination == (
        f"file:///tmp/asana-lake/asana/organization={expected}/date=2026-01-15/organization_export.json.gz"
    )


def test_report_dag_is_scheduled_on_the_lake_asset(example_dags):
    from airflow.sdk import Asset

    lake_asset = example_dags[LAKE_DAG_ID].get_task("land").outlets[0]
    report = example_dags[REPORT_DAG_ID]

    assert isinstance(lake_asset, Asset)
    assert lake_asset.name == ASSET_NAME
    assert report.schedule == [lake_asset]
    assert list(report.timetable.asset_condition.objects) == [lake_asset]
    assert [t.task_id for t in report.tasks] == ["count_records"]
    assert report.get_task("count_records").inlets == [lake_asset]


def test_report_task_reads_the_newest_triggering_event(example_dags, tmp_path):
    """The asset-scheduled path (dag.test() runs are manual, so the end-to-end tests take the other one)."""
    import gzip
    from datetime import datetime, timezone

    from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    landed = tmp_path / "organization_export.json.gz"
    with gzip.open(landed, "wt") as f:
        f.write('{"__type": "Task", "__object_id": 1}\n{"__type": "Story", "__object_id": 2}\n\n')
        f.write('{"__type": "Task", "__object_id": 3}\n')

    def event(uri: str, hour: int) -> AssetEventDagRunReferenceResult:
        return AssetEventDagRunReferenceResult(
            asset=AssetReferenceAssetEventDagRun(
                name=ASSET_NAME, uri="x-asana://organization-export", extra={}
            ),
            extra={"export_gid": "1", "bytes": 1, "sha256": "0" * 64, "uri": uri},
            source_task_id="land",
            source_dag_id=LAKE_DAG_ID,
            source_run_id=f"scheduled__{hour}",
            source_map_index=-1,
            source_aliases=[],
            timestamp=datetime(2026, 1, 15, hour, tzinfo=timezone.utc),
        )

    triggering = TriggeringAssetEventsAccessor.build(
        [event(landed.as_uri(), 12), event((tmp_path / "older.json.gz").as_uri(), 11)]
    )

    class NoInletLookup:
        def __getitem__(self, key):
            raise AssertionError("a scheduled run must not look the newest event up")

    task = example_dags[REPORT_DAG_ID].get_task("count_records")
    result = task.python_callable(triggering_asset_events=triggering, inlet_events=NoInletLookup())

    assert result == {"uri": landed.as_uri(), "records": 3, "by_type": {"Story": 1, "Task": 2}}


def test_tables_dag_is_scheduled_on_the_lake_asset_and_loads_one_export_at_a_time(example_dags):
    from airflow.sdk import AssetAlias

    from airflow_provider_asana.transfers.organization_export_to_delta_tables import (
        AsanaOrganizationExportToDeltaTablesOperator,
    )

    lake_asset = example_dags[LAKE_DAG_ID].get_task("land").outlets[0]
    dag = example_dags[TABLES_DAG_ID]

    assert dag.schedule == [lake_asset]
    assert dag.max_active_runs == 1  # two loads must not run on one tables root at once
    landed, load = dag.get_task("landed"), dag.get_task("load_tables")
    assert {t.task_id for t in dag.tasks} == {"landed", "load_tables"}
    assert landed.downstream_task_ids == {"load_tables"}
    assert landed.inlets == [lake_asset]
    assert landed.multiple_outputs is True
    assert type(load) is AsanaOrganizationExportToDeltaTablesOperator
    assert load.outlets == [AssetAlias(name="asana_organization_tables")]
    assert "asana_lake_root" in load.tables_root
    assert "key='organization_gid'" in load.tables_root
    assert load.retries >= 1


def _landing_events(tmp_path, **extra):
    from datetime import datetime, timezone

    from airflow.sdk.api.datamodels._generated import AssetReferenceAssetEventDagRun
    from airflow.sdk.execution_time.comms import AssetEventDagRunReferenceResult
    from airflow.sdk.execution_time.context import TriggeringAssetEventsAccessor

    def event(uri: str, hour: int) -> AssetEventDagRunReferenceResult:
        return AssetEventDagRunReferenceResult(
            asset=AssetReferenceAssetEventDagRun(
                name=ASSET_NAME, uri="x-asana://organization-export", extra={}
            ),
            extra={"uri": uri, **extra},
            source_task_id="land",
            source_dag_id=LAKE_DAG_ID,
            source_run_id=f"scheduled__{hour}",
            source_map_index=-1,
            source_aliases=[],
            timestamp=datetime(2026, 1, 15, hour, tzinfo=timezone.utc),
        )

    return TriggeringAssetEventsAccessor.build(
        [event((tmp_path / "older.json.gz").as_uri(), 11), event((tmp_path / "newest.json.gz").as_uri(), 12)]
    )


def test_tables_dag_takes_the_newest_landing_and_refuses_one_without_what_it_needs(example_dags, tmp_path):
    task = example_dags[TABLES_DAG_ID].get_task("landed")
    identity = {"export_gid": "1200000000000123", "created_at": "2026-01-15T06:00:00.000Z"}

    complete = _landing_events(tmp_path, **identity, organization_gid="1200000000000001")
    assert task.python_callable(triggering_asset_events=complete) == {
        "uri": (tmp_path / "newest.json.gz").as_uri(),
        **identity,
        "organization_gid": "1200000000000001",
    }
    older_provider = _landing_events(tmp_path, **identity)
    with pytest.raises(RuntimeError, match="has no organization_gid in its extra"):
        task.python_callable(triggering_asset_events=older_provider)


def test_on_demand_dag_params_and_tasks(example_dags):
    from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
    from airflow_provider_asana.transfers.organization_export_to_object_storage import (
        AsanaOrganizationExportToObjectStorageOperator,
    )

    dag = example_dags[ON_DEMAND_DAG_ID]
    assert dag.schedule is None
    params = dag.params
    assert set(params.keys()) == {"organization_gid", "destination", "verify_gzip"}

    gid = params.get_param("organization_gid")
    assert gid.schema["type"] == "string"
    assert gid.schema["pattern"] == "^[0-9]+$"
    assert gid.schema.get("title")
    assert gid.description
    destination = params.get_param("destination")
    assert destination.schema["type"] == "string"
    assert destination.schema["minLength"] == 1
    assert destination.value.startswith("file://")
    assert "s3://" in destination.description
    verify = params.get_param("verify_gzip")
    assert verify.schema["type"] == "boolean"
    assert verify.value is True

    create, land = (dag.get_task(t) for t in ("create", "land"))
    assert {t.task_id for t in dag.tasks} == {"create", "land"}
    assert type(create) is AsanaCreateOrganizationExportOperator
    _assert_waits_in_one_task(create)
    assert isinstance(land, AsanaOrganizationExportToObjectStorageOperator)
    assert create.organization_gid == "{{ params.organization_gid }}"
    assert "params.destination" in land.destination
    assert "xcom_pull(task_ids='create')" in land.destination
    assert land.overwrite is False  # one file per export gid: nothing to overwrite
    assert land.outlets == []  # on-demand exports do not feed the lake's report
    assert create.downstream_task_ids == {"land"}


# -- parse-time purity ---------------------------------------------------------------------------------

_counter = itertools.count()
_MODULE_SUFFIXES = (".py", ".pyc", ".so", ".pth", ".pyi")
_WATCHED_EVENTS = ("socket.connect", "socket.getaddrinfo", "subprocess.Popen", "os.system", "urllib.Request")
_audit_sink: list[tuple[str, tuple]] | None = None


def _audit(event: str, args: tuple) -> None:
    sink = _audit_sink
    if sink is None:
        return
    if event in _WATCHED_EVENTS:
        sink.append((event, args))
    elif event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        path = str(args[0])
        if not path.endswith(_MODULE_SUFFIXES) and "__pycache__" not in path and not Path(path).is_dir():
            sink.append((event, args[:2]))


_audit_installed = False


@contextlib.contextmanager
def _recording_io() -> Iterator[list[tuple[str, tuple]]]:
    """Record sockets, subprocesses and non-module file opens made inside the block (audit hooks)."""
    global _audit_sink, _audit_installed
    if not _audit_installed:
        sys.addaudithook(_audit)  # cannot be removed; inert while _audit_sink is None
        _audit_installed = True
    sink: list[tuple[str, tuple]] = []
    _audit_sink = sink
    try:
        yield sink
    finally:
        _audit_sink = None


def _import_dag_file(path: Path) -> Any:
    """Execute a Dag file as a fresh module, as the Dag processor does."""
    name = f"example_dag_purity_{next(_counter)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every Airflow connection and Variable lookup fail loudly, and record it."""
    from airflow.sdk.bases.hook import BaseHook
    from airflow.sdk.definitions.connection import Connection
    from airflow.sdk.definitions.variable import Variable
    from airflow.sdk.execution_time import context as execution_context

    calls: list[str] = []

    def refuse(what: str):
        def lookup(*args, **kwargs):
            calls.append(f"{what}{args!r}")
            raise AssertionError(f"{what} called at parse time with {args!r}")

        return lookup

    for owner, name in ((Connection, "get"), (Variable, "get"), (BaseHook, "get_connection")):
        what = f"{owner.__name__}.{name}"
        monkeypatch.setattr(owner, name, classmethod(lambda cls, *a, _what=what, **k: refuse(_what)(*a, **k)))
    monkeypatch.setattr(execution_context, "_get_connection", refuse("_get_connection"))
    monkeypatch.setattr(execution_context, "_get_variable", refuse("_get_variable"))
    return calls


def test_io_recorder_sees_file_and_socket_io(tmp_path, asana_emulator):
    import socket
    from urllib.parse import urlsplit

    (tmp_path / "data.txt").write_text("x")
    api = urlsplit(asana_emulator.api_url)
    with _recording_io() as io_calls:
        (tmp_path / "data.txt").read_text()
        with socket.create_connection((api.hostname, api.port), timeout=5):
            pass
    events = [event for event, _ in io_calls]
    assert "open" in events
    assert "socket.connect" in events


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parsing_does_no_io_and_no_lookups(path, system_env, asana_emulator, monkeypatch, lookups):
    # Import what the Dag file imports first: the provider's own import cost is not the Dag's.
    import airflow.sdk  # noqa: F401

    import airflow_provider_asana.operators.organization_export
    import airflow_provider_asana.sensors.organization_export
    import airflow_provider_asana.transfers.organization_export_to_delta_tables
    import airflow_provider_asana.transfers.organization_export_to_object_storage  # noqa: F401

    # A working connection to the emulator: any HTTP call at parse time would show in its request log.
    monkeypatch.setenv("AIRFLOW_CONN_ASANA_DEFAULT", asana_emulator.connection_json)
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_LAKE_ROOT", "file:///nonexistent/lake")
    with _recording_io() as io_calls:
        module = _import_dag_file(path)

    assert io_calls == []
    assert lookups == []
    assert asana_emulator.requests == []
    assert any(k for k, v in vars(module).items() if type(v).__name__ == "DAG")


@pytest.mark.parametrize("path", DAG_FILES, ids=[p.name for p in DAG_FILES])
def test_parsing_survives_a_broken_connection_and_variables(path, system_env, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("AIRFLOW_CONN_ASANA_DEFAULT", "{not a connection")
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_LAKE_ROOT", "{{ broken")
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_ORGANIZATION_GID", "not-a-gid")

    bag = DagBag(dag_folder=str(path))

    assert bag.import_errors == {}
    assert bag.dag_ids


def test_poll_interval_defaults_to_asanas_few_minutes(monkeypatch):
    monkeypatch.delenv("ASANA_EXAMPLE_POKE_INTERVAL", raising=False)
    for path in DAG_FILES:
        module = _import_dag_file(path)
        assert module.POLL_INTERVAL == 120.0, path.name
