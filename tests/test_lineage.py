"""
OpenLineage: what each operator reports, through the OpenLineage provider's own extraction (the
``ExtractorManager`` its listener calls), serialized as a transport sends it; and a provider that works
without OpenLineage installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import warnings
from types import SimpleNamespace

import pytest
from airflow.sdk.execution_time.context import OutletEventAccessors
from airflow.utils.state import TaskInstanceState
from deltalake import DeltaTable
from openlineage.client.serde import Serde

from airflow_provider_asana.download.naming import storage_naming, storage_uri
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.lineage import organization_naming
from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
from airflow_provider_asana.transfers.organization_export_to_delta_tables import (
    AsanaOrganizationExportToDeltaTablesOperator,
)
from airflow_provider_asana.transfers.organization_export_to_object_storage import (
    AsanaOrganizationExportToObjectStorageOperator,
)
from airflow_provider_asana.transfers.resource_export_to_delta_tables import (
    AsanaResourceExportToDeltaTablesOperator,
)

from tests.download.support import connect, finished_export, moto_server, s3_bucket
from tests.tables.helpers import write_lines
from tests.tables.resource_lines import line, message, task

LINES = [
    '{"__object_id": 1, "__type": "Team", "name": "Platform"}',
    '{"__object_id": 2, "__type": "Task", "name": "Ship it", "completed": "2026-02-27 10:00:00"}',
    '{"__object_id": 3, "__type": "Task", "name": "Write docs", "completed": null, "tags": {"a": 1}}',
]


@pytest.mark.parametrize(
    ("uri", "account", "expected"),
    [
        ("s3://aws_default@bucket/asana/export.json.gz", None, ("s3://bucket", "asana/export.json.gz")),
        ("s3://bucket/asana/export.json.gz", None, ("s3://bucket", "asana/export.json.gz")),
        ("gs://google_cloud_default@bkt/a/b.gz", None, ("gs://bkt", "a/b.gz")),
        ("gcs://bkt/a/b.gz", None, ("gs://bkt", "a/b.gz")),
        ("abfs://wasb_default@box/a/b.gz", "acct", ("abfss://box@acct.dfs.core.windows.net", "a/b.gz")),
        ("abfs://wasb_default@box/a/b.gz", None, ("abfss://box", "a/b.gz")),
        ("abfss://box@acct.dfs.core.windows.net/a/b.gz", None, ("abfss://box@acct.dfs.core.windows.net", "a/b.gz")),
        ("wasbs://box@acct.blob.core.windows.net/a/b.gz", None, ("wasbs://box@acct.blob.core.windows.net", "a/b.gz")),
        ("file:///data/asana/export.json.gz", None, ("file", "/data/asana/export.json.gz")),
        ("/data/asana/../asana/export.json.gz", None, ("file", "/data/asana/export.json.gz")),
        ("file:///data/my%20lake/task", None, ("file", "/data/my lake/task")),
    ],
)  # fmt: skip
def test_storage_naming_follows_openlineage_without_the_connection_id(uri, account, expected):
    assert storage_naming(uri, azure_account=account) == expected


def test_storage_uri_joins_namespace_and_name():
    assert storage_uri("s3://aws_default@bucket/k/x.gz") == "s3://bucket/k/x.gz"
    assert storage_uri("/data/x.gz") == "file:///data/x.gz"


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://app.asana.com/api/1.0", "asana://app.asana.com"),
        ("https://APP.asana.com/api/1.0", "asana://app.asana.com"),
        ("http://127.0.0.1:8123/api/1.0", "asana://127.0.0.1:8123"),
    ],
)
def test_organization_naming_is_the_api_host(base_url, namespace):
    assert organization_naming(base_url, "1201") == (namespace, "organization/1201")


def extract(task, state=TaskInstanceState.SUCCESS):
    """What the OpenLineage listener gets for ``task`` after it ran: the provider's ExtractorManager."""
    from airflow.providers.openlineage.extractors.manager import ExtractorManager

    return ExtractorManager().extract_metadata(
        dagrun=SimpleNamespace(run_id="test_run"),
        task=task,
        task_instance_state=state,
        task_instance=SimpleNamespace(task=task, try_number=1, map_index=-1),
    )


def sent(dataset) -> dict:
    """A dataset as a transport serializes it (JSON)."""
    return json.loads(Serde.to_json(dataset))


