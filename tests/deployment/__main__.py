"""
``python -m tests.deployment`` (``make system-test``): bring the deployment up, run every scenario, print
one line per scenario and a total, stop every process by pid, remove the temporary directory.

Environment: ``KEEP=1`` keeps the temporary directory (logs, database dump, Airflow home) for a look;
``SCENARIOS=1a,3`` runs only those scenarios (for development; ``make system-test`` runs them all).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import traceback

from tests.deployment import scenarios
from tests.deployment.api import AirflowAPI, EmulatorControl, Lake
from tests.deployment.scenarios import AWS_CONN_ID, BUCKET, LAKE_ROOT, ON_DEMAND_DAG, SMALL_EXPORT, Context
from tests.deployment.stack import (
    STARTED,
    Airflow,
    CheckFailed,
    Stack,
    StackError,
    become_subreaper,
    say,
    wait_for,
)

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
DAG_IDS = (scenarios.LAKE_DAG, scenarios.REPORT_DAG, ON_DEMAND_DAG)


def bring_up(stack: Stack) -> Context:
    """Start every service; configure Airflow through its REST API; return the scenarios' context."""
    say(f"temporary directory {stack.root}")
    stack.postgres.start()
    stack.moto.start()
    stack.emulator.start(f"{SMALL_EXPORT}")
    stack.redis.start()
    lake = Lake(stack.moto.url, BUCKET)
    lake.create_bucket()
    airflow = stack.airflow = Airflow(stack.root, stack.logs, stack.postgres.url)
    airflow.migrate()
    for name in COMPONENTS:
        stack.components[name] = airflow.start(name, name)
    procs = list(stack.components.values())
    api = AirflowAPI(airflow.base_url, "admin", airflow.admin_password)

    def healthy() -> bool:
        health = api.health()
        return all(health.get(part, {}).get("status") == "healthy" for part in
                   ("metadatabase", "scheduler", "triggerer", "dag_processor"))  # fmt: skip

    wait_for("api-server, scheduler, triggerer and dag-processor to report healthy", healthy, timeout=240,
             interval=1, procs=procs)  # fmt: skip
    say("Airflow is healthy; creating the connections and the Variable through the REST API")
    info = stack.emulator.info
    api.put_connection({
        "connection_id": "asana_default", "conn_type": "asana", "host": info["api_url"],
        "password": info["token"], "extra": json.dumps({"workspace": info["organization_gid"]}),
    })  # fmt: skip
    api.put_connection({
        "connection_id": AWS_CONN_ID, "conn_type": "aws", "login": "system-test", "password": "system-test",
        "extra": json.dumps({"endpoint_url": stack.moto.url, "region_name": "us-east-1"}),
    })  # fmt: skip
    api.put_variable("asana_lake_root", LAKE_ROOT)
    wait_for(f"the Dag processor to parse {', '.join(DAG_IDS)}", lambda: set(DAG_IDS) <= api.dag_ids(),
             timeout=180, interval=1, procs=procs)  # fmt: skip
    errors = api.import_errors()
    if errors:
        raise StackError(f"Dag import errors: {errors}")
    api.set_paused(ON_DEMAND_DAG, False)
    return Context(
        stack=stack,
        api=api,
        emu=EmulatorControl(info, stack.emulator.control),
        lake=lake,
        organization_gid=info["organization_gid"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.deployment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", default=os.environ.get("KEEP") == "1",
                        help="keep the temporary directory (also KEEP=1)")  # fmt: skip
    parser.add_argument("--scenarios", default=os.environ.get("SCENARIOS", ""),
                        help="comma-separated scenario ids to run (also SCENARIOS=...); default all")  # fmt: skip
    args = parser.parse_args(argv)
    wanted = {s.strip() for s in args.scenarios.split(",") if s.strip()}
    unknown = wanted - {s.id for s in scenarios.SCENARIOS}
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; known: {[s.id for s in scenarios.SCENARIOS]}")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    become_subreaper()
    results: dict[str, tuple[bool, float, str]] = {}
    stack = Stack(keep=args.keep)
    try:
        try:
            ctx = bring_up(stack)
            say(f"deployment up in {time.monotonic() - STARTED:.0f} s")
        except (StackError, CheckFailed, OSError) as e:
            say(f"SETUP FAILED: {e}")
            traceback.print_exc()
            ctx = None
        for scenario in scenarios.SCENARIOS:
            if wanted and scenario.id not in wanted:
                continue
            if ctx is None:
                results[scenario.id] = (False, 0.0, "not run: the deployment did not come up (see above)")
                continue
            say(f"=== scenario {scenario.id}: {scenario.title}")
            started = time.monotonic()
            try:
                detail = scenario.run(ctx)
                ok = True
            except (CheckFailed, StackError) as e:
                ok, detail = False, f"{type(e).__name__}: {e}"
            except Exception as e:  # noqa: BLE001 - reported as this scenario's failure, the run goes on
                ok, detail = False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"
            elapsed = time.monotonic() - started
            results[scenario.id] = (ok, elapsed, detail)
            say(f"=== scenario {scenario.id}: {'PASSED' if ok else 'FAILED'} in {elapsed:.0f} s")
            if not ok:
                print(f"    {detail}", flush=True)
    finally:
        try:
            say(stack.memory_report())
        finally:
            stack.close()

    print("\nSystem test summary:")
    order = sorted(results, key=lambda i: (int(i[0]), i[1:]))
    titles = {s.id: s.title for s in scenarios.SCENARIOS}
    for scenario_id in order:
        ok, elapsed, detail = results[scenario_id]
        first = detail.splitlines()[0] if detail else ""
        print(f"  [{'PASS' if ok else 'FAIL'}] {scenario_id:<3} {titles[scenario_id]} ({elapsed:.0f} s): {first}")
    passed = sum(1 for ok, _, _ in results.values() if ok)
    failed = len(results) - passed
    print(f"wall time {time.monotonic() - STARTED:.0f} s")
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
