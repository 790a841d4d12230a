"""The emulator serves each export of an organization as the next of its sequence, with the ground truth."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from airflow_provider_asana.emulator.changes import write_changes
from airflow_provider_asana.emulator.lifecycle import ChangeRates

from tests.emulator.helpers import Api

if TYPE_CHECKING:
    from airflow_provider_asana.emulator import AsanaEmulator

RATES = ChangeRates(update=0.05, insert=0.02, delete=0.01, trash=0.01)


def _ids(path: Path) -> dict[int, bytes]:
    return {json.loads(line)["__object_id"]: line for line in gzip.decompress(path.read_bytes()).splitlines()}


def _rows(text: str) -> dict[int, str]:
    return {row["__object_id"]: row["change"] for row in map(json.loads, text.splitlines())}


def _control(emulator: AsanaEmulator, name: str) -> str:
    return emulator.api_url.removesuffix("/api/1.0") + "/_emulator/" + name


def test_each_export_of_an_organization_serves_the_next_of_its_sequence(
    asana_emulator_factory: Callable[..., AsanaEmulator],
) -> None:
    emulator = asana_emulator_factory(change_rates=RATES)
    api = Api(emulator)
    first, first_url = api.finished_export()
    second, second_url = api.finished_export()

    before, after = _ids(emulator.export_file(first)), _ids(emulator.export_file(second))
    changes = _rows(emulator.export_changes(second).read_text())

    assert requests.get(second_url, timeout=10).content == emulator.export_file(second).read_bytes()
    assert emulator.export_file(first).stat().st_size == 64 << 10
    assert emulator.export_file(second).stat().st_size != 64 << 10
    assert {oid for oid, change in changes.items() if change == "insert"} == after.keys() - before.keys()
    assert {oid for oid, change in changes.items() if change == "delete"} == before.keys() - after.keys()
    assert {oid for oid, change in changes.items() if change == "update"} == {
        oid for oid in before.keys() & after.keys() if before[oid] != after[oid]
    }
    assert set(_rows(emulator.export_changes(first).read_text()).values()) == {"insert"}
    assert [emulator.exports[gid]["sequence"] for gid in (first, second)] == [0, 1]


def test_a_later_export_is_generated_as_soon_as_it_is_created(
    asana_emulator_factory: Callable[..., AsanaEmulator], tmp_path: Path
) -> None:
    emulator = asana_emulator_factory(cache_dir=tmp_path)
    api = Api(emulator)
    api.finished_export()
    api.create_export()

    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("export-*-e1.json.gz")) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert [path.name for path in tmp_path.glob("export-*-e1.json.gz")] == [f"export-{64 << 10}-0-e1.json.gz"]


def test_a_new_export_size_starts_a_new_sequence(api: Api) -> None:
    emulator = api.emulator
    api.finished_export()
    emulator.set_export_size(20_000)

    gid, _ = api.finished_export()

    assert emulator.exports[gid]["sequence"] == 0
    assert emulator.exports[gid]["size"] == 20_000


def test_the_ground_truth_over_the_control_api(asana_emulator_factory: Callable[..., AsanaEmulator]) -> None:
    emulator = asana_emulator_factory(change_rates=RATES)
    api = Api(emulator)
    api.finished_export()
    gid, _ = api.finished_export()

    answer = requests.get(_control(emulator, f"exports/{gid}/changes"), timeout=10)
    head = requests.head(_control(emulator, f"exports/{gid}/changes"), timeout=10)
    missing = requests.get(_control(emulator, "exports/1/changes"), timeout=10)
    info = requests.get(_control(emulator, "info"), timeout=10).json()

    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/x-ndjson"
    assert answer.content == emulator.export_changes(gid).read_bytes()
    assert head.status_code == 200
    assert not head.content
    assert head.headers["Content-Length"] == str(len(answer.content))
    assert missing.status_code == 404
    assert "1" in missing.json()["error"]
    assert info["change_rates"] == {"update": 0.05, "insert": 0.02, "delete": 0.01, "trash": 0.01}


def test_the_ground_truth_matches_the_library(
    asana_emulator_factory: Callable[..., AsanaEmulator], tmp_path: Path
) -> None:
    emulator = asana_emulator_factory(change_rates=RATES)
    api = Api(emulator)
    api.finished_export()
    gid, _ = api.finished_export()
    plan = list(emulator.cache.export(64 << 10, emulator.seed).plan)

    with (tmp_path / "changes.jsonl").open("wb") as out:
        write_changes(out, emulator.seed, plan, 1, rates=RATES)

    assert (tmp_path / "changes.jsonl").read_bytes() == emulator.export_changes(gid).read_bytes()


def test_bad_lines_fault_serves_lines_that_are_not_records(api: Api) -> None:
    emulator = api.emulator
    requests.put(_control(emulator, "faults"), json={"bad_lines": True}, timeout=10)
    gid, url = api.finished_export()

    lines = gzip.decompress(requests.get(url, timeout=10).content).splitlines()

    bad = [line for line in lines if not _is_record(line)]
    assert bad
    assert len(bad) < len(lines) // 10
    assert emulator.exports[gid]["sha256"] == emulator.export_sha256(gid)
    emulator.clear_faults()
    clean = gzip.decompress(emulator.export_file(gid).read_bytes()).splitlines()
    assert all(_is_record(line) for line in clean)


def _is_record(line: bytes) -> bool:
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "__type" in record
