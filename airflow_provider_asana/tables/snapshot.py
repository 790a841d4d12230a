"""
One table of one load: the new snapshot's data files and its change rows, then their commits.

The snapshot replaces the table (a Delta overwrite: one new version per export). Change rows are appended to
``_changes/<table>``, partitioned by ``_change_type``. Files are written with the schema of the rows they hold
when the change table's schema can take them as they are (Delta reads a missing column as null); otherwise,
and for the change table's old files when a column's type has to widen, rows are converted first.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow.fs import LocalFileSystem

from airflow_provider_asana.tables import schema as s
from airflow_provider_asana.tables.changes import ChangeSet, RowsByPart, compute_changes, previous_keys
from airflow_provider_asana.tables.delta import (
    DataFiles,
    FileWriter,
    arrow_schema,
    commit,
    read_rows,
    read_rows_by_group,
    table_files,
)
from airflow_provider_asana.tables.errors import LakeTablesError
from airflow_provider_asana.tables.naming import (
    ADDED_COLUMNS,
    CHANGE_TYPE,
    EXPORT_CREATED_AT,
    EXPORT_GID,
    KEY,
    RECORD_HASH,
    changes_table,
)

if TYPE_CHECKING:
    from airflow_provider_asana.tables.staged import StagedFile

log = logging.getLogger(__name__)

CHANGE_TYPES = ("insert", "update", "delete")
_RESERVED = (EXPORT_GID, EXPORT_CREATED_AT, RECORD_HASH, CHANGE_TYPE)


@dataclass
class TableResult:
    """What one table's load did, as ``load_organization_export`` reports it per table."""

    rows: int = 0
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    version: int | None = None
    changes_version: int | None = None
    drifted_columns: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the per-table result dict."""
        return {
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            "deleted": self.deleted,
            "version": self.version,
            "changes_version": self.changes_version,
            "drifted_columns": self.drifted_columns,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


class TableLoad:
    """
    One table of one load: its snapshot's data files and change rows, then their commits.

    :param load: the running load (root, filesystem, export columns, load id).
    :param staged: the table's staged files, None when the export has no record of this kind any more.
    :param previous: the table's current Delta version (None: first load of this kind).
    :param previous_changes: its change table (None: not created yet).
    """

    def __init__(self, load: Any, name: str, staged: Any, previous: Any, previous_changes: Any) -> None:
        self.load, self.name, self.staged = load, name, staged
        self.previous, self.previous_changes = previous, previous_changes
        self.result: Any = None
        self.snapshot_files = DataFiles()
        self.change_files: list[DataFiles] = []
        self.change_mode = "append"
        self.schema = pa.schema([])
        self.change_schema = pa.schema([])
        self._previous_rows = previous.count() if previous is not None else 0
        self.workdir = os.path.join(load.work, "tables", name)

    def has_work(self) -> bool:
        """Tell whether there is work: a kind seen before and absent now gets an empty version too."""
        return self.staged is not None or self._previous_rows > 0

    def touched(self) -> dict[str, int | None]:
        """Return the tables this load may commit to (relative to the root), with their versions before it."""
        return {
            self.name: self.previous.version() if self.previous is not None else None,
            changes_table(self.name): (
                self.previous_changes.version() if self.previous_changes is not None else None
            ),
        }

    # -- data files ------------------------------------------------------------------------------------------
    def write(self) -> Any:
        os.makedirs(self.workdir, exist_ok=True)
        result = self.result = TableResult()
        load = self.load
        files = self.staged.files if self.staged is not None else []
        self.schema, mapping = self._snapshot_schema()
        result.drifted_columns = s.drift(self.schema)
        previous_schema = arrow_schema(self.previous) if self.previous is not None else None

        started = time.perf_counter()
        changes = self._changes(files)
        change_seconds = time.perf_counter() - started
        self.change_schema, rewrite = self._change_schema(previous_schema)
        self.change_mode = "rewrite" if rewrite else self._evolution()

        snapshot = FileWriter(load.root, load.fs, self.name, load.load_id, self.schema)
        writers = {
            kind: FileWriter(
                load.root,
                load.fs,
                changes_table(self.name),
                f"{load.load_id}-{kind}",
                self._file_schema(previous_schema if kind == "delete" else self.schema),
                {CHANGE_TYPE: kind},
            )  # fmt: skip
            for kind in CHANGE_TYPES
        }
        # first load of the kind: every tracked row is an insert; when every row is tracked and stored as the
        # snapshot stores it, the insert files are copies of the snapshot's files (no second encoding)
        copy_inserts = (
            changes is None
            and all(f.untracked == 0 for f in files)
            and writers["insert"].schema == self.schema
        )
        local = LocalFileSystem()
        snapshot_seconds = 0.0
        try:
            upserts = RowsByPart(changes.upserts if changes else None, "chunk")
            for index, file in enumerate(files):
                t0 = time.perf_counter()
                if changes is None and not copy_inserts:
                    for data in self._staged_rows(file, mapping):
                        tracked = (
                            data.filter(pc.is_valid(data.column(KEY)))
                            if KEY in data.column_names
                            else data.slice(0, 0)
                        )
                        self._write_changes(writers["insert"], tracked)
                elif changes is not None:
                    labels = upserts.take(index)
                    if labels is not None:  # a row group at a time: flat memory
                        for mine, raw in read_rows_by_group(local, file.path, labels.column("row")):
                            rows = self._conform_chunk(raw, mapping)
                            existed = labels.column("existed").filter(mine)
                            self._write_changes(writers["insert"], rows.filter(pc.invert(existed)))
                            self._write_changes(writers["update"], rows.filter(existed))
                t1 = time.perf_counter()
                change_seconds += t1 - t0
                if self._stored_as_final(file, mapping):
                    snapshot.adopt(file.path, file.rows)
                else:
                    for data in self._staged_rows(file, mapping):
                        snapshot.write(data)
                snapshot_seconds += time.perf_counter() - t1
            t1 = time.perf_counter()
            if changes is not None and changes.deletes:
                self._write_deletes(writers["delete"], changes.deletes)
            if self.change_mode == "rewrite":
                self._rewrite_old_changes(writers)
            change_seconds += time.perf_counter() - t1
            self.snapshot_files = snapshot.close()
            self.change_files = [writers[kind].close() for kind in CHANGE_TYPES]
            if copy_inserts:
                t1 = time.perf_counter()
                self.change_files[0] = self._copy_as_inserts(self.snapshot_files)
                change_seconds += time.perf_counter() - t1
        except BaseException:
            snapshot.abort()
            for writer in writers.values():
                writer.abort()
            raise
        result.rows = self.snapshot_files.rows
        if changes is None:
            result.inserted = self.change_files[0].rows
        else:
            result.inserted, result.updated, result.deleted = (
                changes.inserted,
                changes.updated,
                changes.deleted,
            )
        result.seconds = {"snapshot": snapshot_seconds, "changes": change_seconds}
        return result

    def _snapshot_schema(self) -> tuple[pa.Schema, list[tuple[str, pa.Field]]]:
        """Return the snapshot's schema and, per source field, ``(its name in the staged files, its stored field)``."""
        if (
            self.staged is None or self.staged.schema is None
        ):  # the kind is gone: an empty version, last schema
            previous = arrow_schema(self.previous)
            return previous, [(f.name, f) for f in previous if f.name not in _RESERVED]
        unified = self.staged.schema
        finals, _ = s.deduplicate_names([s.final_field(f) for f in unified], reserved=_RESERVED)
        mapping = [(u.name, f) for u, f in zip(unified, finals)]
        added = [
            pa.field(EXPORT_GID, pa.string()),
            pa.field(EXPORT_CREATED_AT, s.TIMESTAMP),
            pa.field(RECORD_HASH, pa.int64()),
        ]
        return pa.schema(finals + added), mapping

    def _stored_as_final(self, file: StagedFile, mapping: list[tuple[str, pa.Field]]) -> bool:
        """Tell whether every column of a staged file has the snapshot's name and type for its field."""
        final_names = {name: final.name for name, final in mapping} | {name: name for name in ADDED_COLUMNS}
        return all(
            final_names.get(f.name) == f.name and s.same_layout(f, self.schema.field(f.name))
            for f in file.schema
        )

    def _staged_rows(self, file: StagedFile, mapping: list[tuple[str, pa.Field]]) -> Iterator[pa.Table]:
        """Read a staged file in the snapshot's schema, one row group (one chunk) at a time."""
        parquet = pq.ParquetFile(file.path)
        for group in range(parquet.metadata.num_row_groups):
            yield self._conform_chunk(parquet.read_row_group(group), mapping)

    def _conform_chunk(self, chunk: pa.Table, mapping: list[tuple[str, pa.Field]]) -> pa.Table:
        n = chunk.num_rows
        chunk_fields = {f.name: f for f in chunk.schema}
        arrays = []
        for name, target in mapping:
            if name in chunk_fields:
                source = s.revive_null_only(chunk_fields[name])  # a staged placeholder holds only nulls
                arrays.append(s.conform(chunk.column(name).combine_chunks(), source, target))
            else:
                arrays.append(pa.nulls(n, target.type))
        arrays.append(pa.repeat(pa.scalar(self.load.export_gid, pa.string()), n))
        arrays.append(pa.repeat(pa.scalar(self.load.created_at, s.TIMESTAMP), n))
        arrays.append(chunk.column(RECORD_HASH).combine_chunks())
        return pa.Table.from_arrays(arrays, schema=self.schema)

    # -- change rows -----------------------------------------------------------------------------------------
    def _changes(self, files: list[StagedFile]) -> Any:
        """Compute the change set; None when every row is an insert (nothing loaded before)."""
        if self.previous is None or not self._previous_rows:
            return None
        previous = arrow_schema(self.previous)
        if RECORD_HASH not in previous.names or KEY not in previous.names:
            raise LakeTablesError(
                f"table {self.name}: its current version has no {RECORD_HASH} or {KEY} column, so it was not "
                "written by this loader; load into an empty tables_root"
            )
        load = self.load
        self._files = [load.root.path(f"{self.name}/{path}") for path, _ in table_files(self.previous)]
        keys = os.path.join(self.workdir, "previous-keys.parquet")
        previous_keys(load.fs, self._files, keys)
        if not files:
            return _all_deleted(keys, self.workdir)
        if KEY not in self.schema.names:  # no record of this kind has an id: nothing to track
            return ChangeSet(0, 0, 0, None, None)
        return compute_changes(
            [f.path for f in files], keys, self.workdir, memory_limit=self.load.memory_limit
        )

    def _change_schema(self, previous_schema: pa.Schema | None) -> tuple[pa.Schema, bool]:
        """Return the change table's schema after this load and whether its old files must change."""
        existing = None
        if self.previous_changes is not None:
            existing = pa.schema([f for f in arrow_schema(self.previous_changes) if f.name != CHANGE_TYPE])
        parts = [s.revive_schema(p) for p in (existing, self.schema, previous_schema) if p is not None]
        unified = pa.schema([s.final_field(f) for f in s.unify_schemas(parts)])
        rewrite = existing is not None and any(not s.same_layout(f, unified.field(f.name)) for f in existing)
        return unified, rewrite

    def _evolution(self) -> str:
        if self.previous_changes is None:
            return "create"
        existing = [f for f in arrow_schema(self.previous_changes) if f.name != CHANGE_TYPE]
        return "append" if len(existing) == len(self.change_schema) else "evolve"

    def _file_schema(self, rows_schema: pa.Schema | None) -> pa.Schema:
        """Rows are stored as they are when the change table's schema holds them unchanged."""
        target = self.change_schema
        if rows_schema is None:
            return target
        if all(f.name in target.names and s.same_layout(f, target.field(f.name)) for f in rows_schema):
            return rows_schema
        return target

    def _copy_as_inserts(self, files: DataFiles) -> DataFiles:
        """Copy the snapshot's files into the change table (hard links on local disk, server-side on S3)."""
        from deltalake.transaction import AddAction

        load = self.load
        out = DataFiles(rows=files.rows)
        for action in files.actions:
            name = action.path.replace(load.load_id, f"{load.load_id}-insert", 1)
            source = load.root.path(f"{self.name}/{action.path}")
            target = load.root.path(f"{changes_table(self.name)}/{name}")
            if load.root.local:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                try:
                    os.link(source, target)
                except OSError:
                    load.fs.copy_file(source, target)
            else:
                load.fs.copy_file(source, target)
            out.actions.append(
                AddAction(
                    name, action.size, {CHANGE_TYPE: "insert"}, action.modification_time, True, action.stats
                )
            )
        return out

    def _write_changes(self, writer: FileWriter, rows: pa.Table) -> None:
        if not rows.num_rows:
            return
        if rows.schema != writer.schema:
            rows = s.conform_table(rows, writer.schema)
        writer.write(rows)

    def _write_deletes(self, writer: FileWriter, deletes: str) -> None:
        """Write the last known record of each deleted object, marked with this export."""
        rows = RowsByPart(deletes, "fragment")
        previous = arrow_schema(self.previous)
        for index, file in enumerate(self._files):
            labels = rows.take(index)
            if labels is None:
                continue
            data = s.conform_table(read_rows(self.load.fs, file, labels.column("row")), previous)
            self._write_changes(writer, self.load.export_columns(data))

    def _rewrite_old_changes(self, writers: dict[str, FileWriter]) -> None:
        """Convert the change table's old rows into this load's files (a column had to widen)."""
        relative = changes_table(self.name)
        for path, partition in table_files(self.previous_changes):
            with self.load.fs.open_input_file(self.load.root.path(f"{relative}/{path}")) as handle:
                parquet = pq.ParquetFile(handle)
                for group in range(parquet.metadata.num_row_groups):
                    self._write_changes(writers[partition[CHANGE_TYPE]], parquet.read_row_group(group))

    # -- commits ---------------------------------------------------------------------------------------------
    def commit(self) -> Any:
        load, result = self.load, self.result
        result.version = commit(
            load.root, self.name, self.snapshot_files, self.schema,
            mode="overwrite", load_id=load.load_id, export_gid=load.export_gid,
        )  # fmt: skip
        self.commit_changes()
        return result

    def commit_changes(self) -> None:
        """Commit the change rows to ``_changes/<table>`` (widening its schema where needed)."""
        load, result = self.load, self.result
        files = DataFiles(
            [a for f in self.change_files for a in f.actions], sum(f.rows for f in self.change_files)
        )
        table_schema = pa.schema(list(self.change_schema) + [pa.field(CHANGE_TYPE, pa.string())])
        relative = changes_table(self.name)
        if files.actions or self.change_mode != "append":
            mode, partition_filters = "append", None
            if self.change_mode == "evolve":  # add the new columns, remove nothing
                mode, partition_filters = "overwrite", [(CHANGE_TYPE, "=", "__no_partition__")]
            elif self.change_mode == "rewrite":
                mode = "overwrite"
            result.changes_version = commit(
                load.root, relative, files, table_schema, partition_by=[CHANGE_TYPE],
                load_id=load.load_id, export_gid=load.export_gid, mode=mode, partition_filters=partition_filters,
            )  # fmt: skip
        elif self.previous_changes is not None:
            result.changes_version = self.previous_changes.version()


def _all_deleted(keys: str, workdir: str) -> Any:
    """Mark every tracked object of the previous version deleted (the export has no record of this kind)."""
    data = pq.read_table(keys, columns=["k", "fragment", "row"])
    data = data.filter(pc.is_valid(data.column("k"))).drop_columns(["k"])
    path = os.path.join(workdir, "deletes.parquet")
    pq.write_table(data, path)
    return ChangeSet(0, 0, data.num_rows, None, path if data.num_rows else None)
