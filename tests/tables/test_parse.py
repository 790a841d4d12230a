"""A chunk whose fields conflict is grouped by the conflicting field's kind, not parsed line by line."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from xxhash import xxh3_64_intdigest

from airflow_provider_asana.tables import load_organization_export, parse
from airflow_provider_asana.tables.naming import resource_format
from airflow_provider_asana.tables.schema import drift

from tests.tables.helpers import rows, write_lines


def task(oid: int, **fields) -> dict:
    return {"__object_id": oid, "__type": "Task", **fields}


def parsed(records: list[dict]) -> parse.ParsedChunk:
    lines = [json.dumps(r, ensure_ascii=False).encode() for r in records]
    return parse.parse_chunk(b"\n".join(lines), lines, range(1, len(lines) + 1), "task")


@pytest.fixture
def lines_parsed_one_by_one(monkeypatch) -> list[bytes]:
    """The lines the slow path hands to json.loads."""
    seen: list[bytes] = []
    loads = json.loads

    def counting(line, **kwargs):
        seen.append(line)
        return loads(line, **kwargs)

    monkeypatch.setattr(parse.json, "loads", counting)
    return seen


def test_conflicting_kinds_in_one_chunk_are_read_in_groups(lines_parsed_one_by_one):
    external = [{"gid": "J-1", "data": "x"}, "J-2", None, {"gid": "J-4", "data": "y"}, "J-5", None, "-"] * 50
    size = [7, "7 MB", 8, 9, "1.5 MB", 10, None] * 50
    records = [  # "-": no such field in the record
        task(i, **{k: v for k, v in (("external", e), ("size", s)) if v != "-"})
        for i, (e, s) in enumerate(zip(external, size))
    ]
    external = [None if e == "-" else e for e in external]

    result = parsed(records)

    assert lines_parsed_one_by_one == []
    assert sorted(result.kept) == list(range(len(records)))
    assert result.table.column("__object_id").to_pylist() == result.kept  # row i is line kept[i]
    external = [external[i] for i in result.kept]
    size = [size[i] for i in result.kept]
    stored = result.table.column("external").to_pylist()
    assert [None if v is None else json.loads(v) for v in stored] == external
    assert result.table.column("size").to_pylist() == [None if s is None else str(s) for s in size]
    assert drift(result.table.schema) == {
        "external": "json (object, string)",
        "size": "text (number, string)",
    }


def test_a_conflict_grouping_cannot_separate_is_read_line_by_line(lines_parsed_one_by_one):
    records = [task(1, other=[1, {"a": 1}]), task(2, other=[2])]

    result = parsed(records)

    assert len(lines_parsed_one_by_one) == 2
    assert [json.loads(v) for v in result.table.column("other").to_pylist()] == [[1, {"a": 1}], [2]]


def test_a_bad_line_in_a_group_is_set_aside_with_its_number():
    lines = [
        json.dumps(task(1, external="J-1")).encode(),
        b'{"__object_id": 2, "__type": "Task", "external": {"gid": "J-2"}, "x": 1, "x": 2}',
        json.dumps(task(3, external={"gid": "J-3"})).encode(),
    ]

    result = parse.parse_chunk(b"\n".join(lines), lines, [10, 11, 12], "task")

    assert [(b.number, b.reason) for b in result.bad] == [
        (11, "not a JSON object with a __type: duplicate key 'x'")
    ]
    assert result.kept == [0, 2]
    assert result.table.column("__object_id").to_pylist() == [1, 3]
    assert result.table.schema.field("external").type == pa.string()


def test_each_row_of_a_grouped_chunk_carries_the_hash_of_its_own_line(tmp_path):
    records = [task(i, external=["J", {"gid": "J"}, None][i % 3], text=f"line {i}") for i in range(60)]
    lines = [json.dumps(r).encode() for r in records]
    path = write_lines(tmp_path / "e.json.gz", lines)

    load_organization_export(path, tmp_path / "lake", export_gid="1")

    stored = {r["__object_id"]: r["_export_record_hash"] for r in rows(tmp_path / "lake", "task")}
    expected = {i: pa.scalar(xxh3_64_intdigest(line), pa.uint64()).cast(pa.int64(), safe=False).as_py()
                for i, line in enumerate(lines)}  # fmt: skip
    assert stored == expected


def test_a_resource_chunk_is_grouped_by_its_own_record_format(lines_parsed_one_by_one):
    records = [
        {"gid": str(100 + i), "resource_type": "task", "external": {"id": i} if i % 2 else f"E-{i}"}
        for i in range(40)
    ]
    lines = [json.dumps(r).encode() for r in records]
    result = parse.parse_chunk(b"\n".join(lines), lines, range(1, 41), "task", resource_format())

    assert lines_parsed_one_by_one == []  # grouped, then read the fast way: the format's kind field routes
    assert result.bad == []
    assert result.misrouted == []
    assert sorted(result.table.column("gid").to_pylist()) == sorted(r["gid"] for r in records)


def test_a_grouped_resource_line_without_its_key_is_a_bad_line():
    records = [
        {"gid": str(100 + i), "resource_type": "task", "external": {"id": i} if i % 2 else f"E-{i}"}
        for i in range(40)
    ]
    del records[7]["gid"]
    lines = [json.dumps(r).encode() for r in records]
    result = parse.parse_chunk(b"\n".join(lines), lines, range(1, 41), "task", resource_format())

    assert [(b.number, b.reason) for b in result.bad] == [
        (8, "not a JSON object with a resource_type and a gid: no gid field")
    ]
    assert result.table.num_rows == 39
