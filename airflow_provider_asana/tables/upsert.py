"""
One table of a resource-export load: upsert the export's objects by key, with their change rows.

A resource export holds some objects of a kind (those modified in a window, say), not a snapshot: rows of
objects the export does not name stay as they are. The new version is one Delta commit that removes the data
files holding a replaced row, adds those files rewritten without it, and adds the new rows (copy-on-write by
file, never a MERGE). An upsert that changes nothing commits nothing. Change rows (``insert``/``update``) go
to ``_changes/<table>`` as for organization exports; a resource export never shows a deletion.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyarrow.fs import LocalFileSystem

from airflow_provider_asana.tables import schema as s
from airflow_provider_asana.tables.changes import RowsByPart, compute_upserts, previous_keys
from airflow_provider_asana.tables.delta import (
    DataFiles,
    FileWriter,
    arrow_schema,
    commit,
    read_rows_by_group,
)
from airflow_provider_asana.tables.errors import LakeTablesError
from airflow_provider_asana.tables.naming import CHANGE_TYPE, RECORD_HASH, changes_table
from airflow_provider_asana.tables.snapshot import CHANGE_TYPES, TableLoad, TableResult

if TYPE_CHECKING:
    from airflow_provider_asana.tables.staged import StagedFile

#: The field ordering versions of one object: of two versions, the one with the larger text is kept.
ORDER_FIELD = "modified_at"
#: Arrays of objects a resource embeds and owns, each split into its own table ``<table>_<suffix>`` keyed by
#: the owner's gid (``task_story``, ``task_attachment``): docs/lake-tables.md has the measurements.
CHILDREN = {"stories": "story", "attachments": "attachment"}
#: The column of a child table naming its owner.
PARENT_KEY = "_parent_gid"


@dataclass
class UpsertResult(TableResult):
    """:class:`TableResult` plus what the upsert left out."""

    duplicates: int = 0
    stale: int = 0
    #: Per child table (``task_story``): ``rows``, ``written`` (rows of this export's objects), ``version``.
    children: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {**super().as_dict(), "duplicates": self.duplicates, "stale": self.stale}
        if self.children:
            out["children"] = self.children
        return out


class UpsertTableLoad(TableLoad):
    """
    Upsert one kind of a resource export into its table (``<root>/<table>``) keyed by ``gid``.

    :param load: the running load; ``load.fmt.key`` names the key.
    """

    def __init__(self, load: Any, name: str, staged: Any, previous: Any, previous_changes: Any) -> None:
        from airflow_provider_asana.tables.delta import open_table

        super().__init__(load, name, staged, previous, previous_changes)
        fields = set(staged.schema.names) if staged is not None and staged.schema is not None else set()
        self.children = {
            field: ChildTable(self, f"{name}_{suffix}", field, open_table(load.root, f"{name}_{suffix}"))
            for field, suffix in CHILDREN.items()
            if field in fields
        }

    def has_work(self) -> bool:
        return self.staged is not None

    def touched(self) -> dict[str, int | None]:
        out = super().touched()
        for child in self.children.values():
            out[child.name] = child.previous.version() if child.previous is not None else None
        return out

    def write(self) -> Any:
        os.makedirs(self.workdir, exist_ok=True)
        result = self.result = UpsertResult()
        load = self.load
        files = self.staged.files
        stored = arrow_schema(self.previous) if self.previous is not None else None
        self.schema, chunk_mapping, stored_mapping = self._upsert_schema(self.staged.schema, stored)
        result.drifted_columns = s.drift(self.schema)
        rewrite_all = stored is not None and not _identical(stored, self.schema)

        started = time.perf_counter()
        upsert = self._upserts(files, stored)
        change_seconds = time.perf_counter() - started
        self.change_schema, rewrite = self._change_schema(None)
        self.change_mode = "rewrite" if rewrite else self._evolution()

        snapshot = FileWriter(load.root, load.fs, self.name, load.load_id, self.schema)
        writers = {
            kind: FileWriter(
                load.root,
                load.fs,
                changes_table(self.name),
                f"{load.load_id}-{kind}",
                self._file_schema(self.schema),
                {CHANGE_TYPE: kind},
            )  # fmt: skip
            for kind in CHANGE_TYPES[:2]
        }
        self.removed: list[Any] = []
        local = LocalFileSystem()
        snapshot_seconds = 0.0
        try:
            rows = RowsByPart(upsert.upserts, "chunk")
            for index, file in enumerate(files):
                labels = rows.take(index)
                if labels is None:
                    continue
                # a row group (one parsed chunk) at a time: memory stays flat whatever the export's size
                for mine, raw in read_rows_by_group(local, file.path, labels.column("row")):
                    t0 = time.perf_counter()
                    data = self._conform_chunk(raw, chunk_mapping)
                    snapshot.write(data)
                    existed = labels.column("existed").filter(mine)
                    for child in self.children.values():
                        child.stage(raw, existed)
                    t1 = time.perf_counter()
                    self._write_changes(writers["insert"], data.filter(pc.invert(existed)))
                    self._write_changes(writers["update"], data.filter(existed))
                    snapshot_seconds += t1 - t0
                    change_seconds += time.perf_counter() - t1
            t0 = time.perf_counter()
            if stored is not None and (upsert.replaced or rewrite_all):
                self._rewrite_previous(snapshot, upsert.replaced, stored_mapping, rewrite_all)
            for child in self.children.values():
                child.write()
            if self.change_mode == "rewrite":
                self._rewrite_old_changes(writers)
            snapshot_seconds += time.perf_counter() - t0
            self.snapshot_files = snapshot.close()
            self.change_files = [writers[kind].close() for kind in CHANGE_TYPES[:2]]
        except BaseException:
            for child in self.children.values():
                child.abort()
            snapshot.abort()
            for writer in writers.values():
                writer.abort()
            raise
        self.rewrite_all = rewrite_all
        result.inserted, result.updated = upsert.inserted, upsert.updated
        result.duplicates, result.stale = upsert.duplicates, upsert.stale
        result.rows = self._previous_rows + upsert.inserted
        result.seconds = {"snapshot": snapshot_seconds, "changes": change_seconds}
        return result

    def _upsert_schema(
        self, staged: pa.Schema, stored: pa.Schema | None
    ) -> tuple[pa.Schema, list[tuple[str, pa.Field]], list[tuple[pa.Field, pa.Field]]]:
        """
        Return the table's schema after the upsert and how to conform rows to it.

        Every field of the stored schema is kept (rows the export does not name still hold them), widened
        where the export's values need it; a stored null-only placeholder takes the export's real type.
        """
        reserved = {f.name for f in self._added_fields()}
        previous = [s.revive_null_only(f) for f in stored if f.name not in reserved] if stored else []
        by_source = [f.with_name(s.source_name(f)) for f in previous]
        new = pa.schema([f for f in staged if f.name not in self.children])
        unified = s.unify_schemas([pa.schema(by_source), new])
        finals, _ = s.deduplicate_names([s.final_field(f) for f in unified], reserved=reserved)
        chunk_mapping = [(u.name, f) for u, f in zip(unified, finals)]
        final_by_source = {u.name: f for u, f in zip(unified, finals)}
        stored_mapping = [(p, final_by_source[b.name]) for p, b in zip(previous, by_source)]
        return pa.schema(finals + self._added_fields()), chunk_mapping, stored_mapping

    def _added_fields(self) -> list[pa.Field]:
        from airflow_provider_asana.tables.naming import EXPORT_CREATED_AT, EXPORT_GID

        return [
            pa.field(EXPORT_GID, pa.string()),
            pa.field(EXPORT_CREATED_AT, s.TIMESTAMP),
            pa.field(RECORD_HASH, pa.int64()),
        ]

    def _upserts(self, files: list[StagedFile], stored: pa.Schema | None) -> Any:
        load, key = self.load, self.load.fmt.key
        keys = None
        if stored is not None and self._previous_rows:
            if RECORD_HASH not in stored.names or key not in stored.names:
                raise LakeTablesError(
                    f"table {self.name}: its current version has no {RECORD_HASH} or {key} column, so it was "
                    "not written by this loader; load into an empty tables_root"
                )
            self._files = self._previous_files()
            keys = os.path.join(self.workdir, "previous-keys.parquet")
            previous_keys(
                load.fs, [f for f, _ in self._files], keys, key=key, key_type=pa.string(), order=ORDER_FIELD
            )
        else:
            self._files = []
            keys = None
        return compute_upserts(
            [f.path for f in files], keys, self.workdir,
            key=key, order=ORDER_FIELD, memory_limit=load.memory_limit,
        )  # fmt: skip

    def _previous_files(self) -> list[tuple[str, Any]]:
        """Return the current version's data files: ``(path on the filesystem, add action)``."""
        actions = pa.table(self.previous.get_add_actions(flatten=True)).to_pylist()
        return [(self.load.root.path(f"{self.name}/{a['path']}"), a) for a in actions]

    def _rewrite_previous(
        self, writer: FileWriter, replaced: str | None, mapping: list[tuple[pa.Field, pa.Field]], every: bool
    ) -> None:
        """Write the previous files that hold a replaced row (all of them when ``every``) without those rows."""
        from deltalake.transaction import RemoveAction

        rows = RowsByPart(replaced, "fragment")
        target = self.schema
        for index, (path, action) in enumerate(self._files):
            labels = rows.take(index)
            if labels is None and not every:
                continue
            drop = labels.column("row") if labels is not None else pa.array([], pa.int64())
            with self.load.fs.open_input_file(path) as handle:
                parquet = pq.ParquetFile(handle)
                start = 0
                for group in range(parquet.metadata.num_row_groups):
                    data = parquet.read_row_group(group)
                    n = data.num_rows
                    positions = pa.array(range(start, start + n), pa.int64())
                    data = data.filter(pc.invert(pc.is_in(positions, drop)))
                    start += n
                    writer.write(self._conform_stored(data, mapping, target))
            self.removed.append(
                RemoveAction(action["path"], True, int(time.time() * 1000), action["size_bytes"], {})
            )

    def _conform_stored(
        self, data: pa.Table, mapping: list[tuple[pa.Field, pa.Field]], target: pa.Schema
    ) -> pa.Table:
        columns = {name: data.column(name).combine_chunks() for name in data.column_names}
        arrays = []
        for source, final in mapping:
            if source.name in columns:
                arrays.append(s.conform(columns[source.name], source, final))
            else:
                arrays.append(pa.nulls(data.num_rows, final.type))
        for f in self._added_fields():
            arrays.append(columns[f.name] if f.name in columns else pa.nulls(data.num_rows, f.type))
        return pa.Table.from_arrays(arrays, schema=target)

    def commit(self) -> Any:
        load, result = self.load, self.result
        changed = self.snapshot_files.actions or self.removed or self.rewrite_all
        if self.previous is None:
            result.version = commit(
                load.root, self.name, self.snapshot_files, self.schema,
                mode="overwrite", load_id=load.load_id, export_gid=load.export_gid,
            )  # fmt: skip
        elif changed:
            files = DataFiles(self.snapshot_files.actions + ([] if self.rewrite_all else self.removed))
            result.version = commit(
                load.root, self.name, files, self.schema, mode="overwrite" if self.rewrite_all else "append",
                load_id=load.load_id, export_gid=load.export_gid,
            )  # fmt: skip
        else:
            result.version = self.previous.version()
        for child in self.children.values():
            result.children[child.name] = child.commit()
        self.commit_changes()
        return result


