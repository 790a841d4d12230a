"""Lines that are not a JSON object with a __type: fail naming the line, or quarantine in _rejected."""

from __future__ import annotations

import pytest

from airflow_provider_asana.tables import load_organization_export
from airflow_provider_asana.tables.errors import BadLineError

from tests.tables.helpers import content, data_files, rows, write_lines

GOOD = '{"__object_id": %d, "__type": "Team", "name": "t"}'
BAD = [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a JSON object with a __type: a JSON array"),
    ('{"__object_id": 9, "name": "no type"}', "no __type field"),
    ('{"__object_id": 9, "__type": 5}', "__type is 5, not a type name"),
    ('{"__object_id": 9, "__type": "Team", "__type": "Task"}', "duplicate key '__type'"),
    ('{"__object_id": 9, "x": {"__type": "Team"}}', "no __type field"),  # the router sees the nested one
    (b'{"__object_id": 9, "__type": "Team", "n": "\xff"}', "not valid JSON"),
]


@pytest.mark.parametrize(("line", "reason"), BAD, ids=[r for _, r in BAD])
def test_a_bad_line_fails_the_load_with_its_line_number(tmp_path, line, reason):
    lines = [GOOD % i for i in range(1, 40)] + [line] + [GOOD % 50]
    path = write_lines(tmp_path / "e.json.gz", lines)

    with pytest.raises(
        BadLineError, match=f"line 40 of the export is .*{reason}.*on_bad_line='quarantine'"
    ) as raised:
        load_organization_export(path, tmp_path / "lake", export_gid="1", chunk_bytes=1 << 10)

    assert raised.value.line_number == 40
    assert not (tmp_path / "lake").exists() or content(tmp_path / "lake") == {}


def test_quarantine_keeps_bad_lines_in_rejected_and_loads_the_rest(tmp_path):
    lines = [GOOD % 1] + [line for line, _ in BAD] + [GOOD % 2, "", "   "]
    path = write_lines(tmp_path / "e.json.gz", lines)

    result = load_organization_export(path, tmp_path / "lake", export_gid="1", on_bad_line="quarantine")

    assert result["rejected"] == len(BAD)
    assert result["lines"] == len(lines)
    assert sorted(r["__object_id"] for r in rows(tmp_path / "lake", "team")) == [1, 2]
    rejected = sorted(rows(tmp_path / "lake", "_rejected"), key=lambda r: r["line_number"])
    assert [r["line_number"] for r in rejected] == list(range(2, 2 + len(BAD)))
    for row, (line, reason) in zip(rejected, BAD):
        assert row["line"] == (line if isinstance(line, bytes) else line.encode())
        assert reason in row["reason"]
        assert row["_export_gid"] == "1"
    export = rows(tmp_path / "lake", "_exports")[0]
    assert export["rejected"] == len(BAD)
    assert export["rejected_version"] == 0


def test_blank_lines_are_skipped(tmp_path):
    path = write_lines(tmp_path / "e.json.gz", [GOOD % 1, "", "  ", GOOD % 2])
    result = load_organization_export(path, tmp_path / "lake", export_gid="1")
    assert result["tables"]["team"]["rows"] == 2
    assert result["rejected"] == 0


def test_a_type_written_with_escapes_is_routed_by_its_value(tmp_path):
    path = write_lines(tmp_path / "e.json.gz", ['{"__object_id": 1, "__type": "T\\u0065am"}', GOOD % 2])
    load_organization_export(path, tmp_path / "lake", export_gid="1")
    assert sorted(r["__object_id"] for r in rows(tmp_path / "lake", "team")) == [1, 2]


def test_a_nested_type_before_the_real_one_does_not_misroute(tmp_path):
    lines = [
        '{"__object_id": 1, "owner": {"__type": "User"}, "__type": "Team"}',
        '{"__object_id": 2, "__type": "User"}',
    ]
    load_organization_export(write_lines(tmp_path / "e.json.gz", lines), tmp_path / "lake", export_gid="1")
    assert [r["__object_id"] for r in rows(tmp_path / "lake", "team")] == [1]
    assert [r["__object_id"] for r in rows(tmp_path / "lake", "user")] == [2]
    assert data_files(tmp_path / "lake")
