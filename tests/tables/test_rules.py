"""Where a kind lands, and how two column types combine."""

from __future__ import annotations

import pyarrow as pa
import pytest

from airflow_provider_asana.tables.naming import table_for_type
from airflow_provider_asana.tables.schema import conform, drift, encoded, encoding_of, unify_fields


@pytest.mark.parametrize(
    ("type_name", "table"),
    [
        ("Task", "task"), ("DomainUser", "domain_user"), ("ItemList", "item_list"), ("HTMLDoc", "html_doc"),
        ("Comment", "story"), ("TaskAddedToListComment", "story"), ("ProjectShareStory", "story"),
        ("Story", "story"), ("CommentHeartedStory", "story"), ("Commentary", "commentary"),
        ("_Exports", "exports"), ("__", "type_"), ("Änderung", "nderung"),
    ],
)  # fmt: skip
def test_table_for_type(type_name, table):
    assert table_for_type(type_name) == table
    assert not table_for_type(type_name).startswith("_")


S = pa.string()
T = pa.timestamp("us", tz="UTC")


@pytest.mark.parametrize(
    ("a", "b", "expected", "encoding"),
    [
        (pa.null(), pa.int64(), pa.int64(), None),
        (pa.int64(), pa.float64(), pa.float64(), None),
        (pa.int64(), S, S, "text"),
        (T, S, S, "text"),
        (pa.bool_(), pa.int64(), S, "text"),
        (
            pa.struct([("a", pa.int64())]),
            pa.struct([("b", S)]),
            pa.struct([("a", pa.int64()), ("b", S)]),
            None,
        ),
        (pa.struct([("a", pa.int64())]), S, S, "json"),
        (pa.list_(pa.int64()), pa.struct([("a", S)]), S, "json"),
        (pa.list_(pa.null()), pa.list_(pa.int64()), pa.list_(pa.int64()), None),
        (pa.list_(pa.int64()), pa.list_(S), S, "json"),  # items would need text: the whole array is JSON
    ],
)
def test_unify_fields(a, b, expected, encoding):
    for x, y in ((a, b), (b, a)):
        unified = unify_fields(pa.field("f", x), pa.field("f", y))
        fields = {f.name: f.type for f in unified.type} if pa.types.is_struct(expected) else unified.type
        assert fields == ({f.name: f.type for f in expected} if pa.types.is_struct(expected) else expected)
        assert encoding_of(unified) == encoding


def test_conform_converts_each_kind_to_its_text():
    text = encoded("f", "text", {"number", "string", "timestamp", "boolean"})
    assert conform(pa.array([1, None]), pa.field("f", pa.int64()), text).to_pylist() == ["1", None]
    assert conform(pa.array([True]), pa.field("f", pa.bool_()), text).to_pylist() == ["true"]
    assert conform(pa.array([0], T), pa.field("f", T), text).to_pylist() == ["1970-01-01 00:00:00"]
    as_json = encoded("f", "json", {"object", "string"})
    obj = pa.array([{"a": 1}, None])
    assert conform(obj, pa.field("f", obj.type), as_json).to_pylist() == ['{"a":1}', None]
    assert conform(pa.array(["x"]), pa.field("f", S), as_json).to_pylist() == ['"x"']


def test_drift_names_nested_columns():
    schema = pa.schema([pa.field("o", pa.struct([encoded("a", "text", {"number", "string"})]))])
    assert drift(schema) == {"o.a": "text (number, string)"}
