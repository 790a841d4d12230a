"""A sequence of exports of one organization and its ground truth, as the lake-tables tests will use them."""

from __future__ import annotations

import functools
import gzip
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_asana.emulator import exportfile
from airflow_provider_asana.emulator.cache import ExportCache
from airflow_provider_asana.emulator.changes import iter_changes, write_changes
from airflow_provider_asana.emulator.exportfile import ExportInfo, write_export
from airflow_provider_asana.emulator.lifecycle import ChangeRates

SIZE = 300_000
SEED = 5
MEMBER = 64 << 10
#: High rates, so that a small export shows every kind of change many times.
BUSY = ChangeRates(update=0.05, insert=0.02, delete=0.01, trash=0.01)
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _write(
    export: int = 0, *, seed: int = SEED, rates: ChangeRates = BUSY, **kwargs: Any
) -> tuple[ExportInfo, bytes]:
    out = io.BytesIO()
    kwargs.setdefault("plan", _plan(seed) if export or kwargs.get("bad_lines") else None)
    info = write_export(out, SIZE, seed, export=export, member_size=MEMBER, rates=rates, workers=1, **kwargs)
    return info, out.getvalue()


@functools.cache
def _plan(seed: int) -> list[int]:
    return write_export(io.BytesIO(), SIZE, seed, member_size=MEMBER, workers=1).plan


@functools.cache
def _records(export: int, rates: ChangeRates = BUSY) -> dict[int, dict[str, Any]]:
    """Export ``export`` by ``__object_id`` (each id once)."""
    records: dict[int, dict[str, Any]] = {}
    for line in gzip.decompress(_write(export, rates=rates)[1]).splitlines():
        record = json.loads(line)
        assert record["__object_id"] not in records
        records[record["__object_id"]] = record
    return records


def _diff(before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]) -> dict[int, tuple[str, str]]:
    """What changed, found by comparing two exports record by record: id -> (__type, change)."""
    found = {oid: (after[oid]["__type"], "insert") for oid in after.keys() - before.keys()}
    found |= {oid: (before[oid]["__type"], "delete") for oid in before.keys() - after.keys()}
    kept = after.keys() & before.keys()
    found |= {oid: (after[oid]["__type"], "update") for oid in kept if after[oid] != before[oid]}
    return found


def _truth(export: int, rates: ChangeRates = BUSY) -> dict[int, tuple[str, str]]:
    changes = iter_changes(SEED, _plan(SEED), export, rates=rates)
    return {change.object_id: (change.type, change.change) for change in changes}


@pytest.mark.parametrize("rates", [BUSY, ChangeRates()], ids=["busy", "default"])
def test_each_export_is_the_one_before_plus_exactly_the_ground_truth(rates: ChangeRates) -> None:
    for export in (1, 2, 3):
        found = _diff(_records(export - 1, rates), _records(export, rates))

        assert found == _truth(export, rates)
        assert {change for _, change in found.values()} == {"insert", "update", "delete"}


def test_export_0_is_all_inserts() -> None:
    records = _records(0)

    assert _truth(0) == {oid: (record["__type"], "insert") for oid, record in records.items()}


def test_a_trashing_is_an_update_and_empties_a_task_name() -> None:
    before, after, truth = _records(1), _records(2), _truth(2)

    kept = after.keys() & before.keys()
    trashed = [oid for oid in kept if "__trashed_at" in after[oid] and "__trashed_at" not in before[oid]]

    assert trashed
    assert all(truth[oid][1] == "update" for oid in trashed)
    assert all(STAMP.match(after[oid]["__trashed_at"]) for oid in trashed)
    assert all(isinstance(after[oid]["__trashed_by"], int) for oid in trashed)
    assert all(after[oid]["name"] == "" for oid in trashed if after[oid]["__type"] == "Task")
    head = ["__object_id", "__type", "__creation_time", "__trashed_at", "__trashed_by"]
    assert all(list(after[oid])[:5] == head for oid in trashed)


