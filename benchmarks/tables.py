"""
Benchmark 5: lake tables, from an export file to typed Delta tables.

The load against DuckDB's own ``COPY ... PARTITION_BY (__type)`` of the same file, ``zcat > /dev/null`` as
the floor, the load's peak RSS at two export sizes, and the change computation of a table of millions of rows
with 1% changed.

Every measured side runs in a fresh interpreter (``python -m benchmarks.tables --child ...``); its peak RSS is
the kernel's ``VmHWM`` of that process, imports included. Exports are the emulator's (about 6:1 compression,
like real JSON lines), generated once per size into ``benchmarks/.work/cache/`` (:func:`ensure_export`).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.measure import MIB, alternate, proc_status_kib
from benchmarks.report import figure, flat_goal, goal, section
from benchmarks.workspace import CACHE, WORK, ensure_export

TITLE = "lake tables: load, peak RSS, change computation"
SIDES = ("zcat", "duckdb", "ours")
LABELS = {
    "zcat": "zcat > /dev/null (floor)",
    "duckdb": "DuckDB COPY ... PARTITION_BY (__type)",
    "ours": "ours",
}
#: Rounds at exports larger than this: one (a round of a 2 GiB export takes 20-30 minutes on 2 cores).
ONE_ROUND_ABOVE = 1 << 30
TABLES_WORK = WORK / "tables"
RATIO_GOAL = 1.0
RSS_LIMIT_MIB = 512
FLAT = 0.10
CHANGES_LIMIT_MIB = 1024
CHANGED = 0.01
GB = 10**9
#: DuckDB's memory limit (its default, 80% of RAM, let it reach 20 GB on the 2 GiB export of a shared machine).
DUCKDB_MEMORY_LIMIT = "4GB"
DUCKDB_COPY = (
    "COPY (SELECT * FROM read_json('{source}')) TO '{target}' (FORMAT parquet, PARTITION_BY (__type))"
)


def parse_size(text: str) -> int:
    """``256M``, ``2G``, ``512K`` or a byte count, as bytes (binary units)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip()
    try:
        if text[-1:].upper() in units:
            return int(float(text[:-1]) * units[text[-1].upper()])
        return int(text)
    except ValueError:
        raise ValueError(f"export size {text!r}: use bytes or a number with K, M or G (256M, 2G)") from None


def run(
    sizes: Sequence[int], runs: int, changes_rows: int, log: Callable[[str], None], *, large_runs: int = 1
) -> dict[str, Any]:
    """
    Measure every side at every size (alternating rounds), then the change computation (``runs`` times).

    :param large_runs: rounds at exports over 1 GiB.
    """
    from airflow_provider_asana.emulator.cache import ExportCache

    exports = {}
    for size in sizes:
        ensure_export(size, log)
        exports[size] = ExportCache(CACHE).export(size)
    samples: dict[int, dict[str, dict[str, list[float]]]] = {}
    for size in sizes:
        source = exports[size].path
        _read_once(source)  # the file in the page cache for every side, the first one included
        rounds = large_runs if size > ONE_ROUND_ABOVE else runs
        log(
            f"load: {size // MIB} MiB export ({exports[size].raw_size / GB:.2f} GB of JSON lines), {rounds} rounds"
        )
        samples[size] = alternate(
            {side: _side(side, source) for side in SIDES}, rounds, warmup=False, progress=log
        )
    log(f"changes: {changes_rows:,} rows, {CHANGED:.0%} changed")
    changes = [_changes(changes_rows) for _ in range(runs)]
    for result in changes:
        log(", ".join(f"{k} {v:.3g}" for k, v in result.items() if isinstance(v, float)))
    files = {size: (exports[size].size, exports[size].raw_size) for size in sizes}
    return evaluate(sizes, samples, files, changes)


