from __future__ import annotations

import json

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.transfers.organization_export_to_object_storage import (
    AsanaOrganizationExportToObjectStorageOperator,
)

from tests.download.support import connect, finished_export, same_bytes


@pytest.fixture
def export(asana_emulator, monkeypatch):
    """An emulator with a finished export, reachable through the connection ``asana_test``."""
    connect(monkeypatch, asana_emulator, "asana_test")
    gid = finished_export(AsanaHook(asana_conn_id="asana_test"), asana_emulator)
    return asana_emulator, gid


def test_execute_lands_the_file_returns_the_result_and_fills_asset_events(export, tmp_path):
    emu, gid = export
    dest = tmp_path / "asana" / "export.json.gz"
    raw, clean = Asset("asana-export-raw", uri=f"file://{dest}"), Asset("asana-export-copy")
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land_export",
        export_gid=gid,
        destination=str(dest),
        asana_conn_id="asana_test",
        outlets=[raw, AssetAlias("asana-exports"), clean],
    )
    context = {"outlet_events": OutletEventAccessors()}  # what the Task SDK puts in the context

    result = op.execute(context)  # type: ignore[arg-type]

    size = dest.stat().st_size
    expected = {
        "uri": str(dest),
        "bytes": size,
        "sha256": emu.export_sha256(gid),
        "export_gid": gid,
        "created_at": emu.exports[gid]["created_at"],
        "organization_gid": emu.organization_gid,
    }
    assert result == expected
    assert same_bytes(dest, emu.export_file(gid))
    first = min(emu.requests, key=lambda r: r.time)  # the export's identity, asked before downloading
    assert (first.host, first.query.get("opt_fields")) == ("api", ["created_at,organization"])
    expected_extra = expected
    assert context["outlet_events"][raw].extra == expected_extra
    assert context["outlet_events"][clean].extra == expected_extra
    assert len(context["outlet_events"]) == 2  # the alias got no event
    assert "X-Amz" not in json.dumps(result)


class AssetLookups:
    """Answers the task's asset look-ups as the supervisor does (an ``Asset.ref`` is resolved by name or URI)."""

    def __init__(self, *assets: Asset) -> None:
        self.assets = assets
        self.asked: list = []

    def send(self, msg):
        from airflow.sdk.execution_time.comms import AssetResult, GetAssetByName, GetAssetByUri

        if not isinstance(msg, (GetAssetByName, GetAssetByUri)):
            return None  # e.g. MaskSecret, which the hook sends for the token
        self.asked.append(msg)
        for asset in self.assets:
            if getattr(msg, "name", None) == asset.name or getattr(msg, "uri", None) == asset.uri:
                return AssetResult(name=asset.name, uri=asset.uri, group=asset.group, extra={})
        raise AssertionError(f"no asset answers {msg!r}")


def test_asset_references_get_the_same_event_extra_as_assets(export, tmp_path, monkeypatch):
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.context import _AssetRefResolutionMixin

    emu, gid = export
    dest = tmp_path / "export.json.gz"
    by_name, by_uri, plain = (
        Asset("asana-by-name"),
        Asset("asana-by-uri", uri="x-asana://by-uri"),
        Asset("asana-plain"),
    )
    lookups = AssetLookups(by_name, by_uri)
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", lookups, raising=False)
    monkeypatch.setattr(_AssetRefResolutionMixin, "_asset_ref_cache", {})
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land_export",
        export_gid=gid,
        destination=str(dest),
        asana_conn_id="asana_test",
        outlets=[Asset.ref(name="asana-by-name"), Asset.ref(uri="x-asana://by-uri"), plain],
    )
    context = {"outlet_events": OutletEventAccessors()}

    result = op.execute(context)  # type: ignore[arg-type]

    expected_extra = result
    assert len(lookups.asked) == 2  # both references were resolved
    for asset in (by_name, by_uri, plain):
        assert context["outlet_events"][asset].extra == expected_extra
    assert len(context["outlet_events"]) == 3


def test_execute_without_outlets_and_options_passed_through(export, tmp_path):
    emu, gid = export
    dest = tmp_path / "export.json.gz"
    dest.write_bytes(b"previous")
    emu.set_faults(truncate_gzip=True)
    context = {"outlet_events": OutletEventAccessors()}

    refuse = AsanaOrganizationExportToObjectStorageOperator(
        task_id="t1", export_gid=gid, destination=str(dest), asana_conn_id="asana_test"
    )
    with pytest.raises(AsanaDownloadError, match="overwrite=True"):
        refuse.execute(context)  # type: ignore[arg-type]

    unchecked = AsanaOrganizationExportToObjectStorageOperator(
        task_id="t2",
        export_gid=gid,
        destination=str(dest),
        asana_conn_id="asana_test",
        overwrite=True,
        verify_gzip=False,
    )
    result = unchecked.execute(context)  # type: ignore[arg-type]
    assert same_bytes(dest, emu.export_file(gid))  # the truncated file, unverified, as asked
    assert result["bytes"] == dest.stat().st_size
    assert len(context["outlet_events"]) == 0


def test_init_is_cheap_and_fields_are_templated():
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="t", export_gid="{{ ti.xcom_pull('create') }}", destination="s3://aws@b/{{ ds }}/x.json.gz",
        asana_conn_id="no_such_connection",
    )  # fmt: skip
    assert op.template_fields == ("export_gid", "destination", "asana_conn_id", "overwrite", "verify_gzip")
    assert (op.overwrite, op.verify_gzip) == (False, True)
    with pytest.raises(TypeError):
        AsanaOrganizationExportToObjectStorageOperator("t", "1", "/tmp/x.json.gz")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("rendered", "lands"), [("false", True), ("False", True), ("true", False), ("True", False)]
)
def test_rendered_verify_gzip_text_is_a_bool(export, tmp_path, rendered, lands):
    """``verify_gzip="{{ params.verify_gzip }}"`` renders to text: 'false' must not be truthy."""
    emu, gid = export
    emu.set_faults(truncate_gzip=True)
    dest = tmp_path / "export.json.gz"
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="t", export_gid=gid, destination=str(dest), asana_conn_id="asana_test", verify_gzip=rendered
    )
    if lands:
        op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
        assert same_bytes(dest, emu.export_file(gid))
    else:
        with pytest.raises(AsanaDownloadError, match="not a valid gzip"):
            op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
        assert not dest.exists()


def test_bad_verify_gzip_text_refused(export, tmp_path):
    op = AsanaOrganizationExportToObjectStorageOperator(
        task_id="t", export_gid=export[1], destination=str(tmp_path / "x.gz"), asana_conn_id="asana_test",
        verify_gzip="yes please",
    )  # fmt: skip
    with pytest.raises(ValueError, match="verify_gzip must be True or False.*'yes please'"):
        op.execute({"outlet_events": OutletEventAccessors()})  # type: ignore[arg-type]
