"""
Consecutive emulator exports of one organization, loaded in order: the tables hold every record as it was
in the file, and the change tables equal the emulator's ground truth, export after export.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_asana.emulator.cache import Artifact, ExportCache
from airflow_provider_asana.emulator.lifecycle import ChangeRates
from airflow_provider_asana.tables import load_organization_export
from airflow_provider_asana.tables.naming import KEY, RECORD_HASH, table_for_type

from tests.tables.helpers import assert_round_trip, rows, table

SIZE = 512 << 10
SEED = 3
EXPORTS = 4
#: Busier than the emulator's default day, so that each export changes every big kind in each way.
RATES = ChangeRates(update=0.03, insert=0.01, delete=0.01, trash=0.01)


def gid(k: int) -> str:
    return f"12000000000{k:05d}"


def records_by_table(artifact: Artifact) -> dict[str, list[dict[str, Any]]]:
    out = defaultdict(list)
    with gzip.open(artifact.path, "rb") as lines:
        for line in lines:
            record = json.loads(line)
            out[table_for_type(record["__type"])].append(record)
    return dict(out)


def ground_truth(artifact: Artifact) -> dict[str, dict[int, str]]:
    """The emulator's change set: table -> {__object_id: change}."""
    out: dict[str, dict[int, str]] = defaultdict(dict)
    for line in artifact.path.read_text().splitlines():
        row = json.loads(line)
        out[table_for_type(row["__type"])][row["__object_id"]] = row["change"]
    return dict(out)


@pytest.fixture(scope="module")
def sequence(asana_emulator_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """Exports 0-3 of one organization and their ground truth, each loaded in order into one root."""
    cache = ExportCache(asana_emulator_cache_dir)
    exports = [cache.export(SIZE, SEED, export=k, rates=RATES) for k in range(EXPORTS)]
    truths = [ground_truth(cache.changes(SIZE, SEED, export=k, rates=RATES)) for k in range(EXPORTS)]
    root = tmp_path_factory.mktemp("emulator-exports") / "lake"
    results = [
        load_organization_export(artifact.path, root, export_gid=gid(k)) for k, artifact in enumerate(exports)
    ]
    return exports, truths, root, results


def exports_table(root: Path) -> dict[str, dict[str, Any]]:
    """``_exports`` rows by export gid: how a reader finds the versions of one export."""
    return {row["export_gid"]: row for row in rows(root, "_exports")}


def test_every_record_reads_back_from_its_exports_versions_equal_to_its_line(sequence):
    exports, _, root, _ = sequence
    ledger = exports_table(root)
    assert set(ledger) == {gid(k) for k in range(EXPORTS)}
    for k, artifact in enumerate(exports):
        expected = records_by_table(artifact)
        versions = {t["table"]: t["version"] for t in ledger[gid(k)]["tables"]}
        assert set(versions) == set(expected), k
        assert sum(map(len, expected.values())) == ledger[gid(k)]["lines"] == sum(artifact.counts.values())
        for name, records in expected.items():
            assert_round_trip(root, name, records, version=versions[name])


def test_changes_equal_the_emulators_ground_truth_export_after_export(sequence):
    _, truths, root, results = sequence
    for k, (truth, result) in enumerate(zip(truths, results)):
        assert set(truth) <= set(result["tables"]), k
        for name, counts in result["tables"].items():
            changes = [r for r in rows(root, f"_changes/{name}") if r["_export_gid"] == gid(k)]
            found = {r[KEY]: r["_change_type"] for r in changes}
            assert len(found) == len(changes), (k, name)  # one row per changed object
            assert found == truth.get(name, {}), (k, name)
            kinds = list(found.values())
            assert (counts["inserted"], counts["updated"], counts["deleted"]) == tuple(
                kinds.count(change) for change in ("insert", "update", "delete")
            ), (k, name)
    later = [changes for truth in truths[1:] for changes in truth.values()]
    for change in ("insert", "update", "delete"):
        assert sum(list(t.values()).count(change) for t in later) >= 10, change  # the test saw each kind


def test_a_change_row_is_the_new_record_or_for_a_delete_the_last_one(sequence):
    _, truths, root, results = sequence
    for k in range(1, EXPORTS):
        for name in ("task", "story"):
            before, after = (results[j]["tables"][name]["version"] for j in (k - 1, k))
            hashes = {
                v: dict(zip(t.column(KEY).to_pylist(), t.column(RECORD_HASH).to_pylist()))
                for v in (before, after)
                for t in [table(root, name, v).to_pyarrow_table(columns=[KEY, RECORD_HASH])]
            }
            changes = [r for r in rows(root, f"_changes/{name}") if r["_export_gid"] == gid(k)]
            assert changes, (k, name)
            for row in changes:
                source = hashes[before if row["_change_type"] == "delete" else after]
                assert row[RECORD_HASH] == source[row[KEY]], (k, name, row[KEY])
