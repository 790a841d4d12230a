"""
Combine the column types seen in different parts of an export into types that hold every value.

Also convert a part's columns to the combined type.

The rules (the docs page "Lake tables" states them for users):

- a field null everywhere so far takes the type of the first non-null value;
- integers and floats combine to ``double``;
- objects combine field by field, arrays element by element;
- scalars of different kinds (number, string, boolean, timestamp) combine to **text**: strings unchanged,
  numbers and booleans as their JSON text, timestamps as ``YYYY-MM-DD HH:MM:SS``;
- an object or array meeting anything of another shape combines to **JSON text**: every value as its JSON
  text; so does an array whose items would need text or JSON text (Delta keeps no metadata on array items).

A column converted this way carries field metadata ``asana.encoding`` (``text`` or ``json``) and
``asana.kinds`` (the kinds that met, e.g. ``number,string``); Delta keeps field metadata, so the encoding of a
column is known to the next load and to readers.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

ENCODING = b"asana.encoding"
KINDS = b"asana.kinds"
#: A field renamed because Delta compares column names without case: its name in the source.
SOURCE_NAME = b"asana.source_name"
#: A field stored as text (or an array of text) only because every value seen so far was null (or an array
#: of nulls): Delta has no null type. A later load that merges into the table takes the first real type.
NULL_ONLY = b"asana.null_only"
TEXT = "text"
JSON = "json"

TIMESTAMP = pa.timestamp("us", tz="UTC")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def kind(data_type: pa.DataType) -> str:
    """Return the JSON kind of ``data_type``'s values: null, boolean, number, string, timestamp, object, array."""
    if pa.types.is_null(data_type):
        return "null"
    if pa.types.is_boolean(data_type):
        return "boolean"
    if pa.types.is_integer(data_type) or pa.types.is_floating(data_type):
        return "number"
    if pa.types.is_timestamp(data_type):
        return "timestamp"
    if pa.types.is_struct(data_type):
        return "object"
    if pa.types.is_list(data_type) or pa.types.is_large_list(data_type):
        return "array"
    return "string"


def encoding_of(field: pa.Field) -> str | None:
    value = (field.metadata or {}).get(ENCODING)
    return value.decode() if value else None


def kinds_of(field: pa.Field) -> set[str]:
    value = (field.metadata or {}).get(KINDS)
    return set(value.decode().split(",")) if value else {kind(field.type)} - {"null"}


def encoded(name: str, encoding: str, kinds: Iterable[str], metadata: dict | None = None) -> pa.Field:
    """Make a string field holding values converted to ``encoding`` (``text`` or ``json``)."""
    meta = {k: v for k, v in (metadata or {}).items() if k not in (ENCODING, KINDS)}
    meta.update({ENCODING: encoding.encode(), KINDS: ",".join(sorted(set(kinds) - {"null"})).encode()})
    return pa.field(name, pa.string(), metadata=meta)


def _keep_meta(field: pa.Field) -> dict | None:
    meta = {k: v for k, v in (field.metadata or {}).items() if k == SOURCE_NAME}
    return meta or None


def _mark_null_only(field: pa.Field) -> pa.Field:
    return field.with_metadata({**(field.metadata or {}), NULL_ONLY: b"true"})


def is_null_only(field: pa.Field) -> bool:
    return (field.metadata or {}).get(NULL_ONLY) == b"true"


def revive_null_only(field: pa.Field) -> pa.Field:
    """
    Return a stored field with its null-only parts typed null again, so that unifying it keeps later types.

    The inverse of :func:`final_field` for the placeholders it made.
    """
    t = field.type
    meta = {k: v for k, v in (field.metadata or {}).items() if k != NULL_ONLY} or None
    if is_null_only(field):
        return pa.field(field.name, pa.list_(pa.null()) if pa.types.is_list(t) else pa.null(), metadata=meta)
    if pa.types.is_struct(t):
        return field.with_type(pa.struct([revive_null_only(f) for f in t]))
    if pa.types.is_list(t):
        return field.with_type(pa.list_(revive_null_only(t.value_field)))
    return field