def extract_in_fork(task) -> dict[str, list[dict]]:
    """
    :func:`extract`, as the OpenLineage listener runs it: in a child forked from the process that ran the
    task (``[openlineage] execute_in_thread`` off, the default). Returns the datasets as sent.
    """
    read, write = os.pipe()
    with warnings.catch_warnings():  # 3.12+ warns that forking a process with threads may deadlock
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            lineage = extract(task)
            payload: dict = {"inputs": [sent(d) for d in lineage.inputs]}
            payload["outputs"] = [sent(d) for d in lineage.outputs]
        except BaseException as e:  # e.g. a Rust panic, which is no Exception
            payload = {"error": repr(e)}
        finally:
            with os.fdopen(write, "w") as out:
                json.dump(payload, out)
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as answer:
        payload = json.load(answer)
    os.waitpid(pid, 0)
    assert "error" not in payload, payload
    return payload


@pytest.fixture
def export(asana_emulator, monkeypatch):
    connect(monkeypatch, asana_emulator, "asana_test")
    return asana_emulator, finished_export(AsanaHook(asana_conn_id="asana_test"), asana_emulator)


def test_create_operator_reports_the_organization_as_its_input(asana_emulator, monkeypatch):
    connect(monkeypatch, asana_emulator, "asana_test")
    op = AsanaCreateOrganizationExportOperator(task_id="create", asana_conn_id="asana_test")

    lineage = extract(op, TaskInstanceState.RUNNING)

    host = asana_emulator.api_url.split("//", 1)[1].split("/", 1)[0]
    assert [(d.namespace, d.name) for d in lineage.inputs] == [
        (f"asana://{host}", f"organization/{asana_emulator.organization_gid}")
    ]
    assert lineage.outputs == []
    explicit = AsanaCreateOrganizationExportOperator(
        task_id="create2", asana_conn_id="asana_test", organization_gid="1299"
    )
    assert [d.name for d in extract(explicit).inputs] == ["organization/1299"]


def test_transfer_reports_the_organization_and_the_landed_file_with_size_and_checksum(export, tmp_path):
    emu, gid = export
    dest = tmp_path / "asana" / "export.json.gz"
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land", export_gid=gid, destination=str(dest), asana_conn_id="asana_test"
    )
    op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]

    lineage = extract_in_fork(op)

    assert [(d["namespace"], d["name"]) for d in lineage["inputs"]] == [
        (organization_naming(emu.api_url, emu.organization_gid))
    ]
    (wire,) = lineage["outputs"]
    assert (wire["namespace"], wire["name"]) == ("file", str(dest))
    assert wire["facets"]["version"]["datasetVersion"] == hashlib.sha256(dest.read_bytes()).hexdigest()
    statistics = wire["outputFacets"]["outputStatistics"]
    assert (statistics["size"], statistics["fileCount"]) == (dest.stat().st_size, 1)


def test_transfer_that_landed_nothing_reports_nothing_of_its_own(export, tmp_path):
    emu, gid = export
    dest = tmp_path / "export.json.gz"
    dest.write_bytes(b"there already")
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land", export_gid=gid, destination=str(dest), asana_conn_id="asana_test"
    )
    with pytest.raises(Exception, match="already exists"):
        op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]

    lineage = op.get_openlineage_facets_on_complete(None)

    assert (lineage.inputs, lineage.outputs) == ([], [])


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


def test_transfer_to_s3_names_the_bucket_not_the_connection(export, moto_endpoint, monkeypatch):
    from airflow.sdk import lineage as hook_lineage

    emu, gid = export
    s3_bucket(monkeypatch, moto_endpoint)
    collector = hook_lineage.HookLineageCollector()  # as when a hook lineage reader (OpenLineage) is there
    monkeypatch.setattr(hook_lineage, "get_hook_lineage_collector", lambda: collector)
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land",
        export_gid=gid,
        destination="s3://aws_test@bucket/asana/export.json.gz",
        asana_conn_id="asana_test",
    )
    op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]

    (landed,) = extract(op).outputs

    assert (landed.namespace, landed.name) == ("s3://bucket", "asana/export.json.gz")
    assert landed.outputFacets["outputStatistics"].size == emu.export_file(gid).stat().st_size
    hook_outputs = [a.asset.uri for a in collector.collected_assets.outputs]
    assert hook_outputs == ["s3://bucket/asana/export.json.gz"]