def test_deleted_objects_stay_out_of_later_exports() -> None:
    deleted = {oid for oid, (_, change) in _truth(1).items() if change == "delete"}

    assert deleted
    assert deleted <= _records(0).keys()
    assert not deleted & (_records(1).keys() | _records(2).keys() | _records(3).keys())


def test_inserts_get_new_ids_and_every_late_field() -> None:
    inserted = [oid for oid, (_, change) in _truth(1).items() if change == "insert"]
    records = _records(1)

    tasks = [records[oid] for oid in inserted if records[oid]["__type"] == "Task"]
    assert tasks
    assert all("custom_fields" in task and "resource_subtype" in task for task in tasks)
    assert min(records[oid]["__creation_time"] for oid in inserted) > max(
        record["__creation_time"] for record in _records(0).values()
    )


def test_the_same_seed_gives_the_same_exports_and_changes() -> None:
    first, second = _write(2)[1], _write(2)[1]

    assert first == second
    assert _write(2, seed=SEED + 1, plan=_plan(SEED + 1))[1] != first
    assert _truth(2) == _truth(2)
    assert _truth(2) != _truth(1)


def test_worker_processes_build_later_exports_like_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exportfile, "PROCESS_THRESHOLD", 0)
    out = io.BytesIO()

    plan = _plan(SEED)
    info = write_export(out, SIZE, SEED, export=2, member_size=MEMBER, rates=BUSY, plan=plan, workers=2)

    assert out.getvalue() == _write(2)[1]
    assert info.counts == _write(2)[0].counts


def test_export_0_rebuilt_from_its_plan_holds_the_same_records() -> None:
    sized = gzip.decompress(_write(0)[1]).splitlines()
    info, data = _write(0, bad_lines=True)

    lines = gzip.decompress(data).splitlines()
    good = [line for line in lines if _is_record(line)]
    assert good == sized
    assert info.bad_lines == len(lines) - len(good) >= len(_plan(SEED))
    assert info.counts == _write(0)[0].counts


def test_without_the_fault_every_line_is_a_json_object_with_a_type() -> None:
    info, data = _write(1)

    lines = gzip.decompress(data).splitlines()
    assert all(_is_record(line) for line in lines)
    assert info.bad_lines == 0
    assert sum(info.counts.values()) == len(lines)


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and isinstance(record.get("__type"), str)


def test_the_change_set_as_json_lines() -> None:
    out = io.BytesIO()

    info = write_changes(out, SEED, _plan(SEED), 2, rates=BUSY)

    lines = out.getvalue().decode().splitlines()
    rows = [json.loads(line) for line in lines]
    assert all(list(row) == ["__object_id", "__type", "change"] for row in rows)
    assert lines[0] == json.dumps(rows[0])
    assert [row["__object_id"] for row in rows] == sorted(row["__object_id"] for row in rows)
    assert {row["__object_id"]: (row["__type"], row["change"]) for row in rows} == _truth(2)
    assert info.counts == dict(Counter(row["change"] for row in rows))
    assert info.size == len(out.getvalue())


@pytest.mark.parametrize("size", [256 << 10, 4 << 20])
def test_exports_compress_like_real_json(size: int) -> None:
    out = io.BytesIO()
    info = write_export(out, size, 0)

    raw = len(gzip.decompress(out.getvalue()))

    assert 4 <= raw / len(out.getvalue()) <= 10
    assert info.raw_size == raw