class ChildTable:
    """
    The objects one array field of an upserted table embeds (a task's ``stories``), as their own table.

    Each row is one item, with ``_parent_gid`` naming its owner. When an owner is written, its items replace
    the ones the table had for it (copy-on-write by file, one commit, like the owner's table); the items of
    owners the export does not name stay. The items' rows carry the export that wrote them.
    """

    def __init__(self, owner: UpsertTableLoad, name: str, field_name: str, previous: Any) -> None:
        self.owner, self.name, self.field, self.previous = owner, name, field_name, previous
        self.staged: list[tuple[str, pa.Schema]] = []
        self.replaced_owners: list[pa.Array] = []
        self.files = DataFiles()
        self.removed: list[Any] = []
        self.schema = pa.schema([])
        self.rewrite_all = False
        self.rows = self.written = self.dropped = 0
        self._writer: FileWriter | None = None

    def stage(self, raw: pa.Table, existed: pa.Array) -> None:
        """Keep the items of the owners in ``raw`` (the rows being written) in a local file."""
        key = self.owner.load.fmt.key
        owners = raw.column(key).combine_chunks()
        self.replaced_owners.append(owners.filter(existed.combine_chunks()))
        if self.field not in raw.column_names:  # null in every row of its staged file, which leaves it out
            return
        t = s.revive_null_only(raw.schema.field(self.field)).type
        if pa.types.is_null(t) or pa.types.is_list(t) and pa.types.is_null(t.value_type):
            return  # nulls and empty arrays only: no item
        items = _items(raw.column(self.field).combine_chunks(), owners)
        if items is None or not items.num_rows:
            return
        path = os.path.join(self.owner.workdir, f"{self.name}-{len(self.staged):05d}.parquet")
        pq.write_table(items, path, compression="lz4", write_statistics=False)
        # a staged file stores a field null so far as a placeholder: typed null again, later types win
        self.staged.append((path, s.revive_schema(items.schema)))
        self.written += items.num_rows

    def write(self) -> None:
        load = self.owner.load
        stored = arrow_schema(self.previous) if self.previous is not None else None
        added = self.owner._added_fields()[:2]
        reserved = {f.name for f in added}
        previous = [s.revive_null_only(f) for f in stored if f.name not in reserved] if stored else []
        unified = s.unify_schemas([pa.schema(previous), *(schema for _, schema in self.staged)])
        finals, _ = s.deduplicate_names([s.final_field(f) for f in unified], reserved=reserved)
        self.schema = pa.schema(finals + added)
        self.rewrite_all = stored is not None and not _identical(stored, self.schema)
        writer = self._writer = FileWriter(load.root, load.fs, self.name, load.load_id, self.schema)
        for path, _ in self.staged:
            items = pq.read_table(path)
            writer.write(load.export_columns(_conform_to(items, self.schema, added), first=False))
        if self.previous is not None:
            self._rewrite_previous(writer, previous)
        self.files = writer.close()
        self.rows = (self.previous.count() if self.previous is not None else 0) + self.written

    def _rewrite_previous(self, writer: FileWriter, previous: list[pa.Field]) -> None:
        from deltalake.transaction import RemoveAction

        load = self.owner.load
        owners = pa.concat_arrays(self.replaced_owners) if self.replaced_owners else pa.array([], pa.string())
        if not len(owners) and not self.rewrite_all:
            return
        stored = pa.schema(previous + self.owner._added_fields()[:2])
        for action in pa.table(self.previous.get_add_actions(flatten=True)).to_pylist():
            with load.fs.open_input_file(load.root.path(f"{self.name}/{action['path']}")) as handle:
                parquet = pq.ParquetFile(handle)
                replaced = pc.is_in(parquet.read(columns=[PARENT_KEY]).column(PARENT_KEY), owners)
                dropped = pc.sum(replaced.cast(pa.int64())).as_py() or 0
                if not dropped and not self.rewrite_all:
                    continue
                start = 0
                for group in range(parquet.metadata.num_row_groups):  # a row group at a time: flat memory
                    data = parquet.read_row_group(group)
                    keep = pc.invert(replaced.slice(start, data.num_rows))
                    start += data.num_rows
                    writer.write(_conform_to(data.filter(keep), self.schema, [], source=stored))
            self.dropped += dropped
            self.removed.append(
                RemoveAction(action["path"], True, int(time.time() * 1000), action["size_bytes"], {})
            )

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()

    def commit(self) -> dict[str, Any]:
        load = self.owner.load
        rows = self.rows - self.dropped
        if self.previous is None:
            if not self.files.actions:
                return {"rows": 0, "written": 0, "version": None}
            version = commit(
                load.root, self.name, self.files, self.schema,
                mode="overwrite", load_id=load.load_id, export_gid=load.export_gid,
            )  # fmt: skip
        elif self.files.actions or self.removed or self.rewrite_all:
            files = DataFiles(self.files.actions + ([] if self.rewrite_all else self.removed))
            version = commit(
                load.root, self.name, files, self.schema, mode="overwrite" if self.rewrite_all else "append",
                load_id=load.load_id, export_gid=load.export_gid,
            )  # fmt: skip
        else:
            version = self.previous.version()
        return {"rows": rows, "written": self.written, "version": version}


