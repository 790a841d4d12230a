"""
``make demo``: run the example Dags for real, against the emulator, and check what landed.

``python -m demo`` from the repository root (the demo needs ``example_dags/``, so it is not installed). It

1. wipes ``.demo/`` (git-ignored) and makes a private Airflow there: ``AIRFLOW_HOME=.demo/airflow``,
   SQLite, ``example_dags/`` as the Dags folder, no Airflow examples; ``airflow db migrate``;
2. starts the emulator (a few MiB export that goes pending -> started -> finished in a few seconds);
3. runs ``airflow dags test asana_organization_export_to_lake <today>`` with the connection, the lake root
   (``.demo/lake``) and a 2 s poll interval in the environment, then ``airflow dags test
   asana_organization_export_report``; each command's full output goes to ``.demo/logs/``;
4. checks, independently of Airflow: the file exists, its SHA-256 (read back from disk) equals the
   transfer's XCom and the emulator's, and the per-``__type`` counts recomputed from the file equal the
   report task's return value (read from the metadata DB).

Exits 0 only if every step and check passed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from airflow_provider_asana.emulator import AsanaEmulator
from demo.checks import count_types, sha256_of

LAKE_DAG_ID = "asana_organization_export_to_lake"
REPORT_DAG_ID = "asana_organization_export_report"
EXPORT_SIZE = 4 << 20
SECONDS_TO_FINISH = 6.0
POKE_INTERVAL = "2"
COMMAND_TIMEOUT = 300
#: Lines of a command's output echoed live: what the provider and the report task log (by logger name).
_ECHO = ("airflow_provider_asana", "asana_organization_export_to_lake]")
_RUN_FINISHED = re.compile(r"DagRun Finished: dag_id=([^,]+),.*?state=(\w+)")
REPO = Path(__file__).resolve().parents[1]


class DemoError(Exception):
    """A step or check failed; the message says which and where the details are."""


def airflow_env(repo: Path, demo: Path) -> dict[str, str]:
    """Build the environment of every ``airflow`` command: a private home, SQLite, the example Dags only."""
    home = demo / "airflow"
    env = {
        k: v
        for k, v in os.environ.items()
        # Whatever the caller's shell points Airflow at must not leak into (or receive) the demo.
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        and k not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONFIG": str(home / "airflow.cfg"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(repo / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_VAR_ASANA_LAKE_ROOT": (demo / "lake").as_uri(),
            "ASANA_EXAMPLE_POKE_INTERVAL": POKE_INTERVAL,
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_airflow(args: Sequence[str], env: dict[str, str], log: Path, *, echo: bool) -> None:
    """
    Run ``airflow <args>``, its whole output into ``log``; echo the lines about the export if ``echo``.

    :raises DemoError: on a non-zero exit, with the log's tail.
    """
    command = [sys.executable, "-m", "airflow", *args]
    started = time.monotonic()
    with log.open("w") as out:
        out.write(f"$ airflow {' '.join(args)}\n")
        out.flush()
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if TYPE_CHECKING:  # stdout=PIPE
            assert proc.stdout is not None
        try:
            for line in proc.stdout:
                out.write(line)
                if not echo:
                    continue
                if finished := _RUN_FINISHED.search(line):
                    print(f"    run of {finished[1]} finished: {finished[2]}", flush=True)
                elif any(marker in line for marker in _ECHO):
                    print("    " + _short(line), flush=True)
            returncode = proc.wait(timeout=max(1, COMMAND_TIMEOUT - (time.monotonic() - started)))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise DemoError(f"`airflow {' '.join(args)}` took over {COMMAND_TIMEOUT} s; see {log}") from None
        finally:
            if proc.poll() is None:
                proc.kill()
    if returncode != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-40:])
        raise DemoError(
            f"`airflow {' '.join(args)}` failed (exit {returncode}); last lines of {log}:\n{tail}"
        )


def _short(line: str) -> str:
    """Strip a log line's timestamp-level prefix and logger suffix, leaving the message."""
    text = line.rstrip()
    if "] " in text and text[:4].isdigit():
        text = text.split("] ", 1)[1]
    if " [" in text:
        text = text.rsplit(" [", 1)[0].rstrip()
    return text


def latest_run(db: Path, dag_id: str) -> tuple[str, str]:
    """``(run_id, state)`` of the Dag's newest run."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
        ).fetchone()
    if row is None:
        raise DemoError(f"no run of {dag_id} in {db}")
    return row[0], row[1]


def return_value(db: Path, dag_id: str, run_id: str, task_id: str) -> Any:
    """Read a task's ``return_value`` XCom (stored as JSON)."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND task_id = ? AND key = 'return_value'",
            (dag_id, run_id, task_id),
        ).fetchone()
    if row is None:
        raise DemoError(f"task {dag_id}.{task_id} of run {run_id} returned nothing")
    return json.loads(row[0])


