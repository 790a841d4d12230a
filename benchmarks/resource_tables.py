"""
Measure resource exports into lake tables: load throughput against DuckDB, and the nested-vs-split layout.

    .venv/bin/python -m benchmarks.resource_tables --tasks 20000      # the figures of docs/lake-tables.md
    .venv/bin/python -m benchmarks.resource_tables --tasks 300        # smoke

1. A resource export of ``--tasks`` tasks (8 stories each on average, an attachment on one in four; API
   shapes of ``tests/tables/resource_lines.py``) plus teams and messages, then a second export of the same
   window plus 10% of the tasks modified (the hourly overlap).
2. ``load_resource_export`` of the first file into an empty root, then of the second (the upsert), against
   DuckDB's ``COPY (SELECT * FROM read_json(...)) TO ... (FORMAT parquet, PARTITION_BY (resource_type))`` of
   the same first file, and ``zcat > /dev/null``. Each side in a fresh interpreter, wall and CPU time.
3. The layouts: the loaded ``task`` and ``task_story`` tables (split, ``_parent_gid``) against the same data
   nested (``task.stories`` a list of structs), both as plain Parquet, queried with DuckDB.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def write_export(path: Path, tasks: int, *, modified: float = 0.0, seed: int = 1) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.tables.resource_lines import line, message, task, team

    rng = random.Random(seed)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        for n in range(tasks):
            changed = rng.random() < modified
            obj = task(n, minute=90 if changed else n % 60, stories=rng.randint(0, 16))
            if changed:
                obj["name"] = f"Task {n}, renamed"
            out.write(line(obj) + "\n")
        for n in range(max(tasks // 200, 1)):
            out.write(line(team(n, members=20)) + "\n")
        for n in range(max(tasks // 50, 1)):
            out.write(line(message(n)) + "\n")


def _child(kind: str, source: str, target: str) -> dict[str, Any]:
    """Load ``source`` one way, in this fresh interpreter; imports happen before the clock starts."""
    import duckdb

    from airflow_provider_asana.tables import (
        load as _load,  # noqa: F401
        load_resource_export,
    )

    cpu, started = time.process_time(), time.perf_counter()
    if kind == "ours":
        result = load_resource_export(source, target, export_gid=Path(source).name)
        out = {
            n: {k: t[k] for k in ("rows", "inserted", "updated", "version", "seconds")}
            for n, t in result["tables"].items()
        }
    elif kind == "duckdb":
        duckdb.connect().execute(
            f"COPY (SELECT * FROM read_json('{source}')) TO '{target}' "
            "(FORMAT parquet, PARTITION_BY (resource_type))"
        )
        out = {}
    else:
        raise ValueError(kind)
    return {"wall_s": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "tables": out}


def run_child(kind: str, source: Path, target: Path) -> dict[str, Any]:
    env = {**os.environ, "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(target.parent / "airflow-home"))}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.resource_tables", "child", kind, str(source), str(target)],
        cwd=ROOT, capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def zcat(source: Path) -> float:
    started = time.perf_counter()
    subprocess.run(f"zcat '{source}' > /dev/null", shell=True, check=True)
    return time.perf_counter() - started


def layouts(lake: Path, work: Path, repeat: int = 3) -> dict[str, Any]:
    """Time the same questions over the nested table and a split copy; best of ``repeat``."""
    import duckdb
    from deltalake import DeltaTable

    con = duckdb.connect()
    con.register("task_loaded", DeltaTable(str(lake / "resources" / "task")).to_pyarrow_dataset())
    con.register("story_loaded", DeltaTable(str(lake / "resources" / "task_story")).to_pyarrow_dataset())
    nested_file, flat, story = (
        work / "task_nested.parquet",
        work / "task_flat.parquet",
        work / "task_story.parquet",
    )
    con.execute(f"COPY (SELECT * FROM task_loaded) TO '{flat}' (FORMAT parquet)")
    con.execute(f"COPY (SELECT * FROM story_loaded) TO '{story}' (FORMAT parquet)")
    con.execute(
        f"""
        COPY (
            SELECT t.*, coalesce(s.stories, []) AS stories FROM task_loaded t LEFT JOIN (
                SELECT _parent_gid, list(i ORDER BY i.gid) AS stories
                FROM (SELECT _parent_gid, struct_pack(gid, resource_type, created_at, created_by,
                    resource_subtype, text) AS i FROM story_loaded)
                GROUP BY _parent_gid
            ) s ON s._parent_gid = t.gid
        ) TO '{nested_file}' (FORMAT parquet)
        """
    )
    con.execute(f"CREATE VIEW task_nested AS SELECT * FROM '{nested_file}'")
    today = "2026-11-29T00:59:00"  # one task in 60 has a modified_at after this
    questions = {
        "stories of tasks modified in the last hour": (
            f"SELECT t.gid, s.text FROM (SELECT gid, unnest(stories) AS s FROM task_nested "
            f"WHERE modified_at > '{today}') t",
            f"SELECT t.gid, s.text FROM '{flat}' t JOIN '{story}' s ON s._parent_gid = t.gid "
            f"WHERE t.modified_at > '{today}'",
        ),
        "stories per task (count per parent)": (
            "SELECT gid, len(stories) FROM task_nested",
            f"SELECT t.gid, count(s._parent_gid) FROM '{flat}' t LEFT JOIN '{story}' s ON s._parent_gid = t.gid "
            "GROUP BY t.gid",
        ),
        "one user's comments, all tasks": (
            "SELECT s.text FROM (SELECT unnest(stories) AS s FROM task_nested) WHERE s.created_by.gid = '9001'",
            f"SELECT text FROM '{story}' WHERE created_by.gid = '9001'",
        ),
        "task names only": (
            "SELECT count(DISTINCT name) FROM task_nested",
            f"SELECT count(DISTINCT name) FROM '{flat}'",
        ),
    }
    out: dict[str, Any] = {}
    for name, (a, b) in questions.items():
        times = []
        for query in (a, b):
            best = min(_timed(con, query) for _ in range(repeat))
            times.append(round(best * 1000, 1))
        rows_a, rows_b = (_count(con, f"SELECT count(*) FROM ({q})") for q in (a, b))
        out[name] = {"nested_ms": times[0], "split_ms": times[1], "rows": [rows_a, rows_b]}
    out["story_rows"] = _count(con, f"SELECT count(*) FROM '{story}'")
    out["parquet_mib"] = {
        "nested": round(nested_file.stat().st_size / 2**20, 2),
        "split": round((flat.stat().st_size + story.stat().st_size) / 2**20, 2),
    }
    return out


def _count(con: Any, query: str) -> int:
    row = con.execute(query).fetchone()
    return int(row[0]) if row else 0


def _timed(con: Any, query: str) -> float:
    started = time.perf_counter()
    con.execute(query).fetchall()
    return time.perf_counter() - started


def measure(tasks: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="resource-tables-") as tmp:
        work = Path(tmp)
        first, second = work / "first.jsonl.gz", work / "second.jsonl.gz"
        write_export(first, tasks)
        write_export(second, tasks, modified=0.10)
        raw = sum(len(chunk) for chunk in _inflate(first))
        result: dict[str, Any] = {
            "tasks": tasks, "compressed_mib": round(first.stat().st_size / 2**20, 2), "raw_mib": round(raw / 2**20, 2),
        }  # fmt: skip
        result["zcat_s"] = round(zcat(first), 3)
        result["duckdb"] = run_child("duckdb", first, work / "duck")
        result["first_load"] = run_child("ours", first, work / "lake")
        result["overlap_load"] = run_child("ours", second, work / "lake")
        result["ratio_first_load_to_duckdb"] = round(
            result["first_load"]["wall_s"] / result["duckdb"]["wall_s"], 2
        )
        result["layouts"] = layouts(work / "lake", work)
        shutil.rmtree(work / "duck", ignore_errors=True)
        return result


def _inflate(path: Path) -> Any:
    with gzip.open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            yield chunk


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.resource_tables")
    parser.add_argument("--tasks", type=int, default=20_000)
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("child")
    child.add_argument("kind")
    child.add_argument("source")
    child.add_argument("target")
    args = parser.parse_args(argv)
    if args.command == "child":
        print(json.dumps(_child(args.kind, args.source, args.target)))
    else:
        print(json.dumps(measure(args.tasks), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
