"""Schema drift never fails a load and never loses a value; the result names the converted columns."""

from __future__ import annotations

import datetime
import json

import pyarrow as pa
import pytest

from airflow_provider_asana.tables import load_organization_export

from tests.tables.helpers import UTC, assert_round_trip, rows, table, write_lines

TINY = 1 << 10  # a few records per chunk: each drift case spans chunks


def record(oid: int, **fields) -> dict:
    return {"__object_id": oid, "__type": "Task", "__creation_time": "2024-01-01 00:00:00", **fields}


def load(tmp_path, records, *, chunk_bytes=TINY, gid="1", name="e.json.gz", **kwargs):
    path = write_lines(tmp_path / name, [json.dumps(r, ensure_ascii=False) for r in records])
    return load_organization_export(
        path, tmp_path / "lake", export_gid=gid, chunk_bytes=chunk_bytes, **kwargs
    )


def task_types(tmp_path) -> dict[str, pa.DataType]:
    return {f.name: f.type for f in pa.schema(table(tmp_path / "lake", "task").schema().to_arrow())}


@pytest.mark.parametrize("chunk_bytes", [TINY, 8 << 20], ids=["across-chunks", "within-a-chunk"])
@pytest.mark.parametrize(
    ("values", "stored_type", "drift"),
    [
        pytest.param([None] * 30 + [5, 6], pa.int64(), None, id="null-in-the-first-records"),
        pytest.param([1] * 30 + [2.5], pa.float64(), None, id="integers-then-a-float"),
        pytest.param(
            [3] * 30 + ["3 hearts", True],
            pa.string(),
            "text (boolean, number, string)",
            id="number-string-boolean",
        ),
        pytest.param(
            [3] * 30 + ["three"] * 30, pa.string(), "text (number, string)", id="numbers-then-strings"
        ),
        pytest.param(
            [{"a": 1}] * 30 + [{"b": "x"}],
            pa.struct([("a", pa.int64()), ("b", pa.string())]),
            None,
            id="objects-with-other-keys",
        ),
        pytest.param(
            [{"a": 1}] * 30 + ["flat"], pa.string(), "json (object, string)", id="object-then-scalar"
        ),
        pytest.param([[1, 2]] * 30 + [7], pa.string(), "json (array, number)", id="array-then-scalar"),
        pytest.param(
            [[1]] * 30 + [[{"x": 1}]],
            pa.string(),
            "json (array, array of number, array of object)",
            id="array-items-of-two-shapes",
        ),
        pytest.param(
            [{"a": 1}] * 30 + [{"a": "one"}],
            pa.struct([pa.field("a", pa.string())]),
            {"field.a": "text (number, string)"},
            id="nested-scalar-conflict",
        ),
        pytest.param(
            ["2024-05-01 10:00:00"] * 30 + ["2024-05-01"], pa.string(), None, id="timestamp-text-then-a-date"
        ),
        pytest.param(
            ["2024-05-01 10:00:00"] * 30 + ["soon"], pa.string(), None, id="timestamp-text-then-words"
        ),
        pytest.param(["2024-05-01"] * 31, pa.string(), None, id="dates-stay-text"),
        pytest.param(["2024-05-01T10:00:00Z"] * 31, pa.string(), None, id="iso-stays-text"),
        pytest.param(["2024-02-30 10:00:00"] * 31, pa.string(), None, id="impossible-date-stays-text"),
        pytest.param(
            [None] * 30 + ["2024-05-01 10:00:00"], pa.timestamp("us", tz="UTC"), None, id="late-timestamp"
        ),
        pytest.param([{}] * 31, pa.string(), "json (object)", id="empty-objects"),
        pytest.param(
            [{"when": "2024-05-01 10:00:00"}] * 31,
            pa.struct([("when", pa.string())]),
            None,
            id="nested-timestamps-stay-text",
        ),
        pytest.param([12345678901234567890] + [1] * 30, None, None, id="integer-beyond-int64"),
    ],
)
def test_a_drifting_field_keeps_every_value(tmp_path, chunk_bytes, values, stored_type, drift):
    records = [record(i, field=v) if v is not None else record(i) for i, v in enumerate(values, 1)]

    result = load(tmp_path, records, chunk_bytes=chunk_bytes)

    if stored_type is not None:
        assert task_types(tmp_path)["field"] == stored_type
    drifted = result["tables"]["task"]["drifted_columns"]
    if drift:
        assert drifted == (drift if isinstance(drift, dict) else {"field": drift})
    assert_round_trip(tmp_path / "lake", "task", records)