def unify_fields(a: pa.Field, b: pa.Field) -> pa.Field:
    """Return the field (named like ``a``) whose type holds every value of ``a`` and of ``b``."""
    name, meta = a.name, _keep_meta(a)
    enc_a, enc_b = encoding_of(a), encoding_of(b)
    ta, tb = a.type, b.type
    if JSON in (enc_a, enc_b):
        return encoded(name, JSON, kinds_of(a) | kinds_of(b), meta)
    if pa.types.is_null(tb):
        return a
    if pa.types.is_null(ta):
        return b.with_name(name)
    if enc_a == TEXT or enc_b == TEXT:
        if kind(ta) in ("object", "array") or kind(tb) in ("object", "array"):
            return encoded(name, JSON, kinds_of(a) | kinds_of(b), meta)
        return encoded(name, TEXT, kinds_of(a) | kinds_of(b), meta)
    if ta.equals(tb) and not _has_nested_encoding(ta) and not _has_nested_encoding(tb):
        return a
    ka, kb = kind(ta), kind(tb)
    if ka == kb == "number":
        both_int = pa.types.is_integer(ta) and pa.types.is_integer(tb)
        return pa.field(name, pa.int64() if both_int else pa.float64(), metadata=meta)
    if ka == kb == "object":
        merged = {f.name: f for f in ta}
        for f in tb:
            merged[f.name] = unify_fields(merged[f.name], f) if f.name in merged else f
        return pa.field(name, pa.struct(list(merged.values())), metadata=meta)
    if ka == kb == "array":
        item = unify_fields(ta.value_field, tb.value_field)
        if encoding_of(item):  # Delta keeps no metadata on array items: the whole array becomes JSON text
            return encoded(name, JSON, {"array"} | {f"array of {k}" for k in kinds_of(item)}, meta)
        return pa.field(name, pa.list_(item), metadata=meta)
    if ka == kb:  # same scalar kind, other unit or flavour (e.g. string and large_string)
        return a
    if "object" in (ka, kb) or "array" in (ka, kb):
        return encoded(name, JSON, {ka, kb}, meta)
    return encoded(name, TEXT, {ka, kb}, meta)


def _has_nested_encoding(data_type: pa.DataType) -> bool:
    if pa.types.is_struct(data_type):
        return any(encoding_of(f) or _has_nested_encoding(f.type) for f in data_type)
    if pa.types.is_list(data_type):
        return bool(encoding_of(data_type.value_field)) or _has_nested_encoding(data_type.value_type)
    return False


def revive_schema(schema: pa.Schema) -> pa.Schema:
    """:func:`revive_null_only` for every field of a stored schema."""
    return pa.schema([revive_null_only(f) for f in schema])


def unify_schemas(schemas: Iterable[pa.Schema]) -> pa.Schema:
    """Fields by name, in the order they were first seen, each with :func:`unify_fields` of all its types."""
    merged: dict[str, pa.Field] = {}
    for schema in schemas:
        for field in schema:
            merged[field.name] = unify_fields(merged[field.name], field) if field.name in merged else field
    return pa.schema(list(merged.values()))


def final_field(field: pa.Field) -> pa.Field:
    """
    Return the stored form of a field.

    Delta has no null type: a field null everywhere becomes a string, an array of nulls an array of strings.
    """
    t = field.type
    if pa.types.is_null(t):
        return _mark_null_only(field.with_type(pa.string()))
    if pa.types.is_struct(t):
        return field.with_type(pa.struct([final_field(f) for f in t]))
    if pa.types.is_list(t):
        if pa.types.is_null(t.value_type):  # Delta keeps no metadata on array items: mark the array
            return _mark_null_only(field.with_type(pa.list_(pa.string())))
        return field.with_type(pa.list_(final_field(t.value_field)))
    return field


def deduplicate_names(
    fields: list[pa.Field], reserved: Iterable[str] = ()
) -> tuple[list[pa.Field], dict[str, str]]:
    """
    Rename fields whose names clash without case to ``<name>__2`` (``__3``, ...), nested fields too.

    Delta compares column names without case: ``Name`` after ``name`` clashes, and so does a source field
    called like a loader column.

    Returns the fields and ``{path of a renamed field: its source name}``.
    """
    taken = {name.lower() for name in reserved}
    out, renamed = [], {}
    for given in fields:
        field = given
        if pa.types.is_struct(field.type):
            children, inner = deduplicate_names(list(field.type))
            field = field.with_type(pa.struct(children))
            renamed.update({f"{field.name}.{k}": v for k, v in inner.items()})
        name, n = field.name, 1
        while name.lower() in taken:
            n += 1
            name = f"{field.name}__{n}"
        if name != field.name:
            meta = dict(field.metadata or {})
            meta[SOURCE_NAME] = field.name.encode()
            renamed[name] = field.name
            field = field.with_name(name).with_metadata(meta)
        taken.add(name.lower())
        out.append(field)
    return out, renamed