def _read_once(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(16 << 20):
            pass


def _side(side: str, source: Path) -> Callable[[], dict[str, float]]:
    def one_run() -> dict[str, float]:
        if side == "zcat":
            started = time.perf_counter()
            subprocess.run(["sh", "-c", 'exec zcat "$1" > /dev/null', "zcat", str(source)], check=True)
            return {"wall_s": time.perf_counter() - started}
        return _in_child(["load", side, str(source)])

    return one_run


def _in_child(arguments: list[str]) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.tables", "--child", *arguments],
        capture_output=True, text=True, check=False, cwd=str(Path(__file__).resolve().parent.parent),
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"tables child {' '.join(arguments)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _changes(rows: int) -> dict[str, Any]:
    return _in_child(["changes", str(rows)])


def evaluate(
    sizes: Sequence[int],
    samples: dict[int, dict[str, dict[str, list[float]]]],
    files: dict[int, tuple[int, int]],
    changes: list[dict[str, Any]],
) -> dict[str, Any]:
    """
    Build the section: figures and goals from the measured samples.

    :param samples: per size, per side, per figure, one value per round (round ``i`` at index ``i``).
    :param files: per size, the export's compressed and raw (decompressed) bytes.
    :param changes: one result of the change-computation child per run.
    """
    figures: dict[str, Any] = {}
    goals = []
    rounds: dict[int, int] = {}
    for size in sizes:
        compressed, raw = files[size]
        tag = f"{size // MIB} MiB ({raw / GB:.2f} GB raw)"
        by_side = samples[size]
        for side in (side for side in SIDES if side in by_side):  # a side not run at a size: not measured
            walls = by_side[side]["wall_s"]
            figures[f"{side}_{size // MIB}_wall"] = figure(f"{LABELS[side]}, {tag}: wall time", "s", walls)
            figures[f"{side}_{size // MIB}_per_raw_gb"] = figure(
                f"{LABELS[side]}, {tag}: per raw GB", "s/GB", [w / (raw / GB) for w in walls]
            )
            figures[f"{side}_{size // MIB}_per_compressed_gb"] = figure(
                f"{LABELS[side]}, {tag}: per compressed GB", "s/GB", [w / (compressed / GB) for w in walls]
            )
            cpu = by_side[side].get("cpu_s", [])
            if side != "zcat" and len(cpu) == len(walls):
                figures[f"{side}_{size // MIB}_cpu"] = figure(f"{LABELS[side]}, {tag}: CPU time", "s", cpu)
            if side != "zcat":
                figures[f"{side}_{size // MIB}_rss"] = figure(
                    f"{LABELS[side]}, {tag}: peak RSS", "MiB", by_side[side]["peak_rss_mib"], 1
                )
        ours = by_side["ours"]["wall_s"]
        rounds[size] = len(ours)
        for side, label in (("duckdb", "DuckDB"), ("zcat", "zcat")):
            if side in by_side:
                figures[f"ratio_{side}_{size // MIB}"] = figure(
                    f"ours / {label} wall time (same round), {tag}", "x",
                    [o / other for o, other in zip(ours, by_side[side]["wall_s"])],
                )  # fmt: skip
    for size in sizes:
        text = f"load wall time <= {RATIO_GOAL:.1f}x DuckDB's COPY, {size // MIB} MiB export"
        if f"ratio_duckdb_{size // MIB}" not in figures:
            goals.append(goal(text, "DuckDB not run at this size", None))
            continue
        median = figures[f"ratio_duckdb_{size // MIB}"]["median"]
        goals.append(goal(
            text,
            f"{median:.2f}x (median of {rounds[size]}; {figures[f'ratio_duckdb_{size // MIB}']['min']:.2f}-"
            f"{figures[f'ratio_duckdb_{size // MIB}']['max']:.2f}x)",
            median <= RATIO_GOAL,
        ))  # fmt: skip
    worst = max(figures[f"ours_{size // MIB}_rss"]["max"] for size in sizes)
    goals.append(goal(
        f"load peak RSS <= {RSS_LIMIT_MIB} MiB at every size, every run", f"at most {worst:.0f} MiB",
        worst <= RSS_LIMIT_MIB, "" if worst <= RSS_LIMIT_MIB else f"over by {worst - RSS_LIMIT_MIB:.0f} MiB",
    ))  # fmt: skip
    small, large = min(sizes), max(sizes)
    if small != large:
        a, b = figures[f"ours_{small // MIB}_rss"]["median"], figures[f"ours_{large // MIB}_rss"]["median"]
        goals.append(flat_goal("load peak RSS", small // MIB, large // MIB, a, b, FLAT, digits=0))
    rows = changes[0]["rows"]
    for key, label, unit, digits in (
        ("changes_s", "change computation", "s", 3),
        ("snapshot_write_s", "that table's snapshot write (Delta overwrite)", "s", 3),
        ("peak_rss_mib", "change computation: peak RSS", "MiB", 1),
    ):
        figures[key] = figure(f"{label}, {rows:,} rows, {CHANGED:.0%} changed", unit, [c[key] for c in changes],
                              digits)  # fmt: skip
    expected = round(rows * CHANGED)
    found = {(c["inserted"], c["updated"], c["deleted"]) for c in changes}
    if found != {(expected, expected, expected)}:
        raise RuntimeError(f"the change computation found {sorted(found)}, not {expected} of each")
    peak = figures["peak_rss_mib"]["max"]
    goals.append(goal(
        f"change computation of {rows:,} rows: peak RSS <= {CHANGES_LIMIT_MIB} MiB",
        f"at most {peak:.0f} MiB; {figures['changes_s']['median']:.1f} s beside "
        f"{figures['snapshot_write_s']['median']:.1f} s for the snapshot write",
        peak <= CHANGES_LIMIT_MIB,
    ))  # fmt: skip
    parameters = {
        "export_mib": [s // MIB for s in sizes], "rounds": {str(s // MIB): rounds[s] for s in sizes},
        "runs": "/".join(str(rounds[s]) for s in sizes), "changes_runs": len(changes),
        "exports": {str(s // MIB): {"compressed_bytes": files[s][0], "raw_bytes": files[s][1]} for s in sizes},
        "changes_rows": rows, "duckdb": DUCKDB_COPY, "duckdb_memory_limit": DUCKDB_MEMORY_LIMIT, "rss": "VmHWM of the measuring process",
    }  # fmt: skip
    return section(TITLE, parameters, figures, goals)


# -- children: one measured thing each, in a fresh interpreter -----------------------------------------------


def _peak_mib() -> float:
    return (proc_status_kib("VmHWM") or 0) / 1024


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fresh_dir(prefix: str) -> Path:
    """Make a folder of its own under ``benchmarks/.work/tables/`` (runs side by side do not collide)."""
    TABLES_WORK.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=TABLES_WORK))


def child_load(side: str, source: str) -> dict[str, float]:
    """Load ``source`` the way ``side`` does into an empty folder; wall time and the process's peak RSS."""
    from benchmarks.workspace import setup_process

    setup_process()
    work = _fresh_dir(f"load-{side}-")
    target = work / "out"
    import duckdb

    if side == "ours":
        from airflow_provider_asana.tables import load_organization_export

        after_imports, cpu_before = _peak_mib(), _cpu_s()
        started = time.perf_counter()
        load_organization_export(source, str(target), export_gid="1", temp_dir=str(work))
    elif side == "duckdb":
        after_imports, cpu_before = _peak_mib(), _cpu_s()
        started = time.perf_counter()
        connection = duckdb.connect()
        connection.execute("SET enable_progress_bar = false")
        connection.execute(f"SET memory_limit = '{DUCKDB_MEMORY_LIMIT}'")
        connection.execute(DUCKDB_COPY.format(source=source.replace("'", "''"), target=target))
        connection.close()
    else:
        raise ValueError(f"side {side!r}: use 'ours' or 'duckdb'")
    wall = time.perf_counter() - started
    peak = _peak_mib()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    shutil.rmtree(work, ignore_errors=True)
    return {
        "wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime - cpu_before, "peak_rss_mib": peak,
        "rss_after_imports_mib": after_imports,
    }  # fmt: skip


def child_changes(rows: int) -> dict[str, Any]:
    """
    Time ``compute_changes`` between two snapshots of ``rows`` rows, 1% of keys inserted, updated, deleted.

    The new snapshot is staged the way a load stages it (Parquet chunks of 1 Mi rows: key, type, text, record
    hash); the previous version's keys and hashes are in the file :func:`changes.previous_keys` writes. Beside
    it: writing the same new snapshot as a Delta table version (``write_deltalake``, overwrite).
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    from airflow_provider_asana.tables.changes import compute_changes
    from airflow_provider_asana.tables.naming import KEY, RECORD_HASH, TYPE_FIELD

    work = _fresh_dir("changes-")
    (work / "new").mkdir()
    step = 1 << 20
    n_changed = round(rows * CHANGED)
    every = max((rows - n_changed) // max(n_changed, 1), 1)
    # previous: keys 0..rows-1 with hash = key. New: the first n_changed keys deleted, n_changed keys inserted
    # after the last, and every `every`-th kept key, n_changed of them, with a new hash.
    prev_schema = pa.schema(
        [("k", pa.int64()), ("h", pa.int64()), ("fragment", pa.int32()), ("row", pa.int64())]
    )
    with pq.ParquetWriter(work / "prev.parquet", prev_schema, compression="lz4") as writer:
        for start in range(0, rows, step):
            keys = pa.array(range(start, min(start + step, rows)), pa.int64())
            writer.write_table(pa.table(
                [keys, keys, pa.repeat(pa.scalar(start // step, pa.int32()), len(keys)), pc.subtract(keys, start)],
                schema=prev_schema,
            ))  # fmt: skip
    chunks = []
    text = "A comment of about the length of a real one, with some words in it: review the plan by Friday. "
    for index, start in enumerate(range(n_changed, rows + n_changed, step)):
        keys = pa.array(range(start, min(start + step, rows + n_changed)), pa.int64())
        offset = pc.subtract(keys, n_changed)
        step_of = pc.divide(offset, every)
        on_step = pc.equal(offset, pc.multiply(step_of, every))
        updated = pc.and_(pc.and_(on_step, pc.less(step_of, n_changed)), pc.less(keys, rows))
        path = str(work / "new" / f"chunk-{index:05d}.parquet")
        pq.write_table(pa.table({
            KEY: keys, TYPE_FIELD: pa.repeat(pa.scalar("Comment"), len(keys)),
            "text": pa.repeat(pa.scalar(text), len(keys)),
            RECORD_HASH: pc.if_else(updated, pc.negate(keys), keys),
        }), path, compression="zstd")  # fmt: skip
        chunks.append(path)
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")
    before = (proc_status_kib("VmRSS") or 0) / 1024
    started = time.perf_counter()
    result = compute_changes(chunks, str(work / "prev.parquet"), str(work))
    seconds = time.perf_counter() - started
    peak = _peak_mib()
    started = time.perf_counter()
    write_deltalake(str(work / "snapshot"), ds.dataset(chunks).scanner().to_reader(), mode="overwrite")
    snapshot_seconds = time.perf_counter() - started
    shutil.rmtree(work, ignore_errors=True)
    return {
        "rows": rows, "changes_s": seconds, "peak_rss_mib": peak, "rss_before_mib": before,
        "snapshot_write_s": snapshot_seconds,
        "inserted": result.inserted, "updated": result.updated, "deleted": result.deleted,
    }  # fmt: skip


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tables")
    parser.add_argument("--child", nargs="+", metavar="ARG", required=True,
                        help="load {ours,duckdb} SOURCE | changes ROWS")  # fmt: skip
    args = parser.parse_args(argv)
    kind, *rest = args.child
    if kind == "load" and len(rest) == 2:
        print(json.dumps(child_load(*rest)))
    elif kind == "changes" and len(rest) == 1:
        print(json.dumps(child_changes(int(rest[0]))))
    else:
        parser.error("--child: use 'load {ours,duckdb} SOURCE' or 'changes ROWS'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
