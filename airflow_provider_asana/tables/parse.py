"""
One chunk of JSON lines of one table into an Arrow table.

The fast path is pyarrow's JSON reader over the whole chunk (one block, so a field null in the first lines and
an array later still infers). When a field's kinds conflict inside the chunk (``external`` an object in some
records and a string in others), the reader names the field: the lines are grouped by the kind of that field's
value, each group is read the fast way again, and the groups' types combine as those of different chunks do
(:mod:`airflow_provider_asana.tables.schema`). Anything else irregular (a bad line, a
duplicate key, a conflict that grouping does not separate) sends the lines through :mod:`json`: each column
gets a type that holds every value, and bad lines are set aside with the reason.

Timestamps: only top-level fields whose every value is Asana timestamp text (``YYYY-MM-DD HH:MM:SS``) become
``timestamp[us, UTC]``. pyarrow's reader also infers ``2024-01-01``, ``2024-01-01T10:00Z`` and the like as
timestamps and nested fields too; a chunk holding such text, or a nested timestamp, is read again with those
fields as strings, so no text is ever rewritten.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from airflow_provider_asana.tables.naming import ORGANIZATION, RecordFormat
from airflow_provider_asana.tables.schema import (
    JSON,
    TEXT,
    TIMESTAMP,
    TIMESTAMP_FORMAT,
    conform_table,
    encoded,
    encoding_of,
    json_text,
    kind,
    kinds_of,
    unify_schemas,
)

#: Date-like JSON text that is not exactly ``"YYYY-MM-DD HH:MM:SS"`` (RE2 has no look-ahead: every way to
#: leave the canonical form is spelled out).
_NOT_CANONICAL = (
    r'"\d{4}-\d\d-\d\d(?:[^ ]| [^0-9]| \d[^0-9]| \d\d[^:]| \d\d:[^0-9]| \d\d:\d[^0-9]| \d\d:\d\d[^:]'
    r'| \d\d:\d\d:[^0-9]| \d\d:\d\d:\d[^0-9]| \d\d:\d\d:\d\d[^"])'
)

#: pyarrow's message when a field's kinds conflict inside a chunk: ``Column(/external) changed from string to
#: object in row 32``; the last named step of the path is grouped on.
_CONFLICT = re.compile(r"Column\((?:/(?:[^/)]*|\[\]))*/([^/)\[\]]+)(?:/\[\])*\) changed from")
_KIND_OF_FIRST_BYTE = {
    b"{": "object",
    b"[": "array",
    b'"': "string",
    b"t": "boolean",
    b"f": "boolean",
    b"n": "null",
}
#: How many times one chunk's lines are grouped before the rest is read line by line.
_MAX_SPLITS = 4


@dataclass
class BadLine:
    """A line that is not a JSON object with a ``__type``."""

    number: int
    reason: str
    line: bytes


@dataclass
class ParsedChunk:
    """What a chunk's lines became: a table, and the lines that did not make rows."""

    table: pa.Table
    #: Positions (in the chunk) of the lines that made the rows, row by row; None: every line, in order.
    kept: list[int] | None = None
    bad: list[BadLine] = field(default_factory=list)
    #: Lines whose top-level ``__type`` belongs to another table (a nested ``__type`` fooled the router).
    misrouted: list[tuple[int, bytes, str]] = field(default_factory=list)


def parse_chunk(
    data: bytes,
    lines: list[bytes],
    numbers: Sequence[int],
    table_name: str,
    fmt: RecordFormat = ORGANIZATION,
) -> ParsedChunk:
    r"""
    Parse one chunk of lines of one table.

    :param data: the chunk: ``lines`` joined with ``\n``.
    :param lines: its lines (no newline), for the slow path.
    :param numbers: their line numbers in the export file (1-based).
    :param table_name: the table the router sent them to.
    :param fmt: what a record looks like (its kind field and key).
    """
    parsed = _read(data, lines, numbers, table_name, fmt, depth=0)
    parsed.table = without_empty_structs(parsed.table)
    return parsed


def _read(
    data: bytes,
    lines: list[bytes],
    numbers: Sequence[int],
    table_name: str,
    fmt: RecordFormat,
    *,
    depth: int,
) -> ParsedChunk:
    table = _read_fast(data, len(lines), table_name, fmt)
    if isinstance(table, pa.Table):
        return ParsedChunk(table)
    groups = _groups_by_kind(data, lines, table) if table is not None and depth < _MAX_SPLITS else None
    if groups is None:
        return _read_slow(lines, numbers, table_name, fmt)
    parts = []
    for positions in groups:
        part_lines = [lines[i] for i in positions]
        part = _read(
            b"\n".join(part_lines),
            part_lines,
            [numbers[i] for i in positions],
            table_name,
            fmt,
            depth=depth + 1,
        )
        parts.append((positions, part))
    return _combine(parts, len(lines))


