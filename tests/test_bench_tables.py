"""The lake-tables benchmark: its goals are judged from what was measured, and its smoke mode runs end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import tables
from benchmarks.__main__ import main

MIB = 1 << 20
ROOT = Path(__file__).resolve().parent.parent


def samples(ours: list[float], duckdb: list[float], rss: list[float]) -> dict:
    return {
        "zcat": {"wall_s": [1.0] * len(ours)},
        "duckdb": {"wall_s": duckdb, "peak_rss_mib": [900.0] * len(ours)},
        "ours": {"wall_s": ours, "peak_rss_mib": rss},
    }


def changes(rows: int = 10_000, **overrides: float) -> dict:
    one = {"rows": rows, "changes_s": 1.0, "snapshot_write_s": 2.0, "peak_rss_mib": 300.0,
           "inserted": rows // 100, "updated": rows // 100, "deleted": rows // 100}  # fmt: skip
    return {**one, **overrides}


def test_goals_hold_when_the_load_beats_duckdb_in_flat_memory() -> None:
    section = tables.evaluate(
        [256 * MIB, 2048 * MIB],
        {256 * MIB: samples([9.0, 10.0, 12.0], [10.0, 11.0, 11.0], [300, 310, 305]),
         2048 * MIB: samples([80.0], [90.0], [320.0])},
        {256 * MIB: (256 * MIB, 1_600_000_000), 2048 * MIB: (2048 * MIB, 13_000_000_000)},
        [changes()],
    )  # fmt: skip
    assert all(g["holds"] for g in section["goals"]), section["goals"]
    figures = section["figures"]
    assert figures["ratio_duckdb_256"]["median"] == pytest.approx(10.0 / 11.0, rel=1e-3)
    assert figures["ours_2048_per_raw_gb"]["median"] == pytest.approx(80.0 / 13.0, rel=1e-3)
    assert figures["ours_2048_per_compressed_gb"]["median"] == pytest.approx(
        80.0 / (2048 * MIB / 1e9), rel=1e-3
    )
    assert section["parameters"]["exports"]["2048"] == {
        "compressed_bytes": 2048 * MIB,
        "raw_bytes": 13 * 10**9,
    }


def test_goals_fail_when_slower_than_duckdb_or_memory_grows() -> None:
    section = tables.evaluate(
        [256 * MIB, 2048 * MIB],
        {256 * MIB: samples([12.0], [10.0], [300]), 2048 * MIB: samples([80.0], [90.0], [600])},
        {256 * MIB: (256 * MIB, 1_600_000_000), 2048 * MIB: (2048 * MIB, 13_000_000_000)},
        [changes(peak_rss_mib=1500.0)],
    )  # fmt: skip
    holds = [g["holds"] for g in section["goals"]]
    # 256 MiB slower than DuckDB; 2 GiB faster; over 512 MiB; not flat; changes over 1 GiB
    assert holds == [False, True, False, False, False]


def test_a_wrong_change_count_is_an_error_not_a_figure() -> None:
    with pytest.raises(RuntimeError, match="not 100 of each"):
        tables.evaluate(
            [MIB], {MIB: samples([1.0], [1.0], [300])}, {MIB: (MIB, 10**7)}, [changes(inserted=99)]
        )


def test_change_computation_child_finds_exactly_one_percent_of_each() -> None:
    result = tables.child_changes(2_000)
    assert (result["inserted"], result["updated"], result["deleted"]) == (20, 20, 20)
    assert result["peak_rss_mib"] > 0
    assert result["snapshot_write_s"] > 0


@pytest.mark.parametrize(
    ("text", "expected"), [("256M", 256 * MIB), ("2G", 2 << 30), ("1.5K", 1536), ("77", 77)]
)
def test_sizes_on_the_command_line(text: str, expected: int) -> None:
    assert tables.parse_size(text) == expected


@pytest.mark.parametrize(("option", "name"), [("--table-sizes", "tables"), ("--stores-sizes", "stores")])
def test_a_bad_size_names_the_option_and_the_fix(
    option: str, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--only", name, option, "lots"])
    assert f"{option}: export size 'lots': use bytes or a number with K, M or G" in capsys.readouterr().err


def test_stores_sizes_reach_the_stores_benchmark(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from benchmarks import stores

    class Ran(Exception):
        pass

    def run(sizes: tuple[int, ...], runs: int, log: object) -> None:
        raise Ran(sizes, runs)

    monkeypatch.setattr(stores, "run", run)
    with pytest.raises(Ran) as ran:
        main(
            ["--only", "stores", "--stores-sizes", "2G", "--runs", "1", "--output", str(tmp_path / "r.json")]
        )
    assert ran.value.args == ((2 << 30,), 1)


def test_smoke_mode_measures_every_side(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "tables", "--table-sizes", "1M",
         "--changes-rows", "1000", "--output", str(output)],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    section = json.loads(output.read_text())["benchmarks"]["tables"]
    figures = section["figures"]
    for side in tables.SIDES:
        assert figures[f"{side}_1_wall"]["median"] > 0
    assert 100 < figures["ours_1_rss"]["median"] < tables.RSS_LIMIT_MIB
    export = section["parameters"]["exports"]["1"]
    assert export["raw_bytes"] > export["compressed_bytes"] == MIB
    assert figures["changes_s"]["median"] > 0


def test_a_side_not_run_at_a_size_is_not_measured_rather_than_judged() -> None:
    at_2g = samples([80.0], [1.0], [300.0])
    del at_2g["duckdb"]
    section = tables.evaluate(
        [256 * MIB, 2048 * MIB],
        {256 * MIB: samples([9.0], [10.0], [300.0]), 2048 * MIB: at_2g},
        {256 * MIB: (256 * MIB, 1_600_000_000), 2048 * MIB: (2048 * MIB, 13_000_000_000)},
        [changes()],
    )
    assert [g["holds"] for g in section["goals"]] == [True, None, True, True, True]
    assert "duckdb_2048_wall" not in section["figures"]
    assert "ratio_duckdb_2048" not in section["figures"]
    assert section["figures"]["ratio_zcat_2048"]["median"] == 80.0
