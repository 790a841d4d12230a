"""
A table's staged Parquet files: every parsed chunk is encoded once, in the form the table stores it.

Chunks are appended (one row group each) to a local file written with the table's types *so far*: the types
of every chunk before, combined (:func:`~airflow_provider_asana.tables.schema.unify_schemas`). A chunk whose
types fit goes in as it is, or converted to the wider types already seen; a chunk that brings a new column or
widens a type closes the file and starts the next one. At the end of the export a file whose columns all have
their final types becomes a data file of the table as it is (moved, not rewritten); only the files written
before a type widened are converted again (:class:`~airflow_provider_asana.tables.snapshot.TableLoad`).

A column null in every row so far is left out of the file (Delta reads a missing column as null), so a field
first seen late, or null in the first records, costs no conversion.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_asana.tables import schema as s
from airflow_provider_asana.tables.delta import FILE_BYTES, PARQUET_OPTIONS
from airflow_provider_asana.tables.naming import ADDED_COLUMNS, KEY


@dataclass
class StagedFile:
    """One staged Parquet file of a table."""

    path: str
    #: The file's columns: source fields in their stored form, then the export columns.
    schema: pa.Schema
    rows: int = 0
    #: Rows without a key (``__object_id``: not tracked by the change tables).
    untracked: int = 0


@dataclass
class StagedTable:
    """
    The staged files of one table, written by the parse threads one chunk at a time.

    :param name: the table.
    :param directory: the local folder of the staged files.
    :param key: the field that identifies an object (the record format's ``key``).
    """

    name: str
    directory: str
    key: str = KEY
    files: list[StagedFile] = field(default_factory=list)
    #: The source fields of every chunk so far, combined (``None`` before the first chunk).
    schema: pa.Schema | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _writer: pq.ParquetWriter | None = field(default=None, repr=False)

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def untracked(self) -> int:
        return sum(f.untracked for f in self.files)

    def write(self, chunk: pa.Table) -> None:
        """
        Append one parsed chunk: its source fields, then the export columns.

        Thread-safe: chunks of one table are written one at a time (their parsing is not).
        """
        source = pa.schema([f for f in chunk.schema if f.name not in ADDED_COLUMNS])
        with self._lock:
            combined = source if self.schema is None else s.unify_schemas([self.schema, source])
            stored = stored_schema(combined, chunk.schema)
            writer = self._writer
            if writer is None or not same_schema(self.files[-1].schema, stored):
                self._close()
                writer = self._open(stored)
            current = self.files[-1]
            self.schema = combined
            rows = s.conform_table(chunk, stored)
            writer.write_table(rows)
            current.rows += rows.num_rows
            current.untracked += (
                rows.column(self.key).null_count if self.key in rows.column_names else rows.num_rows
            )
            if os.path.getsize(current.path) >= FILE_BYTES:
                self._close()

    def close(self) -> None:
        """Close the open file (after the last chunk, or to give up)."""
        with self._lock:
            self._close()

    def _open(self, stored: pa.Schema) -> pq.ParquetWriter:
        path = os.path.join(self.directory, f"{self.name}-{len(self.files):05d}.parquet")
        self._writer = pq.ParquetWriter(path, stored, **PARQUET_OPTIONS)
        self.files.append(StagedFile(path, stored))
        return self._writer

    def _close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def stored_schema(source: pa.Schema, chunk: pa.Schema) -> pa.Schema:
    """
    Return the columns a staged file gets for source fields ``source``.

    Each field in its stored form (:func:`~airflow_provider_asana.tables.schema.final_field`), except those
    null in every row so far, then the chunk's export columns.
    """
    fields = [s.final_field(f) for f in source if not pa.types.is_null(f.type)]
    return pa.schema(fields + [chunk.field(name) for name in ADDED_COLUMNS if name in chunk.names])


def same_schema(a: pa.Schema, b: pa.Schema) -> bool:
    """Tell whether two files' columns are the same: names, order, types and encodings."""
    return a.names == b.names and all(s.same_layout(x, y) for x, y in zip(a, b))
