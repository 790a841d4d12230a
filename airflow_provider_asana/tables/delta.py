"""
Write Delta tables in two steps: data files first, then the commit that names them.

Parquet data files are invisible until a commit adds them (delta-rs' transaction API). A load's files are named ``<load_id>-...``, so the
files of a load that died before its commit can be found and removed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from airflow_provider_asana.tables.storage import TablesRoot

#: Commit metadata naming the load that made a version (``DeltaTable.history()`` shows it).
LOAD_ID_KEY = "asana.load_id"
EXPORT_GID_KEY = "asana.export_gid"
#: A data file is closed past this size and the next one started.
FILE_BYTES = 256 << 20
#: How every data file is written (``pyarrow.parquet.ParquetWriter`` options).
PARQUET_OPTIONS: dict[str, Any] = {"compression": "zstd", "write_statistics": False}


@dataclass
class DataFiles:
    """The files one :class:`FileWriter` wrote, ready to be committed."""

    actions: list[Any] = field(default_factory=list)
    rows: int = 0


class FileWriter:
    """
    Parquet data files for one Delta table, all with ``schema``.

    :param relative: the table's folder under the root.
    :param prefix: file name prefix: the load id (and, for change tables, the change type).
    :param partition_values: the Delta partition values of every file written (change tables).
    """

    def __init__(
        self,
        root: TablesRoot,
        filesystem: Any,
        relative: str,
        prefix: str,
        schema: pa.Schema,
        partition_values: dict[str, str] | None = None,
    ) -> None:
        self.root, self.fs, self.relative, self.prefix = root, filesystem, relative, prefix
        self.schema = schema
        self.partition_values = partition_values or {}
        self.files = DataFiles()
        self._seq = 0
        self._writer: pq.ParquetWriter | None = None
        self._sink: Any = None
        self._name = ""
        self._rows = 0

    def write(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        writer = self._writer or self._open()
        writer.write_table(table)
        self._rows += table.num_rows
        if self._sink.tell() >= FILE_BYTES:
            self._close_file()

    def adopt(self, local_path: str, rows: int) -> None:
        """
        Make a finished local Parquet file the table's next data file, moved rather than written again.

        :param local_path: a file written with :data:`PARQUET_OPTIONS` and columns the table's schema holds.
        :param rows: its row count.
        """
        self._seq += 1
        name = f"{self.prefix}-{self._seq:05d}.parquet"
        target = self.root.path(f"{self.relative}/{name}")
        size = os.path.getsize(local_path)
        if self.root.local:
            self.root_dir_ready()
            shutil.move(local_path, target)  # a rename when the temp folder is on the same filesystem
        else:
            import pyarrow.fs as pafs

            pafs.copy_files(
                local_path, target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self.fs
            )
        self._add(name, size, rows)

    def close(self) -> DataFiles:
        if self._writer is not None:
            self._close_file()
        return self.files

    def abort(self) -> None:
        """Close without keeping the open file in the results (the load is failing)."""
        if self._writer is not None:
            try:
                self._writer.close()
                self._sink.close()
            except Exception:
                pass
            self._writer = None

    def _open(self) -> pq.ParquetWriter:
        self._seq += 1
        self._name = f"{self.prefix}-{self._seq:05d}.parquet"
        self.root_dir_ready()
        self._sink = self.fs.open_output_stream(self.root.path(f"{self.relative}/{self._name}"))
        self._writer = pq.ParquetWriter(self._sink, self.schema, **PARQUET_OPTIONS)
        return self._writer

    def root_dir_ready(self) -> None:
        if self.root.local:
            self.fs.create_dir(self.root.path(self.relative), recursive=True)

    def _close_file(self) -> None:
        if self._writer is None:
            return
        self._writer.close()
        size = self._sink.tell()
        self._sink.close()
        self._writer = None
        self._add(self._name, size, self._rows)
        self._rows = 0

    def _add(self, name: str, size: int, rows: int) -> None:
        from deltalake.transaction import AddAction

        self.files.actions.append(
            AddAction(
                path=name,
                size=size,
                partition_values=dict(self.partition_values),
                modification_time=int(time.time() * 1000),
                data_change=True,
                stats=json.dumps({"numRecords": rows}),
            )
        )
        self.files.rows += rows


def open_table(root: TablesRoot, relative: str, version: int | None = None) -> Any | None:
    """Open the Delta table at ``relative`` (at ``version``); None where there is none."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(
            root.table_uri(relative), version=version, storage_options=root.storage_options or None
        )
    except TableNotFoundError:
        return None