# -- fast path -----------------------------------------------------------------------------------------------


def _read_json(data: bytes, schema: pa.Schema | None = None) -> pa.Table:
    parse = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer") if schema else None
    return pj.read_json(
        pa.BufferReader(data),
        read_options=pj.ReadOptions(block_size=len(data) + 1, use_threads=False),
        parse_options=parse,
    )


def _read_fast(data: bytes, n_lines: int, table_name: str, fmt: RecordFormat) -> pa.Table | str | None:
    """Return the chunk as a table; or the name of a field whose kinds conflict; or None (irregular)."""
    try:
        _whole(data, pa.large_string()).validate(full=True)  # pyarrow's reader does not check UTF-8
        table = _read_json(data)
    except pa.ArrowException as exc:
        conflict = _CONFLICT.search(str(exc))
        return conflict.group(1) if conflict else None
    if (
        table.num_rows != n_lines
        or not _types_belong(table, table_name, fmt)
        or not _keys_present(table, fmt)
    ):
        return None
    return _timestamps(table, data)


def _groups_by_kind(data: bytes, lines: list[bytes], field_name: str) -> list[list[int]] | None:
    """
    Group the lines by the kind of ``field_name``'s first value in each (lines without one join the largest).

    None when that makes fewer than two groups. The grouping is a guess (a nested field of the same name can
    come first); a group that still conflicts is grouped again or read line by line.
    """
    pattern = '"' + re.escape(field_name) + r'"[ \t]*:[ \t]*(?P<first>[^ \t])'
    ends = [0, *itertools.accumulate(len(line) + 1 for line in lines)]
    ends[-1] = len(data)  # each value is a line and its newline; the last line has none
    offsets = pa.array(ends, pa.int64()).buffers()[1]
    each = pa.Array.from_buffers(pa.large_binary(), len(lines), [None, offsets, pa.py_buffer(data)])
    first = pc.extract_regex(each, pattern).flatten()[0]  # null where the field is absent
    by_kind: dict[str, list[bytes]] = {}
    for value in pc.unique(first).drop_null().to_pylist():
        by_kind.setdefault(_KIND_OF_FIRST_BYTE.get(value, "number"), []).append(value)
    by_kind.pop("null", None)
    if len(by_kind) < 2:
        return None
    masks = {
        kind: pc.fill_null(pc.is_in(first, pa.array(values, first.type)), False)
        for kind, values in by_kind.items()
    }
    largest = max(masks, key=lambda kind: pc.sum(masks[kind]).as_py())
    # the largest group takes every other line too: those whose field is null or absent
    masks[largest] = pc.invert(functools.reduce(pc.or_, [m for kind, m in masks.items() if kind != largest]))
    return sorted(pc.indices_nonzero(mask).to_pylist() for mask in masks.values())


def _combine(parts: list[tuple[list[int], ParsedChunk]], n_lines: int) -> ParsedChunk:
    """Join groups of one chunk's lines: types combined as across chunks, rows group after group."""
    schema = unify_schemas(part.table.schema for _, part in parts)
    tables, kept, combined = [], [], ParsedChunk(pa.table({}))
    for positions, part in parts:
        tables.append(conform_table(part.table, schema))
        kept.extend(positions if part.kept is None else [positions[i] for i in part.kept])
        combined.bad.extend(part.bad)
        combined.misrouted.extend(part.misrouted)
    combined.table = pa.concat_tables(tables)
    combined.kept = kept
    return combined


def _types_belong(table: pa.Table, table_name: str, fmt: RecordFormat) -> bool:
    if fmt.type_field not in table.column_names:
        return False
    types = table.column(fmt.type_field)
    if not pa.types.is_string(types.type) or types.null_count:
        return False
    return all(name and fmt.table_for_type(name) == table_name for name in pc.unique(types).to_pylist())


def _keys_present(table: pa.Table, fmt: RecordFormat) -> bool:
    if not fmt.key_required:
        return True
    if fmt.key not in table.column_names:
        return False
    keys = table.column(fmt.key)
    return pa.types.is_string(keys.type) and not keys.null_count and not pc.any(pc.equal(keys, "")).as_py()