def test_only_real_dates_become_timestamps_when_lines_are_parsed_one_by_one(tmp_path):
    """
    Array items of two kinds in one record send the chunk through json.loads.

    strptime alone would take 2024-02-30.
    """
    records = [
        record(1, when="2024-02-30 10:00:00", other=[1, {"a": 1}]),
        record(2, when="2024-03-01 10:00:00", other=[2]),
    ]
    load(tmp_path, records, chunk_bytes=8 << 20)
    assert task_types(tmp_path)["when"] == pa.string()
    assert_round_trip(tmp_path / "lake", "task", records)


def test_a_field_first_seen_late_is_a_column_and_older_records_read_null(tmp_path):
    records = [record(i) for i in range(1, 40)] + [record(40, late="here")]
    load(tmp_path, records)
    got = {r["__object_id"]: r["late"] for r in rows(tmp_path / "lake", "task")}
    assert got[40] == "here"
    assert got[1] is None


def test_timestamps_are_utc(tmp_path):
    load(tmp_path, [record(1, completed="2024-05-01 23:30:00")])
    value = rows(tmp_path / "lake", "task")[0]["completed"]
    assert value == datetime.datetime(2024, 5, 1, 23, 30, tzinfo=UTC)


def test_names_that_differ_only_in_case_get_their_own_columns(tmp_path):
    records = [record(1, Name="upper", name="lower"), record(2, name="only lower")]
    result = load(tmp_path, records)
    got = {r["__object_id"]: r for r in rows(tmp_path / "lake", "task")}
    assert (got[1]["Name"], got[1]["name__2"], got[2]["name__2"]) == ("upper", "lower", "only lower")
    assert result["tables"]["task"]["drifted_columns"] == {
        "name__2": "renamed from 'name' (Delta column names ignore case)"
    }


def test_a_source_field_named_like_a_loader_column_keeps_its_values(tmp_path):
    load(tmp_path, [record(1, _export_gid="theirs")])
    row = rows(tmp_path / "lake", "task")[0]
    assert (row["_export_gid"], row["_export_gid__2"]) == ("1", "theirs")


def test_a_type_change_between_exports_widens_the_change_table(tmp_path):
    """Export 1 has an object, export 2 text: the change table's old rows are rewritten as JSON text."""
    load(tmp_path, [record(1, meta={"a": 1}), record(2, meta={"a": 2})], gid="1", name="1.json.gz")
    result = load(tmp_path, [record(1, meta={"a": 1}), record(2, meta="flat")], gid="2", name="2.json.gz")

    assert result["tables"]["task"]["drifted_columns"] == {"meta": "json (object, string)"}
    changes = {(r["_export_gid"], r["__object_id"]): r for r in rows(tmp_path / "lake", "_changes/task")}
    assert {k: json.loads(r["meta"]) for k, r in changes.items()} == {
        ("1", 1): {"a": 1},
        ("1", 2): {"a": 2},
        ("2", 2): "flat",
    }
    assert changes[("2", 2)]["_change_type"] == "update"
    # the previous snapshot keeps its own types (time travel)
    assert rows(tmp_path / "lake", "task", version=0)[0]["meta"] in ({"a": 1}, {"a": 2})


def test_a_new_column_in_a_later_export_appears_in_the_change_table(tmp_path):
    load(tmp_path, [record(1), record(2)], gid="1", name="1.json.gz")
    load(tmp_path, [record(1), record(2, extra=[1, 2])], gid="2", name="2.json.gz")
    changes = {(r["_export_gid"], r["__object_id"]): r for r in rows(tmp_path / "lake", "_changes/task")}
    assert changes[("2", 2)]["extra"] == [1, 2]
    assert changes[("1", 1)]["extra"] is None
    assert (
        table(tmp_path / "lake", "_changes/task").version() == 1
    )  # one commit: columns added, nothing removed
