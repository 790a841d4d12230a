"""
load_organization_export on a local tables root: round trip, changes against the ground truth, idempotency.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pytest

from airflow_provider_asana.tables import load_organization_export
from airflow_provider_asana.tables.naming import table_for_type

from tests.tables.helpers import UTC, assert_round_trip, rows, table, write_lines
from tests.tables.synthetic import SyntheticOrg

CHUNK = 32 << 10  # small chunks: every big table spans many, so the per-chunk types must combine


def records_by_table(org: SyntheticOrg, k: int) -> dict[str, list[dict]]:
    out = defaultdict(list)
    for line in org.lines(k):
        record = json.loads(line)
        out[table_for_type(record["__type"])].append(record)
    return out


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Three consecutive exports of one organization, loaded in order into one root."""
    base = tmp_path_factory.mktemp("series")
    org = SyntheticOrg(2500, seed=11, inserted=0.02, updated=0.05, deleted=0.02)
    root = base / "lake"
    results = []
    for k in range(3):
        path = org.write(base / f"export-{k}.json.gz", k)
        results.append(load_organization_export(path, root, export_gid=f"gid-{k}", chunk_bytes=CHUNK))
    return org, root, results


def test_every_record_reads_back_equal_to_its_line(series):
    org, root, results = series
    for k, result in enumerate(results):
        expected = records_by_table(org, k)
        assert set(result["tables"]) == set(expected)
        for name, records in expected.items():
            assert result["tables"][name]["rows"] == len(records)
            assert_round_trip(root, name, records, version=result["tables"][name]["version"])


def test_story_types_share_one_table_and_keep_their_type(series):
    org, root, _ = series
    types = {r["__type"] for r in rows(root, "story")}
    assert len(types) > 5
    assert all(t == "Comment" or t.endswith(("Story", "Comment")) for t in types)
    assert not any(p.name.endswith("_comment") or p.name.endswith("_story") for p in root.iterdir())


def test_columns_are_the_kinds_own_fields_plus_the_export_columns(series):
    _, root, _ = series
    names = pa.schema(table(root, "heart").schema().to_arrow()).names
    assert names[-3:] == ["_export_gid", "_export_created_at", "_export_record_hash"]
    assert set(names[:-3]) - {"__trashed_at", "__trashed_by"} == {
        "__object_id",
        "__type",
        "__creation_time",
        "target",
        "domain_user",
    }  # only the kind's own fields, not the union of all kinds
    types = {f.name: f.type for f in pa.schema(table(root, "task").schema().to_arrow())}
    assert types["__creation_time"] == types["completed"] == types["due_date"] == pa.timestamp("us", tz="UTC")
    assert types["items"] == pa.list_(pa.int64())
    assert types["name"] == pa.string()
    assert types["recurrence_type"] == pa.string()  # null in every record: stored as text


def test_changes_equal_the_ground_truth_export_after_export(series):
    org, root, results = series
    changes = defaultdict(dict)
    for name in results[-1]["tables"]:
        for row in rows(root, f"_changes/{name}"):
            changes[(row["_export_gid"], name)][row["__object_id"]] = row
    for k, result in enumerate(results):
        truth = org.changes(k)
        previous = records_by_table(org, k - 1) if k else {}
        current = records_by_table(org, k)
        for name, entry in result["tables"].items():
            got = changes[(f"gid-{k}", name)]
            assert {oid: r["_change_type"] for oid, r in got.items()} == truth.get(name, {}), (k, name)
            kinds = list(truth.get(name, {}).values())
            assert (entry["inserted"], entry["updated"], entry["deleted"]) == tuple(
                kinds.count(c) for c in ("insert", "update", "delete")
            )
            # inserts and updates carry the new record, deletes the last known one
            for oid, row in got.items():
                source = (previous if row["_change_type"] == "delete" else current)[name]
                record = next(r for r in source if r["__object_id"] == oid)
                assert row["__type"] == record["__type"]
                assert row.get("text") == record.get("text")
                assert row["_export_gid"] == f"gid-{k}"
    assert any(result["tables"]["task"]["updated"] for result in results[1:])


def test_a_trashed_object_is_an_update(series):
    org, root, _ = series
    trashed_changes = [
        r for name in ("task", "story") for r in rows(root, f"_changes/{name}")
        if r["__trashed_at"] is not None and r["_export_gid"] != "gid-0"
    ]  # fmt: skip
    assert trashed_changes
    assert {r["_change_type"] for r in trashed_changes} <= {"update", "insert"}


def test_each_export_is_one_version_and_exports_names_them(series):
    _, root, results = series
    exports = sorted(rows(root, "_exports"), key=lambda r: r["loaded_at"])
    assert [e["export_gid"] for e in exports] == ["gid-0", "gid-1", "gid-2"]
    for export, result in zip(exports, results):
        versions = {t["table"]: t["version"] for t in export["tables"]}
        assert versions == {name: t["version"] for name, t in result["tables"].items()}
        assert export["source_sha256"] == result["source_sha256"]
        assert len(export["source_sha256"]) == 64
        assert versions["task"] == int(export["export_gid"][-1])  # one version per export
        task = table(root, "task", versions["task"]).to_pyarrow_table()
        assert set(task.column("_export_gid").to_pylist()) == {export["export_gid"]}


def test_loading_the_same_export_again_returns_the_recorded_result(series):
    _, root, results = series
    before = {name: table(root, name).version() for name in ("task", "_changes/task", "_exports")}

    again = load_organization_export(root.parent / "export-2.json.gz", root, export_gid="gid-2")

    assert again == {**results[2], "already_loaded": True}
    assert {name: table(root, name).version() for name in before} == before


