"""
What every scenario works with: the configured deployment (:class:`Context`: the stack, the REST API, the
emulator, the lake), the runs made so far, and the checks several scenarios share.

:func:`bring_up` starts and configures the deployment (the session fixture in ``conftest.py`` calls it);
:func:`switch_to_celery` moves it from the LocalExecutor to the CeleryExecutor (scenario 1b's fixture).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import gzip
import io
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tests.deployment.api import TERMINAL_RUN_STATES, AirflowAPI, EmulatorControl, Lake, same_bytes
from tests.deployment.stack import Airflow, Proc, Stack, StackError, free_port, wait_for

LAKE_DAG = "asana_organization_export_to_lake"
REPORT_DAG = "asana_organization_export_report"
ON_DEMAND_DAG = "asana_organization_export_on_demand"
DAG_IDS = (LAKE_DAG, REPORT_DAG, ON_DEMAND_DAG)
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
BUCKET = "asana-lake"
AWS_CONN_ID = "aws_lake"
LAKE_ROOT = f"s3://{AWS_CONN_ID}@{BUCKET}/raw"
RUN_TIMEOUT = 240
MIB = 1 << 20
SMALL_EXPORT = 2 * MIB
#: Scenario 3: big enough that a kill lands mid-transfer at this pace (several 16 MiB upload parts).
LARGE_EXPORT = 48 * MIB
SLOW_BPS = 4 * MIB
EXPORTS_PATH = "/api/1.0/organization_exports"
#: The security sweep wants at least this many task and trigger log files, or it would prove little.
MIN_TASK_LOGS = 10

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Context:
    stack: Stack
    api: AirflowAPI
    emu: EmulatorControl
    lake: Lake
    organization_gid: str
    #: Trigger rows and deferred task instances captured while tasks were deferred (for the security sweep).
    deferrals: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Every run this test made: (dag_id, run_id).
    runs: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def airflow(self) -> Airflow:
        assert self.stack.airflow is not None, "Airflow was not set up"
        return self.stack.airflow

    def running_procs(self) -> list[Proc]:
        """The Airflow components that should be up: a wait fails at once, quoting its log, if one exits."""
        return list(self.stack.components.values())

    def task_log_files(self) -> list[Path]:
        """Task and trigger log files under the Airflow home (one per task try, one per trigger)."""
        return [p for p in (self.airflow.home / "logs").rglob("*") if p.is_file() and "/dag_id=" in str(p)]

    # -- runs -----------------------------------------------------------------------------------------

    def trigger_on_demand(self, destination: str, verify_gzip: bool = True) -> tuple[str, float]:
        started = time.time()
        conf = {
            "organization_gid": self.organization_gid,
            "destination": destination,
            "verify_gzip": verify_gzip,
        }
        run_id = self.api.trigger(ON_DEMAND_DAG, conf=conf)["dag_run_id"]
        self.runs.append((ON_DEMAND_DAG, run_id))
        return run_id, started

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        return self.api.wait_run(dag_id, run_id, timeout=timeout, procs=self.running_procs())

    def wait_deferred(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Wait until ``create`` (which starts the export and waits for it on the triggerer) is deferred."""
        ti = self.api.wait_task_state(
            dag_id, run_id, "create", ["deferred"], timeout=120, procs=self.running_procs()
        )
        self.capture_deferral(run_id)
        return ti

    def capture_deferral(self, run_id: str) -> None:
        """Keep the trigger row and the deferred task's next_kwargs as stored now (they are deleted later)."""
        rows = self.stack.postgres.query(
            "SELECT t.id, t.classpath, t.kwargs, ti.next_method, ti.next_kwargs::text FROM task_instance ti "
            "JOIN trigger t ON t.id = ti.trigger_id WHERE ti.run_id = %s",
            run_id,
        )
        for trigger_id, classpath, kwargs, next_method, next_kwargs in rows:
            self.deferrals.append({"run_id": run_id, "trigger_id": trigger_id, "classpath": classpath, "kwargs": kwargs,
                                   "next_method": next_method, "next_kwargs": next_kwargs})  # fmt: skip

    # -- the emulator's request log ---------------------------------------------------------------------

    def api_requests(self, since: float, until: float | None = None, *, method: str | None = None,
                     path: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        until = until if until is not None else time.time() + 1
        return [
            r for r in self.emu.requests()
            if r["host"] == "api" and since <= r["time"] <= until
            and (method is None or r["method"] == method) and (path is None or r["path"].startswith(path))
        ]  # fmt: skip

    def wait_answered(self, run_id: str, path: str, since: float, what: str) -> None:
        """Wait for a 200 to a GET of ``path`` after ``since``; fail at once if the run ends meanwhile."""

        def answered() -> bool:
            if any(r["status"] == 200 for r in self.api_requests(since, method="GET", path=path)):
                return True
            run = self.api.run(ON_DEMAND_DAG, run_id)
            ended = run["state"] in TERMINAL_RUN_STATES
            assert not ended, f"run {run_id} ended {run['state']} while waiting for {what}"
            return False

        wait_for(what, answered, timeout=120, procs=self.running_procs())

    def created_export(self, since: float) -> str:
        """
        The gid of the one export created since ``since``, from the emulator.

        ``create`` pushes its XCom only once it has waited for the export, so a deferred run has none yet.
        """
        gids = [gid for gid, e in self.emu.exports().items() if parse_time(e["created_at"]) >= since]
        assert len(gids) == 1, f"{len(gids)} exports created since {since}: {gids}"
        return gids[0]

    def creates(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        return [r for r in self.api_requests(since, until, method="POST") if r["path"] == EXPORTS_PATH]

    def downloads(self, gid: str) -> list[dict[str, Any]]:
        return [r for r in self.emu.requests() if r["host"] == "download" and f"/exports/{gid}/" in r["path"]]

    # -- what landed -----------------------------------------------------------------------------------

    def check_landed(self, landed: dict[str, Any]) -> str:
        """The S3 object named by the transfer's XCom is byte-identical to the emulator's export."""
        not_a_result = f"the transfer's XCom is not {{uri, bytes, sha256, export_gid}}: {landed!r}"
        assert isinstance(landed, dict), not_a_result
        assert {"uri", "bytes", "sha256", "export_gid"} <= set(landed), not_a_result
        assert "X-Amz" not in json.dumps(landed), f"the transfer's XCom carries a query string: {landed!r}"
        assert "?" not in landed["uri"], f"the transfer's XCom carries a query string: {landed!r}"
        bucket, key = s3_key(landed["uri"])
        assert bucket == BUCKET, f"landed in bucket {bucket!r}, not {BUCKET!r}: {landed['uri']}"
        exports = self.emu.exports()
        gid = landed["export_gid"]
        assert gid in exports, f"export {gid} is unknown to the emulator ({sorted(exports)})"
        served = exports[gid]
        size = self.lake.head(key)
        assert size is not None, f"no object at s3://{BUCKET}/{key}"
        assert size == served["size"] == landed["bytes"], (
            f"sizes differ: S3 {size}, emulator {served['size']}, XCom {landed['bytes']}"
        )
        sha = self.lake.sha256(key)
        assert sha == served["sha256"] == landed["sha256"], (
            f"sha256 differ: S3 {sha}, emulator {served['sha256']}, XCom {landed['sha256']}"
        )
        identical, got, want = same_bytes(self.lake.stream(key), self.emu.stream_export(gid))
        assert identical, (
            f"s3://{BUCKET}/{key} ({got} bytes) is not byte-identical to the emulator's export "
            f"{gid} ({want} bytes)"
        )
        return f"{size:,} B byte-identical, sha256 {sha[:12]}… = XCom = emulator"


def s3_key(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://conn_id@bucket/key``."""
    parts = urlsplit(uri)
    assert parts.scheme == "s3", f"not an s3:// URI: {uri}"
    return parts.netloc.rpartition("@")[2], parts.path.lstrip("/")


def parse_time(text: str | None) -> float:
    if not text:
        return 0.0
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def count_types(raw: bytes) -> dict[str, int]:
    counts: Counter[str] = Counter()
    with gzip.open(io.BytesIO(raw), "rb") as f:
        for line in f:
            if line.strip():
                counts[json.loads(line).get("__type", "<none>")] += 1
    return dict(counts)


def start_scheduled_lake_run(ctx: Context) -> dict[str, Any]:
    """Unpause the lake Dag and wait for the scheduler to start its @daily run; return it (the caller pauses)."""
    ctx.api.set_paused(LAKE_DAG, False)
    logger.info("unpaused %s: waiting for the scheduler's @daily run", LAKE_DAG)

    def scheduled() -> dict[str, Any] | None:
        runs = [r for r in ctx.api.runs(LAKE_DAG) if r["run_type"] == "scheduled"]
        return runs[0] if runs else None

    run = wait_for(f"the scheduler to start a run of {LAKE_DAG}", scheduled, timeout=120, interval=1,
                   procs=ctx.running_procs())  # fmt: skip
    if (LAKE_DAG, run["dag_run_id"]) not in ctx.runs:
        ctx.runs.append((LAKE_DAG, run["dag_run_id"]))
    return run


# -- bringing the deployment up, switching its executor ----------------------------------------------------


def bring_up(stack: Stack) -> Context:
    """Start every service; configure Airflow through its REST API; return the scenarios' context."""
    logger.info("temporary directory %s", stack.root)
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
    logger.info("Airflow is healthy; creating the connections and the Variable through the REST API")
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


def switch_to_celery(ctx: Context, workers: int = 2) -> list[Proc]:
    """Restart the scheduler with the CeleryExecutor (Redis broker); start ``workers`` Celery workers."""
    stack, airflow = ctx.stack, ctx.airflow
    logger.info("switching to CeleryExecutor: stopping the LocalExecutor scheduler")
    stack.components["scheduler"].stop()
    airflow.env.update({
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": stack.redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + stack.postgres.url,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    })  # fmt: skip
    started = []
    for n in range(1, workers + 1):
        name = f"celery-worker-{n}"
        worker = airflow.start(name, "celery", "worker", "--celery-hostname", f"worker{n}@%h", "--concurrency", "2",
                               env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})  # fmt: skip
        stack.components[name] = worker
        started.append(worker)
    stack.components["scheduler"] = airflow.start("scheduler-celery", "scheduler")
    for worker in started:
        wait_for(f"{worker.name} to join the Redis broker", functools.partial(_joined_the_broker, worker),
                 timeout=120, procs=[worker])  # fmt: skip
    wait_for("the Celery scheduler's heartbeat", lambda: ctx.api.health()["scheduler"]["status"] == "healthy",
             timeout=60, procs=ctx.running_procs())  # fmt: skip
    return started


def _joined_the_broker(worker: Proc) -> bool:
    return " ready." in worker.log_path.read_text()
