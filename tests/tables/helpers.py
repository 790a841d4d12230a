"""Reading the lake tables back and restating the documented conversions, for the lake-tables tests."""

from __future__ import annotations

import datetime
import gzip
import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
from deltalake import DeltaTable

from airflow_provider_asana.tables.naming import ADDED_COLUMNS, KEY
from airflow_provider_asana.tables.schema import encoding_of, source_name

UTC = datetime.timezone.utc


def write_lines(path: Path, lines: list[bytes | str]) -> Path:
    with gzip.open(path, "wb") as out:
        for line in lines:
            out.write((line.encode() if isinstance(line, str) else line) + b"\n")
    return path


def table(root: Path, name: str, version: int | None = None) -> DeltaTable:
    return DeltaTable(str(root / name), version=version)


def rows(root: Path, name: str, version: int | None = None) -> list[dict[str, Any]]:
    return table(root, name, version).to_pyarrow_table().to_pylist()


def delta_tables(root: Path) -> list[str]:
    """Every Delta table under ``root`` (relative paths), ``_changes/x`` included."""
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        if "_delta_log" in dirnames:
            found.append(os.path.relpath(dirpath, root))
            dirnames.clear()
    return sorted(found)


def content(root: Path) -> dict[str, list[str]]:
    """What a reader of the current versions sees: every table's rows (order-free) and schema."""
    out = {}
    for name in delta_tables(root):
        t = table(root, name)
        data = t.to_pyarrow_table()
        out[name] = [str(pa.schema(t.schema().to_arrow()))] + sorted(
            json.dumps(r, default=str, sort_keys=True) for r in data.to_pylist()
        )
    return out


def as_of_exports(root: Path) -> dict[str, dict[str, list[str]]]:
    """What a reader going through ``_exports`` sees, export by export."""
    if not (root / "_exports").exists():
        return {}
    out = {}
    for row in rows(root, "_exports"):
        views = {}
        for entry in row["tables"]:
            data = table(root, entry["table"], entry["version"]).to_pyarrow_table().to_pylist()
            views[entry["table"]] = sorted(json.dumps(r, default=str, sort_keys=True) for r in data)
        out[row["export_gid"]] = views
    return out


def data_files(root: Path) -> set[str]:
    """Parquet files under ``root``, relative."""
    return {
        os.path.relpath(os.path.join(d, f), root)
        for d, _, files in os.walk(root)
        for f in files
        if f.endswith(".parquet") and "_delta_log" not in d
    }


def normalized(value: Any) -> Any:
    """Absent and null are one in a column store: drop nulls inside objects, compare numbers as numbers."""
    if isinstance(value, dict):
        return {k: normalized(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


def expected_cell(value: Any, field: pa.Field) -> Any:
    """A source value as the documented conversions store it in ``field`` (nested fields too)."""
    if value is None:
        return None
    encoding = encoding_of(field)
    if encoding == "json":
        return normalized(value)  # compared after parsing the stored JSON text
    if encoding == "text":
        return value if isinstance(value, str) else json.dumps(value)
    t = field.type
    if pa.types.is_timestamp(t):
        return datetime.datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    if pa.types.is_floating(t):
        return float(value)
    if pa.types.is_struct(t):
        return {f.name: expected_cell(value.get(f.name), f) for f in t if value.get(f.name) is not None}
    if pa.types.is_list(t):
        return [expected_cell(v, t.value_field) for v in value]
    return value


def stored_cell(value: Any, field: pa.Field) -> Any:
    """A stored value, JSON text parsed, nulls inside objects dropped."""
    if value is None:
        return None
    if encoding_of(field) == "json":
        return normalized(json.loads(value))
    t = field.type
    if pa.types.is_struct(t):
        return {f.name: stored_cell(value[f.name], f) for f in t if value.get(f.name) is not None}
    if pa.types.is_list(t):
        return [stored_cell(v, t.value_field) for v in value]
    return value


def assert_round_trip(
    root: Path, name: str, records: list[dict[str, Any]], version: int | None = None
) -> None:
    """Every record reads back from table ``name`` equal to its source (after the documented conversions)."""
    t = table(root, name, version)
    schema = pa.schema(t.schema().to_arrow())
    got = t.to_pyarrow_table().to_pylist()
    assert len(got) == len(records)
    by_id = {r[KEY]: r for r in got}
    assert len(by_id) == len(got)
    source_fields = [f for f in schema if f.name not in ADDED_COLUMNS]
    for record in records:
        row = by_id[record[KEY]]
        assert set(record) <= {source_name(f) for f in source_fields}
        for f in source_fields:
            source = record.get(source_name(f))
            assert stored_cell(row[f.name], f) == expected_cell(source, f), (name, record[KEY], f.name)