def demo(repo: Path) -> dict[str, Any]:
    """Run the demo; return what it found. :raises DemoError: on the first failure."""
    demo_dir = repo / ".demo"
    shutil.rmtree(demo_dir, ignore_errors=True)  # every run starts clean: re-runnable
    logs = demo_dir / "logs"
    for folder in (logs, demo_dir / "airflow", demo_dir / "lake"):
        folder.mkdir(parents=True)
    env = airflow_env(repo, demo_dir)
    db = demo_dir / "airflow" / "airflow.db"
    today = datetime.date.today().isoformat()

    print(f"[1/4] Airflow home {demo_dir / 'airflow'}: migrating the SQLite metadata DB", flush=True)
    run_airflow(["db", "migrate"], env, logs / "db-migrate.log", echo=False)

    print(
        f"[2/4] Starting the Asana emulator: a {EXPORT_SIZE >> 20} MiB export that finishes "
        f"{SECONDS_TO_FINISH:g} s after it is created",
        flush=True,
    )
    with AsanaEmulator(
        export_size=EXPORT_SIZE,
        polls_to_finish=None,
        seconds_to_finish=SECONDS_TO_FINISH,
        cache_dir=demo_dir / "emulator-cache",
    ) as emulator:
        env["AIRFLOW_CONN_ASANA_DEFAULT"] = emulator.connection_json
        print(f"      API {emulator.api_url}, downloads {emulator.download_base}", flush=True)

        print(f"[3/4] airflow dags test {LAKE_DAG_ID} {today}", flush=True)
        run_airflow(["dags", "test", LAKE_DAG_ID, today], env, logs / f"{LAKE_DAG_ID}.log", echo=True)
        lake_run, lake_state = latest_run(db, LAKE_DAG_ID)
        if lake_state != "success":
            raise DemoError(
                f"{LAKE_DAG_ID} run {lake_run} ended {lake_state}; see {logs / f'{LAKE_DAG_ID}.log'}"
            )
        landed = return_value(db, LAKE_DAG_ID, lake_run, "land")
        export_gid = landed["export_gid"]
        emulator_sha256 = emulator.export_sha256(export_gid)

        print(f"[4/4] airflow dags test {REPORT_DAG_ID}", flush=True)
        run_airflow(["dags", "test", REPORT_DAG_ID], env, logs / f"{REPORT_DAG_ID}.log", echo=True)
        report_run, report_state = latest_run(db, REPORT_DAG_ID)
        if report_state != "success":
            raise DemoError(
                f"{REPORT_DAG_ID} run {report_run} ended {report_state}; see {logs / f'{REPORT_DAG_ID}.log'}"
            )
        report = return_value(db, REPORT_DAG_ID, report_run, "count_records")

    path = Path(unquote(urlsplit(landed["uri"]).path))
    if not path.is_file():
        raise DemoError(f"the transfer reported {landed['uri']} but there is no file at {path}")
    size = path.stat().st_size
    sha256 = sha256_of(path)
    counts = count_types(path)
    checks = {
        "file size equals the transfer's byte count": size == landed["bytes"],
        "SHA-256 of the file equals the transfer's": sha256 == landed["sha256"],
        "SHA-256 of the file equals the emulator's export": sha256 == emulator_sha256,
        "the report read the landed file": report.get("uri") == landed["uri"],
        "the report's counts equal counts recomputed from the file": report.get("by_type") == counts,
        "the report's total equals the recomputed total": report.get("records") == sum(counts.values()),
    }
    return {
        "path": path,
        "size": size,
        "sha256": sha256,
        "emulator_sha256": emulator_sha256,
        "export_gid": export_gid,
        "counts": counts,
        "checks": checks,
        "logs": logs,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n\n")[0])
    parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = demo(REPO)
    except DemoError as e:
        print(f"\nDEMO FAILED: {e}", file=sys.stderr)
        return 1
    print()
    print(f"Landed export {result['export_gid']}:")
    print(f"  file    {result['path']}")
    print(f"  size    {result['size']:,} bytes")
    print(f"  sha256  {result['sha256']}")
    print(f"  emulator's export sha256 {result['emulator_sha256']}")
    print("  records per __type, recomputed here from the file (checked against the report task below):")
    width = max(map(len, result["counts"]), default=0)
    for kind, count in sorted(result["counts"].items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"    {kind:<{width}}  {count:>8,}")
    print(f"    {'total':<{width}}  {sum(result['counts'].values()):>8,}")
    print()
    for check, ok in result["checks"].items():
        print(f"  [{'ok' if ok else 'FAILED'}] {check}")
    print(f"\nLogs in {result['logs']}. {time.monotonic() - started:.0f} s.")
    if not all(result["checks"].values()):
        print("\nDEMO FAILED: see the checks above.", file=sys.stderr)
        return 1
    print("Demo OK.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
