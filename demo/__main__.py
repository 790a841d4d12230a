"""
``make demo``: run the example Dags for real, against the emulator, and check what landed and was loaded.

``python -m demo`` from the repository root (the demo needs ``example_dags/``, so it is not installed). It

1. wipes ``.demo/`` (git-ignored) and makes a private Airflow there: ``AIRFLOW_HOME=.demo/airflow``,
   SQLite, ``example_dags/`` as the Dags folder, no Airflow examples; ``airflow db migrate``;
2. starts the emulator (a few MiB export that goes pending -> started -> finished in a few seconds; each
   export created for the organization is the next day of one organization's history);
3. runs ``airflow dags test asana_organization_export_to_lake <yesterday>`` with the connection, the lake
   root (``.demo/lake``) and a 2 s poll interval in the environment, then ``airflow dags test
   asana_organization_export_report`` and ``airflow dags test asana_organization_export_to_tables``;
4. runs the lake Dag again for today (the organization's next export), then the tables Dag again; each
   command's full output goes to ``.demo/logs/``;
5. checks, independently of Airflow: the first file exists, its SHA-256 (read back from disk) equals the
   transfer's XCom and the emulator's, the per-``__type`` counts recomputed from the file equal the report
   task's return value (read from the metadata DB); for each export, the tables' rows equal the records
   recomputed from its file, and the inserted, updated and deleted objects, per table in the load's result
   and object by object in the change tables, equal the emulator's ground truth.

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
from demo.checks import change_counts, change_rows, count_types, ground_truth, records_per_table, sha256_of

LAKE_DAG_ID = "asana_organization_export_to_lake"
REPORT_DAG_ID = "asana_organization_export_report"
TABLES_DAG_ID = "asana_organization_export_to_tables"
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


def run_dag(dag_id: str, args: Sequence[str], env: dict[str, str], log: Path, db: Path) -> str:
    """
    ``airflow dags test <dag_id> <args>``; return the run's id.

    :raises DemoError: the command failed or the run did not succeed.
    """
    run_airflow(["dags", "test", dag_id, *args], env, log, echo=True)
    run_id, state = latest_run(db, dag_id)
    if state != "success":
        raise DemoError(f"{dag_id} run {run_id} ended {state}; see {log}")
    return run_id


def demo(repo: Path) -> dict[str, Any]:
    """Run the demo; return what it found. :raises DemoError: on the first failure."""
    demo_dir = repo / ".demo"
    shutil.rmtree(demo_dir, ignore_errors=True)  # every run starts clean: re-runnable
    logs = demo_dir / "logs"
    for folder in (logs, demo_dir / "airflow", demo_dir / "lake"):
        folder.mkdir(parents=True)
    env = airflow_env(repo, demo_dir)
    db = demo_dir / "airflow" / "airflow.db"
    today = datetime.date.today()
    days = [(today - datetime.timedelta(days=1)).isoformat(), today.isoformat()]

    print(f"[1/7] Airflow home {demo_dir / 'airflow'}: migrating the SQLite metadata DB", flush=True)
    run_airflow(["db", "migrate"], env, logs / "db-migrate.log", echo=False)

    print(
        f"[2/7] Starting the Asana emulator: a {EXPORT_SIZE >> 20} MiB export that finishes "
        f"{SECONDS_TO_FINISH:g} s after it is created; each export is the organization's next day",
        flush=True,
    )
    exports: list[dict[str, Any]] = []
    with AsanaEmulator(
        export_size=EXPORT_SIZE,
        polls_to_finish=None,
        seconds_to_finish=SECONDS_TO_FINISH,
        cache_dir=demo_dir / "emulator-cache",
    ) as emulator:
        env["AIRFLOW_CONN_ASANA_DEFAULT"] = emulator.connection_json
        print(f"      API {emulator.api_url}, downloads {emulator.download_base}", flush=True)

        for number, day in enumerate(days, start=1):
            suffix = "" if number == 1 else f"-{number}"
            step = 3 if number == 1 else 6
            print(f"[{step}/7] airflow dags test {LAKE_DAG_ID} {day} (export {number})", flush=True)
            lake_run = run_dag(LAKE_DAG_ID, [day], env, logs / f"{LAKE_DAG_ID}{suffix}.log", db)
            landed = return_value(db, LAKE_DAG_ID, lake_run, "land")
            export_gid = landed["export_gid"]
            if number == 1:
                emulator_sha256 = emulator.export_sha256(export_gid)
                print(f"[4/7] airflow dags test {REPORT_DAG_ID}", flush=True)
                report_run = run_dag(REPORT_DAG_ID, [], env, logs / f"{REPORT_DAG_ID}.log", db)
                report = return_value(db, REPORT_DAG_ID, report_run, "count_records")

            print(f"[{step + 1}/7] airflow dags test {TABLES_DAG_ID} (export {number})", flush=True)
            tables_run = run_dag(TABLES_DAG_ID, [], env, logs / f"{TABLES_DAG_ID}{suffix}.log", db)
            exports.append(
                {
                    "landed": landed,
                    "loaded": return_value(db, TABLES_DAG_ID, tables_run, "load_tables"),
                    "truth": ground_truth(emulator.export_changes(export_gid)),
                    "organization_gid": emulator.organization_gid,
                }
            )

    landed = exports[0]["landed"]
    path = uri_to_path(landed["uri"])
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
    for number, export in enumerate(exports, start=1):
        try:
            checks.update(check_tables(number, export, demo_dir / "lake"))
        except (OSError, KeyError, ValueError) as e:  # a missing table or a result without its keys
            raise DemoError(
                f"checking the lake tables of export {number} failed: {type(e).__name__}: {e}"
            ) from e
    return {
        "path": path,
        "size": size,
        "sha256": sha256,
        "emulator_sha256": emulator_sha256,
        "export_gid": landed["export_gid"],
        "counts": counts,
        "exports": exports,
        "checks": checks,
        "logs": logs,
    }


def uri_to_path(uri: str) -> Path:
    """Return the local path of a ``file://`` URI."""
    return Path(unquote(urlsplit(uri).path))