def test_tables_operator_reports_the_file_and_each_table_with_schema_and_rows(tmp_path):
    source = write_lines(tmp_path / "organization_export.json.gz", LINES)
    lake = tmp_path / "lake"
    op = AsanaOrganizationExportToDeltaTablesOperator(
        task_id="tables",
        source=str(source),
        tables_root=lake.as_uri(),
        export_gid="1200000000009001",
        export_created_at="2026-03-01T06:00:00Z",
    )
    result = op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]

    lineage = extract_in_fork(op)

    assert [(d["namespace"], d["name"]) for d in lineage["inputs"]] == [("file", str(source))]
    outputs = {d["name"]: d for d in lineage["outputs"]}
    assert set(outputs) == {str(lake / name) for name in result["tables"]}
    assert set(result["tables"]) >= {"task", "team"}
    for name, counts in result["tables"].items():
        wire = outputs[str(lake / name)]
        table = DeltaTable(str(lake / name))
        assert wire["namespace"] == "file"
        assert [f["name"] for f in wire["facets"]["schema"]["fields"]] == table.schema().to_arrow().names
        assert wire["outputFacets"]["outputStatistics"]["rowCount"] == counts["rows"]
        assert counts["rows"] == table.to_pyarrow_table().num_rows
        assert wire["facets"]["version"]["datasetVersion"] == str(table.version())
        assert wire["facets"]["storage"]["storageLayer"] == "delta"
    task_fields = {f["name"]: f for f in outputs[str(lake / "task")]["facets"]["schema"]["fields"]}
    assert task_fields["name"]["type"] == "string"
    assert task_fields["tags"]["type"] == "struct"
    assert [f["name"] for f in task_fields["tags"]["fields"]] == ["a"]


def test_the_provider_imports_and_runs_without_openlineage(export, tmp_path):
    """With openlineage unimportable, the operators import, run, and the OL methods are never needed."""
    emu, gid = export
    dest = tmp_path / "export.json.gz"
    script = textwrap.dedent(
        f"""
        import importlib.metadata, sys
        import importlib_metadata
        for name in ("openlineage", "airflow.providers.openlineage",
                     "airflow.providers.common.compat.openlineage"):
            sys.modules[name] = None  # import fails, as if not installed
        for metadata in (importlib.metadata, importlib_metadata):  # and Airflow finds no such provider
            def distributions(real=metadata.distributions, **kwargs):
                return (d for d in real(**kwargs) if "openlineage" not in (d.metadata["Name"] or "").lower())
            metadata.distributions = distributions
        from airflow.sdk.execution_time.context import OutletEventAccessors
        from airflow_provider_asana.operators.organization_export import (
            AsanaCreateOrganizationExportOperator,
        )
        from airflow_provider_asana.transfers.organization_export_to_delta_tables import (
            AsanaOrganizationExportToDeltaTablesOperator,
        )
        from airflow_provider_asana.transfers.organization_export_to_object_storage import (
            AsanaOrganizationExportToObjectStorageOperator,
        )
        AsanaCreateOrganizationExportOperator(task_id="c", asana_conn_id="asana_test")
        op = AsanaOrganizationExportToObjectStorageOperator(
            task_id="t", export_gid="{gid}", destination={str(dest)!r}, asana_conn_id="asana_test"
        )
        print("RESULT", op.execute({{"outlet_events": OutletEventAccessors()}})["sha256"])
        op = AsanaOrganizationExportToDeltaTablesOperator(
            task_id="l", source={str(dest)!r}, tables_root={str(tmp_path / "lake")!r}
        )
        print("RESULT", sorted(op.execute({{"outlet_events": OutletEventAccessors()}})["tables"]))
        assert not any(m.startswith("openlineage") for m in sys.modules if sys.modules[m] is not None)
        """
    )

    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )

    assert done.returncode == 0, done.stderr[-3000:]
    sha256, tables = [
        line.split(" ", 1)[1] for line in done.stdout.splitlines() if line.startswith("RESULT ")
    ]
    assert sha256 == emu.export_sha256(gid)
    assert "'task'" in tables


def test_resource_tables_operator_reports_its_tables_under_resources(tmp_path):
    source = write_lines(tmp_path / "resources.json.gz", [line(task(1)), line(task(2)), line(message(1))])
    lake = tmp_path / "lake"
    op = AsanaResourceExportToDeltaTablesOperator(
        task_id="resources",
        source=str(source),
        tables_root=lake.as_uri(),
        export_gid="1300000000000001",
        export_created_at="2026-11-29T10:00:00Z",
    )
    op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]

    lineage = extract_in_fork(op)

    outputs = {d["name"]: d for d in lineage["outputs"]}
    assert set(outputs) == {str(lake / "resources" / name) for name in ("task", "message")}
    wire = outputs[str(lake / "resources" / "task")]
    assert wire["outputFacets"]["outputStatistics"]["rowCount"] == 2
    table = DeltaTable(str(lake / "resources" / "task"))
    assert [f["name"] for f in wire["facets"]["schema"]["fields"]] == table.schema().to_arrow().names