def _items(column: pa.Array, owners: pa.Array) -> pa.Table | None:
    """One row per item of an array column, ``_parent_gid`` first; items that are not objects as ``value``."""
    import json

    from airflow_provider_asana.tables.parse import records_to_table

    t = column.type
    if pa.types.is_list(t) and pa.types.is_struct(t.value_type) and t.value_type.num_fields:
        flat = pc.list_flatten(column)
        parents = pc.list_parent_indices(column)
        items = pa.Table.from_struct_array(flat)
        return items.add_column(0, PARENT_KEY, owners.take(parents))
    # drifted (JSON text) or items that are not objects: one record per item, typed like any other column
    records: list[dict[str, Any]] = []
    values = column.to_pylist()
    for owner, value in zip(owners.to_pylist(), values):
        items = json.loads(value) if isinstance(value, str) else value
        for item in items or []:
            records.append({PARENT_KEY: owner, **(item if isinstance(item, dict) else {"value": item})})
    return records_to_table(records) if records else None


def _conform_to(
    data: pa.Table, target: pa.Schema, skip: list[pa.Field], source: pa.Schema | None = None
) -> pa.Table:
    """Return ``data`` conformed to ``target`` without the ``skip`` fields (filled by the caller)."""
    fields = {f.name: f for f in (source if source is not None else data.schema)}
    names = {f.name for f in skip}
    arrays, out = [], []
    for f in target:
        if f.name in names:
            continue
        if f.name in data.column_names:
            source_field = s.revive_null_only(fields.get(f.name, data.schema.field(f.name)))
            arrays.append(s.conform(data.column(f.name).combine_chunks(), source_field, f))
        else:
            arrays.append(pa.nulls(data.num_rows, f.type))
        out.append(f)
    return pa.Table.from_arrays(arrays, schema=pa.schema(out))


def _identical(stored: pa.Schema, final: pa.Schema) -> bool:
    """Tell whether the stored schema is the upsert's schema: same names, layouts and null-only marks."""
    return len(stored) == len(final) and all(_same_field(a, b) for a, b in zip(stored, final))


def _same_field(a: pa.Field, b: pa.Field) -> bool:
    if a.name != b.name or not s.same_layout(a, b) or s.is_null_only(a) != s.is_null_only(b):
        return False
    if pa.types.is_struct(a.type):
        return all(_same_field(x, y) for x, y in zip(a.type, b.type))
    if pa.types.is_list(a.type):
        # Delta names an array's item "element", pyarrow "item"
        return _same_field(a.type.value_field.with_name("item"), b.type.value_field.with_name("item"))
    return True


__all__ = ["UpsertTableLoad", "UpsertResult"]