def _has_timestamp(data_type: pa.DataType) -> bool:
    if pa.types.is_timestamp(data_type):
        return True
    if pa.types.is_struct(data_type):
        return any(_has_timestamp(f.type) for f in data_type)
    if pa.types.is_list(data_type):
        return _has_timestamp(data_type.value_type)
    return False


def _timestamps_as_strings(data_type: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(data_type):
        return pa.string()
    if pa.types.is_struct(data_type):
        return pa.struct([f.with_type(_timestamps_as_strings(f.type)) for f in data_type])
    if pa.types.is_list(data_type):
        return pa.list_(data_type.value_field.with_type(_timestamps_as_strings(data_type.value_type)))
    return data_type


def _timestamps(table: pa.Table, data: bytes) -> pa.Table:
    schema = table.schema
    top = [i for i, f in enumerate(schema) if pa.types.is_timestamp(f.type)]
    nested = any(_has_timestamp(f.type) for f in schema if not pa.types.is_timestamp(f.type))
    if not top and not nested:
        return table
    if not nested and not _not_canonical(data):
        for i in top:
            table = table.set_column(i, schema.field(i).with_type(TIMESTAMP), table.column(i).cast(TIMESTAMP))
        return table
    table = _read_json(data, pa.schema([f.with_type(_timestamps_as_strings(f.type)) for f in schema]))
    for i in top:
        converted = timestamps_or_none(table.column(i))
        if converted is not None:
            table = table.set_column(i, table.schema.field(i).with_type(TIMESTAMP), converted)
    return table


def _whole(data: bytes, data_type: pa.DataType) -> pa.Array:
    """Wrap ``data`` in a one-value array, without a copy."""
    return pa.Array.from_buffers(
        data_type, 1, [None, pa.array([0, len(data)], pa.int64()).buffers()[1], pa.py_buffer(data)]
    )


def _not_canonical(data: bytes) -> bool:
    return pc.match_substring_regex(_whole(data, pa.large_binary()), _NOT_CANONICAL)[0].as_py()


def timestamps_or_none(column: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array | None:
    """``column`` (text) as UTC timestamps when every value is exactly ``YYYY-MM-DD HH:MM:SS``, else None."""
    parsed = pc.strptime(column, format=TIMESTAMP_FORMAT, unit="s", error_is_null=True)
    if parsed.null_count != column.null_count:
        return None
    exact = pc.all(pc.equal(pc.strftime(parsed, format=TIMESTAMP_FORMAT), column)).as_py()
    if exact is False:
        return None  # strptime is lenient (2024-02-30 reads as March 1st): only exact round trips count
    return parsed.cast(TIMESTAMP)


# -- slow path -----------------------------------------------------------------------------------------------


class _DuplicateKey(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise _DuplicateKey(f"duplicate key {duplicate!r}")
    return obj


def _read_slow(lines: list[bytes], numbers: Sequence[int], table_name: str, fmt: RecordFormat) -> ParsedChunk:
    records: list[dict[str, Any]] = []
    kept: list[int] = []
    bad: list[BadLine] = []
    misrouted: list[tuple[int, bytes, str]] = []
    for position, (line, number) in enumerate(zip(lines, numbers)):
        try:
            obj = json.loads(line, object_pairs_hook=_pairs)
        except _DuplicateKey as exc:
            bad.append(BadLine(number, f"not a JSON object with a __type: {exc}", line))
            continue
        except (ValueError, UnicodeDecodeError) as exc:
            bad.append(BadLine(number, f"not valid JSON: {exc}", line))
            continue
        reason = problem(obj, fmt)
        if reason:
            bad.append(BadLine(number, reason, line))
            continue
        target = fmt.table_for_type(fmt.kind_of(obj))
        if target != table_name:
            misrouted.append((number, line, target))
            continue
        records.append(obj)
        kept.append(position)
    return ParsedChunk(records_to_table(records), kept, bad, misrouted)


def problem(obj: Any, fmt: RecordFormat = ORGANIZATION) -> str | None:
    """Why a parsed line is not a record, or None."""
    field, key = fmt.type_field, fmt.key
    what = f"a JSON object with a {field}" + (f" and a {key}" if fmt.key_required else "")
    if not isinstance(obj, dict):
        return f"not {what}: a JSON {kind_of_value(obj)}"
    type_name = obj.get(field)
    if field not in obj and fmt.default_type:
        pass
    elif not isinstance(type_name, str) or not type_name:
        return f"not {what}: " + (
            f"no {field} field" if field not in obj else f"{field} is {json_text(type_name)}, not a type name"
        )
    if fmt.key_required:
        value = obj.get(key)
        if not isinstance(value, str) or not value:
            return f"not {what}: " + (
                f"no {key} field" if key not in obj else f"{key} is {json_text(value)}, not an id text"
            )
    return None


def kind_of_value(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    return "array"


def records_to_table(records: list[dict[str, Any]]) -> pa.Table:
    """Build a table from parsed records: fields in the order first seen, each typed to hold its values."""
    names: dict[str, None] = {}
    for record in records:
        names.update(dict.fromkeys(record))
    fields, arrays = [], []
    for name in names:
        f, array = python_column(name, [r.get(name) for r in records], top_level=True)
        fields.append(f)
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields)) if fields else pa.table({})


def python_column(name: str, values: list[Any], *, top_level: bool) -> tuple[pa.Field, pa.Array]:
    """One column from Python values, following the rules of :func:`schema.unify_fields`."""
    kinds = {kind_of_value(v) for v in values} - {"null"}
    if not kinds:
        return pa.field(name, pa.null()), pa.nulls(len(values))
    if kinds == {"object"}:
        keys: dict[str, None] = {}
        for v in values:
            if v is not None:
                keys.update(dict.fromkeys(v))
        if keys:
            children = [
                python_column(k, [None if v is None else v.get(k) for v in values], top_level=False)
                for k in keys
            ]
            mask = pa.array([v is None for v in values], pa.bool_())
            array = pa.StructArray.from_arrays(
                [a for _, a in children], fields=[f for f, _ in children], mask=mask
            )
            return pa.field(name, array.type), array
    if kinds == {"array"}:
        flat = [item for v in values if v is not None for item in v]
        offsets, total = [0], 0
        for v in values:
            total += len(v) if v is not None else 0
            offsets.append(total)
        item, items = python_column("item", flat, top_level=False)
        if not encoding_of(item):  # else the whole array becomes JSON text, as schema.unify_fields says
            mask = pa.array([v is None for v in values], pa.bool_())
            array = pa.ListArray.from_arrays(
                pa.array(offsets, pa.int32()), items, type=pa.list_(item), mask=mask
            )
            return pa.field(name, array.type), array
        kinds = {"array"} | {f"array of {k}" for k in kinds_of(item)}
    if "object" in kinds or "array" in kinds:
        return encoded(name, JSON, kinds), pa.array(
            [None if v is None else json_text(v) for v in values], pa.string()
        )
    if kinds == {"string"}:
        array = pa.array(values, pa.string())
        if top_level:
            stamps = timestamps_or_none(array)
            if stamps is not None:
                return pa.field(name, TIMESTAMP), stamps
        return pa.field(name, pa.string()), array
    if kinds == {"boolean"}:
        return pa.field(name, pa.bool_()), pa.array(values, pa.bool_())
    if kinds == {"number"}:
        if all(isinstance(v, int) for v in values if v is not None):
            try:
                return pa.field(name, pa.int64()), pa.array(values, pa.int64())
            except OverflowError:
                return encoded(name, TEXT, {"number"}), pa.array(
                    [None if v is None else str(v) for v in values]
                )
        return pa.field(name, pa.float64()), pa.array(
            [None if v is None else float(v) for v in values], pa.float64()
        )
    # conflicting scalars: strings as they are, numbers and booleans as their JSON text
    text = [None if v is None else v if isinstance(v, str) else json_text(v) for v in values]
    return encoded(name, TEXT, kinds), pa.array(text, pa.string())


def _has_empty_struct(data_type: pa.DataType) -> bool:
    if pa.types.is_struct(data_type):
        return data_type.num_fields == 0 or any(_has_empty_struct(f.type) for f in data_type)
    if pa.types.is_list(data_type):
        return _has_empty_struct(data_type.value_type)
    return False


def without_empty_structs(table: pa.Table) -> pa.Table:
    """Parquet cannot store an object with no fields: such a column becomes JSON text (``{}``)."""
    for i, f in enumerate(table.schema):
        if _has_empty_struct(f.type):
            values = table.column(i).to_pylist()
            table = table.set_column(
                i,
                encoded(f.name, JSON, {kind(f.type)}),
                pa.array([None if v is None else json_text(v) for v in values], pa.string()),
            )
    return table
