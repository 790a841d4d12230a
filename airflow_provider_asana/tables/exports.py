"""
Keep ``<tables_root>/_exports``: one row per loaded export, the last commit of every load.

A reader who reads each table at the version this row names sees exactly that export, never half a load.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from airflow_provider_asana.tables.delta import open_table
from airflow_provider_asana.tables.naming import EXPORTS_TABLE

if TYPE_CHECKING:
    from airflow_provider_asana.tables.storage import TablesRoot

TABLE_ENTRY = pa.struct(
    [
        ("table", pa.string()),
        ("version", pa.int64()),
        ("rows", pa.int64()),
        ("changes_version", pa.int64()),
        ("inserted", pa.int64()),
        ("updated", pa.int64()),
        ("deleted", pa.int64()),
    ]
)
SCHEMA = pa.schema(
    [
        ("export_gid", pa.string()),
        ("export_created_at", pa.timestamp("us", tz="UTC")),
        ("loaded_at", pa.timestamp("us", tz="UTC")),
        ("load_id", pa.string()),
        ("source", pa.string()),
        ("source_sha256", pa.string()),
        ("lines", pa.int64()),
        ("rejected", pa.int64()),
        ("rejected_version", pa.int64()),
        ("tables", pa.list_(TABLE_ENTRY)),
        ("result", pa.string()),
    ]
)


def exports_row(
    result: dict[str, Any], *, load_id: str, source: str, loaded_at: datetime.datetime
) -> pa.Table:
    tables = [
        {
            "table": name,
            "version": t["version"],
            "rows": t["rows"],
            "changes_version": t["changes_version"],
            "inserted": t["inserted"],
            "updated": t["updated"],
            "deleted": t["deleted"],
        }
        for name, t in sorted(result["tables"].items())
    ]
    row = {
        "export_gid": result["export_gid"],
        "export_created_at": datetime.datetime.fromisoformat(result["export_created_at"]),
        "loaded_at": loaded_at,
        "load_id": load_id,
        "source": source,
        "source_sha256": result["source_sha256"],
        "lines": result["lines"],
        "rejected": result["rejected"],
        "rejected_version": result.get("rejected_version"),
        "tables": tables,
        "result": json.dumps(result, sort_keys=True),
    }
    return pa.Table.from_pylist([row], schema=SCHEMA)


def loaded_exports(root: TablesRoot) -> pa.Table | None:
    """Every row of ``_exports`` (a small table), or None before the first load."""
    table = open_table(root, EXPORTS_TABLE)
    return None if table is None else table.to_pyarrow_table()


def recorded_result(exports: pa.Table | None, export_gid: str) -> dict[str, Any] | None:
    """Return the result a previous load of ``export_gid`` returned, or None."""
    if exports is None:
        return None
    for gid, result in zip(exports.column("export_gid").to_pylist(), exports.column("result").to_pylist()):
        if gid == export_gid:
            return json.loads(result)
    return None


def latest(exports: pa.Table | None) -> dict[str, Any] | None:
    """Return the row of the last load (by load time), as a dict."""
    if exports is None or not exports.num_rows:
        return None
    rows = exports.to_pylist()
    return max(rows, key=lambda r: r["loaded_at"])
