"""
Stage an export: the first pass over its lines.

Route each line to its table by ``__type``, parse the lines of one table a chunk at a time, and append every
parsed chunk to the table's staged Parquet files, in the form the table stores it
(:mod:`airflow_provider_asana.tables.staged`).

Memory stays flat whatever the file size: at most ``buffer_bytes`` of lines wait in the routing buffers and
at most ``workers + 1`` chunks are being parsed.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.parquet as pq

from airflow_provider_asana.tables.errors import BadLineError
from airflow_provider_asana.tables.naming import (
    ADDED_COLUMNS,
    CHANGE_TYPE,
    ORGANIZATION,
    RECORD_HASH,
    RecordFormat,
)
from airflow_provider_asana.tables.parse import BadLine, ParsedChunk, parse_chunk, problem
from airflow_provider_asana.tables.schema import SOURCE_NAME
from airflow_provider_asana.tables.staged import StagedTable

#: How rejected lines are staged (the ``_rejected`` table adds the export columns).
REJECTED_SCHEMA = pa.schema([("line_number", pa.int64()), ("reason", pa.string()), ("line", pa.binary())])


def record_hashes(lines: list[bytes]) -> pa.Array:
    """
    Hash each line for ``_export_record_hash``: XXH3-64 of its bytes (a stable, specified hash), as int64.

    A change of the line's bytes changes it (a key order or spacing change too: the record reads as updated).
    """
    from xxhash import xxh3_64_intdigest

    return pa.array(list(map(xxh3_64_intdigest, lines)), pa.uint64()).cast(pa.int64(), safe=False)


@dataclass
class _Buffer:
    table: str
    lines: list[bytes] = field(default_factory=list)
    numbers: array = field(default_factory=lambda: array("q"))
    size: int = 0


class Stager:
    """
    Route lines into per-table buffers and stage parsed chunks under ``directory``.

    :param directory: a local folder for the staged files (the loader's temp directory).
    :param on_bad_line: ``"fail"`` raises :class:`BadLineError` at the first bad line; ``"quarantine"`` keeps
        them for the ``_rejected`` table.
    :param chunk_bytes: lines of one table parsed together (a row group of the staged files).
    :param buffer_bytes: all routing buffers together; past it the largest buffer is parsed early.
    :param workers: threads parsing chunks (pyarrow releases the GIL while parsing and writing).
    :param export_columns: adds ``_export_gid`` and ``_export_created_at`` to a parsed chunk.
    :param fmt: what a record looks like: the field that routes it, its key.
    """

    def __init__(
        self,
        directory: str,
        *,
        export_columns: Callable[[pa.Table], pa.Table],
        on_bad_line: str = "fail",
        chunk_bytes: int = 8 << 20,
        buffer_bytes: int = 64 << 20,
        workers: int = 2,
        fmt: RecordFormat = ORGANIZATION,
    ) -> None:
        self.directory = directory
        self.export_columns = export_columns
        self.fmt = fmt
        self.on_bad_line = on_bad_line
        self.chunk_bytes = chunk_bytes
        self.buffer_bytes = buffer_bytes
        self.tables: dict[str, StagedTable] = {}
        self.lines = 0
        self.rejected = 0
        self._by_type: dict[bytes, _Buffer] = {}
        self._by_table: dict[str, _Buffer] = {}
        self._buffered = 0
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="asana-tables-parse")
        self._pending: list[Future] = []
        self._max_pending = workers + 1
        self._rejected_rows: list[BadLine] = []
        self._rejected_writer: pq.ParquetWriter | None = None
        self._partial = b""

    # -- input -----------------------------------------------------------------------------------------------
    def feed(self, block: bytes) -> None:
        """Route the complete lines of ``block`` (a partial last line waits for the next block)."""
        lines = block.split(b"\n")
        if self._partial:
            lines[0] = self._partial + lines[0]
        self._partial = lines.pop()
        self._route(lines)

    def finish(self) -> dict[str, StagedTable]:
        """Route the last line, parse every buffer, wait for all chunks. Returns the staged tables."""
        if self._partial:
            self._route([self._partial])
            self._partial = b""
        while True:  # a harvest can hand back misrouted lines: flush again until nothing is left
            for buffer in list(self._by_table.values()):
                if buffer.lines:
                    self._flush(buffer)
            if not self._pending:
                break
            while self._pending:
                self._harvest(self._pending.pop(0))
        self._close_rejected()
        for table in self.tables.values():
            table.close()
        return {name: table for name, table in self.tables.items() if table.files}

    def close(self) -> None:
        """Stop the parse threads (after an error: pending chunks are dropped)."""
        for future in self._pending:
            future.cancel()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pending.clear()
        for table in self.tables.values():
            table.close()
        if self._rejected_writer is not None:
            self._rejected_writer.close()
            self._rejected_writer = None

    @property
    def rejected_path(self) -> str | None:
        path = os.path.join(self.directory, "rejected.parquet")
        return path if self.rejected else None

    # -- routing ---------------------------------------------------------------------------------------------
    def _route(self, lines: list[bytes]) -> None:
        search = self.fmt.type_pattern.search
        by_type = self._by_type
        number = self.lines
        chunk_bytes = self.chunk_bytes
        routed = 0
        for line in lines:
            number += 1
            match = search(line)
            if match is None:
                self._unrouted(line, number)
                continue
            buffer = by_type.get(match.group(1))
            if buffer is None:
                buffer = self._buffer_for(match.group(1))
            buffer.lines.append(line)
            buffer.numbers.append(number)
            size = len(line) + 1
            buffer.size += size
            routed += size
            if buffer.size >= chunk_bytes:
                self._buffered += routed
                routed = 0
                self._flush(buffer)
        self.lines = number
        self._buffered += routed
        while self._buffered > self.buffer_bytes:
            self._flush(max(self._by_table.values(), key=lambda b: b.size))

    def _buffer_for(self, type_bytes: bytes) -> _Buffer:
        table = self.fmt.table_for_type(type_bytes.decode("utf-8", "replace"))
        buffer = self._by_table.get(table)
        if buffer is None:
            buffer = self._by_table[table] = _Buffer(table)
        self._by_type[type_bytes] = buffer
        return buffer

    def _unrouted(self, line: bytes, number: int) -> None:
        """Place a line the fast router cannot: blank, bad, or a ``__type`` written with escapes."""
        if not line.strip():
            return  # blank lines carry nothing; JSON Lines readers skip them too
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            self._bad([BadLine(number, f"not valid JSON: {exc}", line)])
            return
        reason = problem(obj, self.fmt)
        if reason:
            self._bad([BadLine(number, reason, line)])
            return
        self._add(self.fmt.table_for_type(self.fmt.kind_of(obj)), line, number)

    def _add(self, table: str, line: bytes, number: int) -> None:
        buffer = self._by_table.get(table)
        if buffer is None:
            buffer = self._by_table[table] = _Buffer(table)
        buffer.lines.append(line)
        buffer.numbers.append(number)
        buffer.size += len(line) + 1
        self._buffered += len(line) + 1

    # -- parsing ---------------------------------------------------------------------------------------------
    def _flush(self, buffer: _Buffer) -> None:
        lines, numbers = buffer.lines, buffer.numbers
        buffer.lines, buffer.numbers = [], array("q")
        self._buffered -= buffer.size
        buffer.size = 0
        table = self.tables.get(buffer.table)
        if table is None:
            table = self.tables[buffer.table] = StagedTable(buffer.table, self.directory, key=self.fmt.key)
        while len(self._pending) >= self._max_pending:
            self._harvest(self._pending.pop(0))
        self._pending.append(
            self._pool.submit(_stage_chunk, table, lines, numbers, self.export_columns, self.fmt)
        )

    def _harvest(self, future: Future) -> None:
        parsed = future.result()
        if parsed.bad:
            self._bad(parsed.bad)
        for number, line, table in parsed.misrouted:
            self._add(table, line, number)

    def _bad(self, bad: Iterable[BadLine]) -> None:
        bad = sorted(bad, key=lambda b: b.number)
        if self.on_bad_line == "fail":
            first = bad[0]
            raise BadLineError(
                f"line {first.number:,} of the export is {first.reason}. "
                "Pass on_bad_line='quarantine' to load "
                "the export and keep such lines in the _rejected table.",
                line_number=first.number,
            )
        self.rejected += len(bad)
        self._rejected_rows.extend(bad)
        if len(self._rejected_rows) >= 10_000:
            self._write_rejected()

    def _write_rejected(self) -> None:
        rows = self._rejected_rows
        self._rejected_rows = []
        batch = pa.table(
            [
                pa.array([r.number for r in rows], pa.int64()),
                pa.array([r.reason for r in rows], pa.string()),
                pa.array([r.line for r in rows], pa.binary()),
            ],
            schema=REJECTED_SCHEMA,
        )
        if self._rejected_writer is None:
            self._rejected_writer = pq.ParquetWriter(
                os.path.join(self.directory, "rejected.parquet"), REJECTED_SCHEMA
            )
        self._rejected_writer.write_table(batch)

    def _close_rejected(self) -> None:
        if self._rejected_rows:
            self._write_rejected()
        if self._rejected_writer is not None:
            self._rejected_writer.close()
            self._rejected_writer = None


def _stage_chunk(
    table: StagedTable,
    lines: list[bytes],
    numbers: Sequence[int],
    export_columns: Callable[[pa.Table], pa.Table],
    fmt: RecordFormat,
) -> ParsedChunk:
    """Parse one chunk and append it to its table's staged files (in a parse thread)."""
    parsed = parse_chunk(b"\n".join(lines), lines, numbers, table.name, fmt)
    if parsed.table.num_rows:
        hashes = record_hashes(lines if parsed.kept is None else [lines[i] for i in parsed.kept])
        table.write(export_columns(_rename_reserved(parsed.table)).append_column(RECORD_HASH, hashes))
    return parsed


def _rename_reserved(table: pa.Table) -> pa.Table:
    """Rename a source field named like a loader column to ``<name>__2``, keeping its values."""
    reserved = {name.lower() for name in (*ADDED_COLUMNS, CHANGE_TYPE)}
    if not any(name.lower() in reserved for name in table.column_names):
        return table
    names = set(table.column_names)
    fields = []
    for f in table.schema:
        if f.name.lower() not in reserved:
            fields.append(f)
            continue
        n, new = 2, f"{f.name}__2"
        while new in names:
            n += 1
            new = f"{f.name}__{n}"
        names.add(new)
        fields.append(f.with_name(new).with_metadata({**(f.metadata or {}), SOURCE_NAME: f.name.encode()}))
    return pa.Table.from_arrays(table.columns, schema=pa.schema(fields))
