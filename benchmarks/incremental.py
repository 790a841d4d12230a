"""
Benchmark 6: incremental loads through resource exports, against the emulator in its own process.

    .venv/bin/python -m benchmarks --only incremental           # 64 MiB organization: ~100,000 changed tasks a day
    .venv/bin/python -m benchmarks --only incremental --quick   # smoke: 1 MiB organization

1. **API calls per run.** The chain the hourly example Dag runs (``create_resource_export`` of the tasks and
   messages modified in a window, ``get_job`` until it ``succeeded``, ``download_job_export``), once for a
   window holding about 100 changed tasks and once for the whole day of export 1 (about 100,000 in full mode),
   counting the requests the emulator receives, per host and endpoint. The emulator's jobs finish on their
   second poll, so the count does not depend on how long a job takes.
2. **One hourly run end to end.** ``dag.test()`` of ``asana_resource_exports_hourly`` (``example_dags/``) in a
   fresh interpreter with its own SQLite metadata DB, for one hour of the emulated day, polls every second:
   wall time of the run and of each task, and the requests the emulator received.
3. **Load throughput.** The whole-day resource export landed in step 1, loaded by ``load_resource_export`` into
   an empty root, against DuckDB's ``COPY ... PARTITION_BY (resource_type)`` of the same file and ``zcat``
   (``benchmarks/resource_tables.py``'s children, each a fresh interpreter).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.report import figure, goal, section
from benchmarks.workspace import ROOT, WORK, EmulatorProcess

TITLE = "Incremental loads (resource exports)"
#: Half the tasks updated a day, and each resource or graph job showing export 1 of the sequence.
EMULATOR_ARGS = ("--change-rates", "update=0.5", "--next-job-sequence", "1")
SMALL_WINDOW_TASKS = 100
AIRFLOW_HOME = WORK / "airflow-home-incremental"


def _parameters(start: str, end: str) -> list[dict[str, Any]]:
    window = {"modified_at.after": start, "modified_at.before": end}
    return [{"resource_type": "task", "filters": window}, {"resource_type": "message", "filters": window}]


def _requests(emulator: EmulatorProcess) -> Counter[str]:
    return Counter(
        f"{r['method']} {r['host']} {_endpoint(r['path'])}" for r in emulator.control("GET", "requests")
    )


def _endpoint(path: str) -> str:
    return "/".join("{gid}" if part.isdigit() else part for part in path.split("/"))


def chain(emulator: EmulatorProcess, start: str, end: str, destination: Path) -> dict[str, Any]:
    """Create, wait for and land one resource export of a window; return its requests, lines and times."""
    from airflow_provider_asana.hooks.asana import AsanaHook

    emulator.control("PUT", "next_job_sequence", {"sequence": 1})
    emulator.session.delete(f"{emulator.control_url}/requests", timeout=30).raise_for_status()
    hook = AsanaHook()
    started = time.perf_counter()
    job = hook.create_resource_export(_parameters(start, end))
    while hook.get_job(job["gid"])["status"] != "succeeded":
        time.sleep(0.2)
    waited = time.perf_counter() - started
    # The emulator writes a job's file after it reports ``succeeded`` (Asana, before): wait for the file
    # through the control API (not logged), so the download does not time out and resume while it is made.
    emulator.session.get(f"{emulator.control_url}/jobs", timeout=1800).raise_for_status()
    landed = hook.download_job_export(job["gid"], str(destination), overwrite=True)
    requests = _requests(emulator)
    lines = emulator.control("GET", "jobs")[job["gid"]].get("counts", {})
    return {
        "requests": sum(requests.values()),
        "by_endpoint": dict(sorted(requests.items())),
        "lines": lines,
        "bytes": landed["bytes"],
        "create_and_wait_s": round(waited, 2),
        "total_s": round(time.perf_counter() - started, 2),
    }


# -- one hourly run: dag.test() in a fresh interpreter ------------------------------------------------------


def _dag_environment(emulator: EmulatorProcess, lake: Path) -> dict[str, str]:
    from tests.system.conftest import bundle_config

    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        **emulator.environment(),
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundle_config(),
        "AIRFLOW_VAR_ASANA_LAKE_ROOT": lake.as_uri(),
        "ASANA_EXAMPLE_POKE_INTERVAL": "1",
    }


def _dag_child(logical_date: str) -> dict[str, Any]:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils.db import initdb

    initdb()
    dag = DagBag(dag_folder=str(ROOT / "example_dags")).dags["asana_resource_exports_hourly"]
    started = time.perf_counter()
    run = dag.test(logical_date=datetime.fromisoformat(logical_date))
    wall = time.perf_counter() - started
    tasks = {ti.task_id: (str(ti.state), round(ti.duration or 0.0, 2)) for ti in run.get_task_instances()}
    if {state for state, _ in tasks.values()} != {"success"} or len(tasks) != len(dag.tasks):
        raise RuntimeError(f"the hourly run did not run every task successfully: {tasks}")
    return {
        "state": str(run.state),
        "wall_s": round(wall, 2),
        "task_s": {t: d for t, (_, d) in tasks.items()},
    }


def hourly_run(emulator: EmulatorProcess, hour_end: str, lake: Path) -> dict[str, Any]:
    emulator.control("PUT", "next_job_sequence", {"sequence": 1})
    emulator.session.delete(f"{emulator.control_url}/requests", timeout=30).raise_for_status()
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.incremental", "dag-child", hour_end],
        cwd=ROOT, capture_output=True, text=True, check=False, env=_dag_environment(emulator, lake),
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"the hourly Dag run failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    requests = _requests(emulator)
    jobs = emulator.control("GET", "jobs")
    result["requests"] = sum(requests.values())
    result["by_endpoint"] = dict(sorted(requests.items()))
    result["lines"] = [job.get("counts", {}) for job in jobs.values()][-1]
    return result


# -- the benchmark ------------------------------------------------------------------------------------------


def run(size: int, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    from benchmarks import resource_tables

    results: dict[str, Any] = {"export_size": size}
    with tempfile.TemporaryDirectory(prefix="incremental-", dir=WORK) as tmp:
        work = Path(tmp)
        with EmulatorProcess(size, polls_to_finish=2, extra_args=EMULATOR_ARGS) as emulator:
            os.environ.update(emulator.environment())
            day_start = emulator.control("GET", "sequence/0")["time"]
            day_end = emulator.control("GET", "sequence/1")["time"]
            log(f"whole day {day_start} .. {day_end} (the emulator generates export 1 on the first job)")
            day = chain(emulator, day_start, day_end, work / "day.jsonl.gz")
            changed = day["lines"].get("task", 0)
            log(f"  {changed} changed tasks, {day['requests']} requests, {day['total_s']} s")
            end = datetime.fromisoformat(day_end.replace("Z", "+00:00"))
            span = timedelta(days=1) * SMALL_WINDOW_TASKS / max(changed, 1)
            probe = chain(emulator, (end - span).isoformat(), day_end, work / "probe.jsonl.gz")
            # The changes are spread evenly over the day, but not exactly: widen the window to ~100 tasks.
            span *= SMALL_WINDOW_TASKS / max(probe["lines"].get("task", 0), 1)
            small = [
                chain(emulator, (end - span).isoformat(), day_end, work / f"small-{n}.jsonl.gz")
                for n in range(runs)
            ]
            log(f"  small window: {small[0]['lines'].get('task', 0)} tasks, {small[0]['requests']} requests")
            hour_end = (
                datetime.fromisoformat(day_start.replace("Z", "+00:00")) + timedelta(hours=13)
            ).isoformat()
            hourly = [hourly_run(emulator, hour_end, work / f"lake-{n}") for n in range(runs)]
            log(
                f"  hourly run: {hourly[0]['wall_s']} s, {hourly[0]['lines']}, {hourly[0]['requests']} requests"
            )
        source = work / "day.jsonl.gz"
        load: dict[str, Any] = {
            "zcat_s": round(resource_tables.zcat(source), 3),
            "duckdb": resource_tables.run_child("duckdb", source, work / "duck"),
            "ours": resource_tables.run_child("ours", source, work / "tables"),
            "compressed_mib": round(source.stat().st_size / 2**20, 2),
        }
        log(
            f"  load of the day: ours {load['ours']['wall_s']:.1f} s, DuckDB {load['duckdb']['wall_s']:.1f} s"
        )
        shutil.rmtree(work / "duck", ignore_errors=True)
    results.update(day=day, small=small, hourly=hourly, load=load)
    return _section(results, runs)


def _section(r: dict[str, Any], runs: int) -> dict[str, Any]:
    small_tasks = r["small"][0]["lines"].get("task", 0)
    day_tasks = r["day"]["lines"].get("task", 0)
    ours, duck = r["load"]["ours"], r["load"]["duckdb"]
    figures = {
        "calls_small": figure(
            f"requests per incremental run, {small_tasks} changed tasks", "requests",
            [s["requests"] for s in r["small"]], 0,
        ),
        "calls_day": figure(
            f"requests per incremental run, {day_tasks} changed tasks", "requests", [r["day"]["requests"]], 0
        ),
        "hourly_wall": figure(
            f"one hourly run, dag.test() ({r['hourly'][0]['lines'].get('task', 0)} changed tasks)", "s",
            [h["wall_s"] for h in r["hourly"]],
        ),
        "load_ours": figure(f"load_resource_export of {day_tasks} tasks, first load", "s", [ours["wall_s"]]),
        "load_duckdb": figure("DuckDB COPY ... PARTITION_BY (resource_type), same file", "s", [duck["wall_s"]]),
    }  # fmt: skip
    same = all(s["by_endpoint"] == r["day"]["by_endpoint"] for s in r["small"])
    goals = [
        goal(
            "API calls per incremental run independent of the number of changed objects",
            f"{r['small'][0]['requests']} requests at {small_tasks} changed tasks, {r['day']['requests']} at "
            f"{day_tasks}", same, "" if same else "the requests differ: see by_endpoint",
        ),
    ]  # fmt: skip
    parameters = {"export_size": r["export_size"], "runs": runs, "emulator": list(EMULATOR_ARGS), "raw": r}
    return section(TITLE, parameters, figures, goals)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["dag-child"]:
        print(json.dumps(_dag_child(args[1])))
        return 0
    from benchmarks.workspace import setup_process

    setup_process()
    quick = "--quick" in args
    result = run((1 << 20) if quick else (64 << 20), 1, lambda m: print(m, flush=True))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