def check_tables(number: int, export: dict[str, Any], lake: Path) -> dict[str, bool]:
    """Check one export's load against its file and the emulator's ground truth."""
    landed, loaded, truth = export["landed"], export["loaded"], export["truth"]
    tables = lake / "asana" / f"organization={export['organization_gid']}" / "tables"
    changes = {name: (t["inserted"], t["updated"], t["deleted"]) for name, t in loaded["tables"].items()}
    in_tables = change_rows(tables, loaded["export_gid"], list(loaded["tables"]))
    return {
        f"export {number}: the tables Dag loaded the landed export": loaded["export_gid"]
        == landed["export_gid"]
        and loaded["source_sha256"] == landed["sha256"]
        and not loaded["already_loaded"],
        f"export {number}: rows per table equal the records recomputed from its file": {
            name: t["rows"] for name, t in loaded["tables"].items()
        }
        == records_per_table(uri_to_path(landed["uri"])),
        f"export {number}: inserted, updated, deleted per table equal the emulator's ground truth": {
            name: c for name, c in changes.items() if any(c)
        }
        == {name: change_counts(objects) for name, objects in truth.items()},
        f"export {number}: the change tables hold exactly the ground truth's objects": in_tables == truth,
    }


def print_tables(number: int, export: dict[str, Any]) -> None:
    """Print one export's per-table rows and changes, the ground truth's changes beside them."""
    loaded, truth = export["loaded"], export["truth"]
    print(
        f"Export {number} ({loaded['export_gid']}) in the lake tables, per table (ground truth in brackets):"
    )
    width = max(map(len, loaded["tables"]), default=0)
    print(f"    {'table':<{width}}  {'rows':>8}  {'inserted':>14}  {'updated':>14}  {'deleted':>14}")
    for name, t in sorted(loaded["tables"].items(), key=lambda kv: (-kv[1]["rows"], kv[0])):
        expected = change_counts(truth.get(name, {}))
        cells = [
            f"{got:>6,} ({want:>5,})"
            for got, want in zip((t["inserted"], t["updated"], t["deleted"]), expected)
        ]
        print(f"    {name:<{width}}  {t['rows']:>8,}  {'  '.join(cells)}")


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
    for number, export in enumerate(result["exports"], start=1):
        print()
        print_tables(number, export)
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