def test_default_export_gid_is_the_files_sha256_and_created_at_its_mtime(tmp_path):
    path = write_lines(tmp_path / "e.json.gz", ['{"__object_id": 1, "__type": "Team", "name": "a"}'])
    result = load_organization_export(path, tmp_path / "lake")
    assert result["export_gid"] == result["source_sha256"]
    stamp = path.stat().st_mtime
    assert (
        abs(
            table(tmp_path / "lake", "team")
            .to_pyarrow_table()
            .column("_export_created_at")[0]
            .as_py()
            .timestamp()
            - stamp
        )
        < 1
    )
    assert load_organization_export(path, tmp_path / "lake")["already_loaded"] is True


def test_explicit_created_at_is_stored_in_utc(tmp_path):
    path = write_lines(tmp_path / "e.json.gz", ['{"__object_id": 1, "__type": "Team", "name": "a"}'])
    result = load_organization_export(
        path, tmp_path / "lake", export_gid="1", export_created_at="2026-03-01T10:00:00+02:00"
    )
    assert result["export_created_at"] == "2026-03-01T08:00:00+00:00"
    value = rows(tmp_path / "lake", "team")[0]["_export_created_at"]
    assert value.astimezone(UTC).isoformat() == "2026-03-01T08:00:00+00:00"


def test_a_kind_that_disappears_gets_an_empty_version_and_deletes(tmp_path):
    lake = tmp_path / "lake"
    first = write_lines(tmp_path / "1.json.gz", [
        '{"__object_id": 1, "__type": "Team", "name": "a"}',
        '{"__object_id": 2, "__type": "Heart", "target": 1}',
    ])  # fmt: skip
    second = write_lines(tmp_path / "2.json.gz", ['{"__object_id": 1, "__type": "Team", "name": "a"}'])
    load_organization_export(first, lake, export_gid="1")

    result = load_organization_export(second, lake, export_gid="2")

    assert result["tables"]["heart"] | {"seconds": None, "drifted_columns": None} == {
        "rows": 0, "inserted": 0, "updated": 0, "deleted": 1, "version": 1, "changes_version": 1,
        "seconds": None, "drifted_columns": None,
    }  # fmt: skip
    assert rows(lake, "heart") == []
    deleted = rows(lake, "_changes/heart")
    assert [
        (r["_change_type"], r["__object_id"], r["_export_gid"], r["target"])
        for r in deleted
        if r["_export_gid"] == "2"
    ] == [("delete", 2, "2", 1)]
    assert result["tables"]["team"]["inserted"] == result["tables"]["team"]["updated"] == 0


def test_a_new_kind_creates_a_new_table(tmp_path):
    lake = tmp_path / "lake"
    load_organization_export(
        write_lines(tmp_path / "1.json.gz", ['{"__object_id": 1, "__type": "Team"}']), lake, export_gid="1"
    )
    result = load_organization_export(
        write_lines(
            tmp_path / "2.json.gz",
            ['{"__object_id": 1, "__type": "Team"}', '{"__object_id": 5, "__type": "PortfolioItem", "x": 1}'],
        ),
        lake,
        export_gid="2",
    )
    assert result["tables"]["portfolio_item"]["inserted"] == 1
    assert rows(lake, "portfolio_item")[0]["x"] == 1


def test_bad_arguments_are_named(tmp_path):
    with pytest.raises(ValueError, match="on_bad_line='skip': use 'fail' or 'quarantine'"):
        load_organization_export(tmp_path / "x.json.gz", tmp_path, on_bad_line="skip")
    with pytest.raises(ValueError, match="export_created_at='yesterday'"):
        load_organization_export(tmp_path / "x.json.gz", tmp_path, export_created_at="yesterday")
    with pytest.raises(Exception, match="no such file"):
        load_organization_export(tmp_path / "missing.json.gz", tmp_path / "lake", export_gid="1")
    with pytest.raises(Exception, match="scheme 'ftp' is not supported"):
        load_organization_export(tmp_path / "missing.json.gz", "ftp://host/x", export_gid="1")


def test_importing_the_package_loads_no_heavy_module():
    import subprocess
    import sys

    code = (
        "import sys, airflow_provider_asana.tables as t; "
        "print(sorted(m for m in ('pyarrow', 'deltalake', 'duckdb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_old_versions_are_vacuumed_after_the_retention_never_the_current_one(tmp_path):
    lake = tmp_path / "lake"
    for k, name in enumerate(("a", "b", "c")):
        path = write_lines(
            tmp_path / f"{k}.json.gz", [f'{{"__object_id": 1, "__type": "Team", "name": "{name}"}}']
        )
        load_organization_export(path, lake, export_gid=str(k), retention_hours=168 if k < 2 else 0)
    files = {p.name for p in (lake / "team").glob("*.parquet")}
    current = {Path(u).name for u in table(lake, "team").file_uris()}
    assert files == current  # retention 0: only the current version's files are left
    assert [r["name"] for r in rows(lake, "team")] == ["c"]
    with pytest.raises(FileNotFoundError):
        table(lake, "team", 0).to_pyarrow_table()  # version 0's files are gone


def test_versions_within_the_retention_stay_readable(tmp_path):
    lake = tmp_path / "lake"
    for k, name in enumerate(("a", "b")):
        path = write_lines(
            tmp_path / f"{k}.json.gz", [f'{{"__object_id": 1, "__type": "Team", "name": "{name}"}}']
        )
        load_organization_export(path, lake, export_gid=str(k))
    assert [r["name"] for r in rows(lake, "team", 0)] == ["a"]
