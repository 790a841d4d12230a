"""
Measure the lake tables: load throughput, peak RSS and the change computation.

The load against DuckDB's own ``COPY ... PARTITION_BY (__type)`` of the same file and ``zcat > /dev/null``
(the floor), peak RSS at two export sizes, and the change computation at 10 million rows.

    .venv/bin/python -m benchmarks.tables load --sizes 64M,256M --runs 1
    .venv/bin/python -m benchmarks.tables changes --rows 10000000

Every measured side runs in a fresh interpreter; peak RSS is the kernel's ``VmHWM`` of that process (also
after imports, so the import cost shows). Exports come from ``tests/tables/synthetic.py`` (realistic 5-8:1
compression; the emulator's files compress 1.3:1) and are cached under ``benchmarks/.work/tables/``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work" / "tables"
#: Compressed bytes per synthetic object (measured: 3.9 M objects make a 322 MiB file).
BYTES_PER_OBJECT = 86.5
SUFFIX = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def size_of(text: str) -> int:
    return int(float(text[:-1]) * SUFFIX[text[-1].upper()]) if text[-1].upper() in SUFFIX else int(text)


def export_of_size(size: int, k: int = 0) -> Path:
    """Return a cached synthetic export of about ``size`` compressed bytes (export ``k`` of its series)."""
    sys.path.insert(0, str(ROOT))
    from tests.tables.synthetic import SyntheticOrg

    WORK.mkdir(parents=True, exist_ok=True)
    objects = int(size / BYTES_PER_OBJECT)
    path = WORK / f"export-{objects}-{k}.json.gz"
    if not path.exists():
        started = time.monotonic()
        SyntheticOrg(objects, seed=1).write(path.with_suffix(".tmp"), k)
        path.with_suffix(".tmp").rename(path)
        print(
            f"generated {path.name} ({path.stat().st_size / (1 << 20):.0f} MiB) in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
        )
    return path


# -- children: one measured thing each, in a fresh interpreter -----------------------------------------------


def _hwm_mib() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_hwm() -> None:
    """Start the peak (VmHWM) over from the current RSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def _child(kind: str, source: str, target: str) -> dict[str, Any]:
    if kind in ("ours", "ours-again"):
        os.environ.setdefault("AIRFLOW_HOME", str(WORK / "airflow-home"))
        import duckdb
        import pyarrow.json  # noqa: F401

        from airflow_provider_asana.tables import (
            load as _load,  # noqa: F401
            load_organization_export,
        )

        baseline = _hwm_mib()
        cpu, started = time.process_time(), time.perf_counter()
        if kind == "ours-again":  # a second export into the same root: changes against the first
            os.environ["AIRFLOW_HOME"] = str(WORK / "airflow-home")
        result = load_organization_export(source, target, export_gid=Path(source).name, temp_dir=str(WORK))
        return {
            "wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
            "peak_rss_mib": _hwm_mib(), "rss_after_imports_mib": baseline,
            "rows": sum(t["rows"] for t in result["tables"].values()),
            "tables": {
                n: {"rows": t["rows"], "inserted": t["inserted"], "updated": t["updated"], "deleted": t["deleted"],
                    "seconds": t["seconds"]}
                for n, t in result["tables"].items()
            },
            "stage_s": result["seconds"]["stage"],
        }  # fmt: skip
    if kind == "duckdb":
        import duckdb

        baseline = _hwm_mib()
        cpu, started = time.process_time(), time.perf_counter()
        duckdb.connect().execute(
            f"COPY (SELECT * FROM read_json('{source}')) TO '{target}' (FORMAT parquet, PARTITION_BY (__type))"
        )
        return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu,
                "peak_rss_mib": _hwm_mib(), "rss_after_imports_mib": baseline}  # fmt: skip
    raise ValueError(kind)