def test_records_drift_like_real_exports() -> None:
    out = io.BytesIO()
    write_export(out, 2 << 20, 0, member_size=256 << 10, workers=1)
    records = [json.loads(line) for line in gzip.decompress(out.getvalue()).splitlines()]
    tasks = [r for r in records if r["__type"] == "Task"]
    lists = [r for r in records if r["__type"] == "ItemList"]

    # A field first seen late, and one that is null first.
    assert "resource_subtype" not in tasks[0]
    assert "resource_subtype" in tasks[-1]
    assert _first(tasks, lambda task: "custom_fields" in task) > len(tasks) // 20
    assert lists[0]["color"] is None
    assert isinstance(lists[-1]["color"], str)
    assert tasks[0]["start_on"] is None
    assert any(isinstance(task["start_on"], str) for task in tasks)
    # Conflicting types: number and string, object and scalar.
    assert {type(r["size"]) for r in records if r["__type"] == "Asset"} == {int, str}
    assert {type(task["external"]) for task in tasks if "external" in task} == {dict, str}
    # Nested arrays of objects holding objects.
    fields = [field for task in tasks for field in task.get("custom_fields", [])]
    assert any(isinstance(field.get("enum_value"), dict) for field in fields)
    # Text: non-ASCII, emoji, newlines, HTML entities, tens of kilobytes.
    texts = [value for r in records for value in r.values() if isinstance(value, str)]
    assert any(not text.isascii() for text in texts)
    assert any(character >= "\U0001f389" for text in texts for character in text)
    assert any("\n" in text for text in texts)
    assert any("&apos;" in record.get("rich_description", "") for record in records)
    assert max(map(len, texts)) >= 20_000


def _first(items: list[dict[str, Any]], condition: Any) -> int:
    return next(index for index, item in enumerate(items) if condition(item))


def test_fields_follow_asanas_sample() -> None:
    records = list(_records(0).values())
    by_type: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_type.setdefault(record["__type"], []).append(record)

    tasks = by_type["Task"]
    assert all(STAMP.match(task["completed"]) for task in tasks if "completed" in task)
    assert any("completed" not in task for task in tasks)
    assert all(STAMP.match(task["due_date"]) for task in tasks if "due_date" in task)
    user = by_type["User"][0]
    assert STAMP.match(user["claimed_time"])
    assert user["last_session_creation_time"] > 10**12
    assert {r["is_project"] for r in by_type["ItemList"]} == {True, False}
    assert any(r["name"] == "My Tasks" and "assignee" in r for r in by_type["ItemList"])
    assert {"creator_du", "followers_du", "num_hearts", "text"} <= set(by_type["Comment"][0])
    assert set(by_type["VerifiedEmail"][0]) >= {"ve_user", "ve_email"}


def test_change_rates_name_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="ChangeRates.update"):
        ChangeRates(update=2)
    with pytest.raises(ValueError, match="unknown change rate 'bogus'"):
        ChangeRates.parse("bogus=1")
    with pytest.raises(ValueError, match="change rate trash must be a number; got 'x'"):
        ChangeRates.parse("trash=x")

    assert ChangeRates.parse("update=0.2, insert=0") == ChangeRates(update=0.2, insert=0)


def test_a_later_export_needs_a_plan_of_the_right_length() -> None:
    with pytest.raises(ValueError, match="plan has 2 members"):
        write_export(io.BytesIO(), SIZE, SEED, export=1, member_size=MEMBER, plan=[10, 10])
    with pytest.raises(ValueError, match="export must be the index"):
        write_export(io.BytesIO(), SIZE, SEED, export=-1)


def test_the_cache_builds_later_exports_and_changes_from_export_0s_plan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ExportCache(tmp_path, member_size=MEMBER)
    first = cache.export(SIZE, SEED)
    plans = []
    real = exportfile.write_export

    def spy(*args: Any, **kwargs: Any) -> ExportInfo:
        plans.append(kwargs["plan"])
        return real(*args, **kwargs)

    monkeypatch.setattr("airflow_provider_asana.emulator.cache.write_export", spy)

    second = cache.export(SIZE, SEED, export=1)
    changes = cache.changes(SIZE, SEED, export=1)

    assert plans == [list(first.plan)]
    assert first.plan == tuple(_plan(SEED))
    assert json.loads(Path(str(first.path) + ".meta.json").read_text())["plan"] == list(first.plan)
    assert second.path.name == f"export-{SIZE}-{SEED}-m{MEMBER}-e1.json.gz"
    assert second.size != first.size
    rows = [json.loads(line) for line in changes.path.read_text().splitlines()]
    assert changes.counts == dict(Counter(row["change"] for row in rows))
    assert len(rows) == sum(changes.counts.values()) > 0