def source_name(field: pa.Field) -> str:
    value = (field.metadata or {}).get(SOURCE_NAME)
    return value.decode() if value else field.name


def drift(schema: pa.Schema) -> dict[str, str]:
    """Describe every column (nested ones too) holding converted values: ``{path: "text (number, string)"}``."""
    out: dict[str, str] = {}

    def walk(field: pa.Field, path: str) -> None:
        enc = encoding_of(field)
        if enc:
            out[path] = f"{enc} ({', '.join(sorted(kinds_of(field)))})"
        elif source_name(field) != field.name:
            out[path] = f"renamed from {source_name(field)!r} (Delta column names ignore case)"
        t = field.type
        if pa.types.is_struct(t):
            for child in t:
                walk(child, f"{path}.{child.name}")
        elif pa.types.is_list(t):
            walk(t.value_field, f"{path}[]")

    for field in schema:
        walk(field, field.name)
    return out


def same_layout(a: pa.Field, b: pa.Field) -> bool:
    """Tell whether type, encodings and names are the same all the way down (type equality ignores metadata)."""
    if not a.type.equals(b.type) or encoding_of(a) != encoding_of(b):
        return False
    if pa.types.is_struct(a.type):
        return all(same_layout(x, y) for x, y in zip(a.type, b.type))
    if pa.types.is_list(a.type):
        return same_layout(a.type.value_field, b.type.value_field)
    return True


# -- converting values ---------------------------------------------------------------------------------------


def conform(array: pa.Array, source: pa.Field, target: pa.Field) -> pa.Array:
    """``array`` (typed as ``source``) converted to ``target``, a type :func:`unify_fields` made from it."""
    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([conform(c, source, target) for c in array.chunks], type=target.type)
    if same_layout(source, target):
        return array
    t, enc = target.type, encoding_of(target)
    if pa.types.is_null(array.type) or pa.types.is_null(source.type):  # a null-only placeholder
        return pa.nulls(len(array), t)
    if enc == JSON:
        return _as_json_text(array, source)
    if enc == TEXT:
        return _as_text(array, source)
    if pa.types.is_floating(t) or pa.types.is_integer(t):
        return array.cast(t)
    if pa.types.is_struct(t):
        by_name = {f.name: f for f in source.type}
        children = [
            conform(array.field(source_name(f)), by_name[source_name(f)], f)
            if source_name(f) in by_name
            else pa.nulls(len(array), f.type)
            for f in t
        ]
        return pa.StructArray.from_arrays(children, fields=list(t), mask=_null_mask(array))
    if pa.types.is_list(t):
        values = conform(array.values, source.type.value_field, t.value_field)
        return pa.ListArray.from_arrays(array.offsets, values, type=t, mask=_null_mask(array))
    if pa.types.is_string(t) and pa.types.is_large_string(array.type):
        return array.cast(t)
    raise TypeError(f"cannot convert {source.type} to {t}")  # unify_fields never asks for this


def conform_table(table: pa.Table, target: pa.Schema) -> pa.Table:
    """
    ``table`` with ``target``'s columns: each converted with :func:`conform`, a missing one all null.

    A null-only placeholder column of ``table`` (:func:`final_field`) converts as the nulls it holds.
    """
    fields = {f.name: f for f in table.schema}
    arrays = [
        conform(table.column(f.name).combine_chunks(), revive_null_only(fields[f.name]), f)
        if f.name in fields
        else pa.nulls(table.num_rows, f.type)
        for f in target
    ]
    return pa.Table.from_arrays(arrays, schema=target)


def _null_mask(array: pa.Array) -> pa.Array | None:
    return array.is_null() if array.null_count else None


def _as_text(array: pa.Array, source: pa.Field) -> pa.Array:
    t = array.type
    if pa.types.is_timestamp(t):
        return pc.strftime(array.cast(pa.timestamp("s", tz="UTC")), format=TIMESTAMP_FORMAT)
    if pa.types.is_string(t):
        return array
    return array.cast(pa.string())  # numbers, booleans ("true"/"false")


def _json_default(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return value.strftime(TIMESTAMP_FORMAT)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_text(value: Any) -> str:
    """Return the JSON text of one value, compact, Unicode kept."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)


def _as_json_text(array: pa.Array, source: pa.Field) -> pa.Array:
    if encoding_of(source) == JSON:
        return array
    return pa.array([None if v is None else json_text(v) for v in array.to_pylist()], pa.string())