def table_files(table: Any) -> list[tuple[str, dict[str, str]]]:
    """List the current version's data files: ``(path relative to the table, partition values)``."""
    actions = pa.table(table.get_add_actions(flatten=True))
    partitions = [n for n in actions.column_names if n.startswith("partition.")]
    paths = actions.column("path").to_pylist()
    values = [actions.column(n).to_pylist() for n in partitions]
    return [
        (path, {n.removeprefix("partition."): v[i] for n, v in zip(partitions, values)})
        for i, path in enumerate(paths)
    ]


def read_rows(fs: Any, path: str, rows: pa.Array, columns: list[str] | None = None) -> pa.Table:
    """Rows ``rows`` (sorted positions) of one Parquet file, reading only the row groups that hold them."""
    pieces = [data for _, data in read_rows_by_group(fs, path, rows, columns)]
    if pieces:
        return pa.concat_tables(pieces)
    with fs.open_input_file(path) as handle:
        return pq.ParquetFile(handle).schema_arrow.empty_table()


def read_rows_by_group(
    fs: Any, path: str, rows: pa.Array, columns: list[str] | None = None
) -> Iterator[tuple[pa.Array, pa.Table]]:
    """
    :func:`read_rows` one row group at a time (memory of one group, whatever the file's size).

    Yields ``(mask, data)``: which of ``rows`` the group holds, and those rows.
    """
    import pyarrow.compute as pc

    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        start = 0
        for group in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            mine = pc.and_(pc.greater_equal(rows, start), pc.less(rows, start + size))
            if pc.any(mine).as_py():
                data = parquet.read_row_group(group, columns=columns)
                yield mine, data.take(pc.subtract(rows.filter(mine), start))
            start += size


def arrow_schema(table: Any) -> pa.Schema:
    return pa.schema(table.schema().to_arrow())


def commit_properties(load_id: str, export_gid: str) -> Any:
    from deltalake.transaction import CommitProperties

    return CommitProperties(
        custom_metadata={LOAD_ID_KEY: load_id, EXPORT_GID_KEY: export_gid}, max_commit_retries=0
    )


def commit(
    root: TablesRoot,
    relative: str,
    files: DataFiles,
    schema: pa.Schema,
    *,
    mode: str,
    load_id: str,
    export_gid: str,
    partition_by: list[str] | None = None,
    partition_filters: list[tuple[str, str, Any]] | None = None,
) -> int:
    """
    Commit ``files`` to the table at ``relative`` (created when missing). Returns the new version.

    :param mode: ``"overwrite"`` (the files replace the table's; with ``partition_filters`` only those
        partitions) or ``"append"``.
    """
    from deltalake import Schema
    from deltalake.transaction import create_table_with_add_actions

    properties = commit_properties(load_id, export_gid)
    table = open_table(root, relative)
    if table is None:
        create_table_with_add_actions(
            root.table_uri(relative),
            Schema.from_arrow(schema),
            files.actions,
            mode="error",
            partition_by=partition_by,
            storage_options=root.storage_options or None,
            commit_properties=properties,
        )
        return 0
    table.create_write_transaction(
        files.actions,
        mode=mode,
        schema=schema,
        partition_by=partition_by,
        partition_filters=partition_filters,
        commit_properties=properties,
    )
    table.update_incremental()
    return table.version()


def versions_by_load(table: Any, since: int) -> dict[int, str | None]:
    """``{version: load id}`` of the commits after ``since``."""
    return {
        entry["version"]: entry.get(LOAD_ID_KEY)
        for entry in table.history(max(table.version() - since, 0))
        if entry["version"] > since
    }