def run_child(kind: str, source: Path, target: Path, *, fresh: bool = True) -> dict[str, Any]:
    if fresh:
        shutil.rmtree(target, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.tables", "child", kind, str(source), str(target)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if fresh:
        shutil.rmtree(target, ignore_errors=True)
    del children
    return result


def measure_series(size: int) -> dict[str, Any]:
    """Export 0, then export 1 of the same organization (1% inserted, updated, deleted) into one root."""
    first, second = export_of_size(size, 0), export_of_size(size, 1)
    target = WORK / "out-series"
    shutil.rmtree(target, ignore_errors=True)
    out = {
        "first": run_child("ours", first, target, fresh=False),
        "second": run_child("ours-again", second, target, fresh=False),
    }
    shutil.rmtree(target, ignore_errors=True)
    return out


def zcat(source: Path) -> dict[str, Any]:
    started = time.perf_counter()
    subprocess.run(f"zcat '{source}' > /dev/null", shell=True, check=True)
    return {"wall_s": time.perf_counter() - started}


def measure_load(sizes: list[int], runs: int) -> dict[str, Any]:
    """Alternating rounds (zcat, DuckDB, ours; rotated) per size."""
    out: dict[str, Any] = {}
    for size in sizes:
        source = export_of_size(size)
        sides = ["zcat", "duckdb", "ours"]
        rounds = []
        for r in range(runs):
            order = sides[r % 3 :] + sides[: r % 3]
            got = {}
            for side in order:
                got[side] = zcat(source) if side == "zcat" else run_child(side, source, WORK / f"out-{side}")
            got["ours_over_duckdb"] = got["ours"]["wall_s"] / got["duckdb"]["wall_s"]
            rounds.append(got)
            print(json.dumps({"size": size, "round": r, **got}), file=sys.stderr)
        out[str(size)] = {"file_bytes": source.stat().st_size, "rounds": rounds}
    return out


# -- the change computation at scale -------------------------------------------------------------------------


def measure_changes(rows: int, changed: float = 0.01, memory_limit: str = "256MB") -> dict[str, Any]:
    """
    Time ``compute_changes`` on ``rows`` keys and hashes, in a fresh interpreter.

    The previous version's and the new snapshot's staged chunks differ by 1% inserted, updated and deleted;
    beside it, the time to write the same number of rows as a snapshot of (key, hash, type, text) columns.
    """
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.tables", "child-changes", str(rows), str(changed), memory_limit],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child_changes(rows: int, changed: float, memory_limit: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from airflow_provider_asana.tables.changes import compute_changes

    work = WORK / "changes"
    shutil.rmtree(work, ignore_errors=True)
    (work / "new").mkdir(parents=True)
    step = 1 << 20
    n_changed = int(rows * changed)
    # previous version: keys 0..rows-1, hash = key; new: keys n_changed..rows-1+n_changed (n_changed deleted
    # at
    # the start, n_changed inserted at the end), n_changed of the kept keys with a new hash
    prev_schema = pa.schema(
        [("k", pa.int64()), ("h", pa.int64()), ("fragment", pa.int32()), ("row", pa.int64())]
    )
    with pq.ParquetWriter(work / "prev.parquet", prev_schema) as writer:
        for start in range(0, rows, step):
            keys = pa.array(range(start, min(start + step, rows)), pa.int64())
            writer.write_table(pa.table([keys, keys, pa.repeat(pa.scalar(start // step, pa.int32()), len(keys)),
                                         pc.subtract(keys, start)], schema=prev_schema))  # fmt: skip
    chunks = []
    for index, start in enumerate(range(n_changed, rows + n_changed, step)):
        keys = pa.array(range(start, min(start + step, rows + n_changed)), pa.int64())
        every = round(1 / changed)
        hit = pc.equal(pc.subtract(keys, pc.multiply(pc.divide(keys, every), every)), 0)  # key % every == 0
        hashes = pc.if_else(hit, pc.negate(keys), keys)
        path = str(work / "new" / f"chunk-{index:05d}.parquet")
        text = pa.repeat(pa.scalar("some story text of realistic length " * 4), len(keys))
        pq.write_table(pa.table({"__object_id": keys, "__type": pa.repeat(pa.scalar("Comment"), len(keys)),
                                 "text": text, "_export_record_hash": hashes}), path)  # fmt: skip
        chunks.append(path)
    _reset_hwm()
    baseline = _hwm_mib()
    started = time.perf_counter()
    result = compute_changes(chunks, str(work / "prev.parquet"), str(work), memory_limit=memory_limit)
    seconds = time.perf_counter() - started
    peak = _hwm_mib()
    started = time.perf_counter()
    with pq.ParquetWriter(work / "snapshot.parquet", pq.read_schema(chunks[0]), compression="zstd") as writer:
        for path in chunks:
            writer.write_table(pq.read_table(path))
    snapshot_seconds = time.perf_counter() - started
    shutil.rmtree(work, ignore_errors=True)
    return {
        "rows": rows, "changes_s": seconds, "peak_rss_mib": peak, "rss_before_mib": baseline,
        "inserted": result.inserted, "updated": result.updated, "deleted": result.deleted,
        "memory_limit": memory_limit, "snapshot_write_s": snapshot_seconds,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tables", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    load = sub.add_parser("load", help="load vs DuckDB COPY vs zcat, peak RSS")
    load.add_argument("--sizes", default="256M,2G", help="compressed export sizes (default 256M,2G)")
    load.add_argument("--runs", type=int, default=3)
    series = sub.add_parser("series", help="two consecutive exports: change computation inside a real load")
    series.add_argument("--size", default="64M")
    changes = sub.add_parser("changes", help="change computation at scale")
    changes.add_argument("--rows", type=int, default=10_000_000)
    changes.add_argument("--memory-limit", default="256MB")
    child = sub.add_parser("child")
    child.add_argument("kind")
    child.add_argument("source")
    child.add_argument("target")
    child_changes = sub.add_parser("child-changes")
    child_changes.add_argument("rows", type=int)
    child_changes.add_argument("changed", type=float)
    child_changes.add_argument("memory_limit")
    args = parser.parse_args(argv)
    if args.command == "child":
        print(json.dumps(_child(args.kind, args.source, args.target)))
    elif args.command == "child-changes":
        print(json.dumps(_child_changes(args.rows, args.changed, args.memory_limit)))
    elif args.command == "series":
        print(json.dumps(measure_series(size_of(args.size)), indent=1))
    elif args.command == "load":
        print(json.dumps(measure_load([size_of(s) for s in args.sizes.split(",")], args.runs), indent=1))
    else:
        print(json.dumps(measure_changes(args.rows, memory_limit=args.memory_limit), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
