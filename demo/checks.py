"""
The demo's checks of a landed file and of the lake tables, computed without the provider's loader.

The system tests use them too. Only the provider's naming rule (``__type`` -> table, documented in
docs/lake-tables.md) is shared: the checks are about what lands in each table, not what it is called.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

from airflow_provider_asana.tables.naming import table_for_type


def sha256_of(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def count_types(path: Path) -> dict[str, int]:
    """Count the records per ``__type``, streamed through gzip."""
    counts: Counter[str] = Counter()
    with gzip.open(path, "rb") as f:
        for line in f:
            if line.strip():
                counts[json.loads(line).get("__type", "<none>")] += 1
    return dict(counts)


def records_per_table(path: Path) -> dict[str, int]:
    """Count the records per lake table (every story kind in ``story``, ...), streamed through gzip."""
    tables: Counter[str] = Counter()
    for kind, count in count_types(path).items():
        tables[table_for_type(kind)] += count
    return dict(tables)


def ground_truth(changes: Path) -> dict[str, dict[int, str]]:
    """Read the emulator's change set of an export (JSON Lines): table -> {``__object_id``: change}."""
    truth: dict[str, dict[int, str]] = {}
    with changes.open("rb") as f:
        for line in f:
            row = json.loads(line)
            truth.setdefault(table_for_type(row["__type"]), {})[row["__object_id"]] = row["change"]
    return truth


def change_counts(objects: dict[int, str]) -> tuple[int, int, int]:
    """Count one table's ``{__object_id: change}`` as ``(inserted, updated, deleted)``."""
    counts = Counter(objects.values())
    return counts["insert"], counts["update"], counts["delete"]


def change_rows(tables_root: Path, export_gid: str, tables: list[str]) -> dict[str, dict[int, str]]:
    """Read the change tables' rows of one export: table -> {``__object_id``: ``_change_type``}."""
    from deltalake import DeltaTable

    found: dict[str, dict[int, str]] = {}
    for name in tables:
        rows = (
            DeltaTable(str(tables_root / "_changes" / name))
            .to_pyarrow_table(
                columns=["__object_id", "_change_type"], filters=[("_export_gid", "=", export_gid)]
            )
            .to_pylist()
        )
        if rows:
            found[name] = {r["__object_id"]: r["_change_type"] for r in rows}
    return found
