"""
The scenarios: each drives the example Dags through the REST API and checks the outcome independently
(S3 read with boto3, the emulator's request log, the metadata database, the log files).

Each scenario function takes the :class:`Context` and returns a one-line detail for the summary, or
raises :class:`~tests.deployment.stack.CheckFailed` (a check failed) or
:class:`~tests.deployment.stack.StackError` (something did not happen in time).
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import io
import json
import re
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import psutil

from tests.deployment.api import AirflowAPI, EmulatorControl, Lake, LakeWatcher, same_bytes
from tests.deployment.stack import (
    REPO,
    URL_TTL,
    CheckFailed,
    Proc,
    Stack,
    free_port,
    kill_processes,
    say,
    wait_for,
)

LAKE_DAG = "asana_organization_export_to_lake"
REPORT_DAG = "asana_organization_export_report"
ON_DEMAND_DAG = "asana_organization_export_on_demand"
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


def require(condition: Any, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


@dataclasses.dataclass
class Context:
    stack: Stack
    api: AirflowAPI
    emu: EmulatorControl
    lake: Lake
    organization_gid: str
    #: Trigger rows and deferred task instances captured while sensors were deferred (for the security sweep).
    deferrals: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    #: Every run this test made: (dag_id, run_id).
    runs: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def running_procs(self) -> list[Proc]:
        """The Airflow components that should be up: a wait fails at once, quoting its log, if one exits."""
        return list(self.stack.components.values())

    # -- runs -----------------------------------------------------------------------------------------

    def trigger_on_demand(self, destination: str, verify_gzip: bool = True) -> tuple[str, float]:
        started = time.time()
        conf = {"organization_gid": self.organization_gid, "destination": destination, "verify_gzip": verify_gzip}
        run_id = self.api.trigger(ON_DEMAND_DAG, conf=conf)["dag_run_id"]
        self.runs.append((ON_DEMAND_DAG, run_id))
        return run_id, started

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
        return self.api.wait_run(dag_id, run_id, timeout=timeout, procs=self.running_procs())

    def wait_deferred(self, dag_id: str, run_id: str) -> dict[str, Any]:
        ti = self.api.wait_task_state(dag_id, run_id, "wait", ["deferred"], timeout=120, procs=self.running_procs())
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
            self.deferrals.append({"run_id": run_id, "trigger_id": trigger_id, "classpath": classpath,
                                   "kwargs": kwargs, "next_method": next_method, "next_kwargs": next_kwargs})  # fmt: skip

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
            if run["state"] in ("success", "failed"):
                raise CheckFailed(f"run {run_id} ended {run['state']} while waiting for {what}")
            return False

        wait_for(what, answered, timeout=120, procs=self.running_procs())

    def creates(self, since: float, until: float | None = None) -> list[dict[str, Any]]:
        return [r for r in self.api_requests(since, until, method="POST") if r["path"] == EXPORTS_PATH]

    def downloads(self, gid: str) -> list[dict[str, Any]]:
        return [r for r in self.emu.requests() if r["host"] == "download" and f"/exports/{gid}/" in r["path"]]

    # -- what landed -----------------------------------------------------------------------------------

    def check_landed(self, landed: dict[str, Any]) -> str:
        """The S3 object named by the transfer's XCom is byte-identical to the emulator's export."""
        require(isinstance(landed, dict) and {"uri", "bytes", "sha256", "export_gid"} <= set(landed),
                f"the transfer's XCom is not {{uri, bytes, sha256, export_gid}}: {landed!r}")  # fmt: skip
        require("X-Amz" not in json.dumps(landed) and "?" not in landed["uri"],
                f"the transfer's XCom carries a query string: {landed!r}")  # fmt: skip
        bucket, key = s3_key(landed["uri"])
        require(bucket == BUCKET, f"landed in bucket {bucket!r}, not {BUCKET!r}: {landed['uri']}")
        exports = self.emu.exports()
        gid = landed["export_gid"]
        require(gid in exports, f"export {gid} is unknown to the emulator ({sorted(exports)})")
        served = exports[gid]
        size = self.lake.head(key)
        require(size is not None, f"no object at s3://{BUCKET}/{key}")
        require(size == served["size"] == landed["bytes"],
                f"sizes differ: S3 {size}, emulator {served['size']}, XCom {landed['bytes']}")  # fmt: skip
        sha = self.lake.sha256(key)
        require(sha == served["sha256"] == landed["sha256"],
                f"sha256 differ: S3 {sha}, emulator {served['sha256']}, XCom {landed['sha256']}")  # fmt: skip
        identical, got, want = same_bytes(self.lake.stream(key), self.emu.stream_export(gid))
        require(identical, f"s3://{BUCKET}/{key} ({got} bytes) is not byte-identical to the emulator's export "
                           f"{gid} ({want} bytes)")  # fmt: skip
        return f"{size:,} B byte-identical, sha256 {sha[:12]}… = XCom = emulator"


def s3_key(uri: str) -> tuple[str, str]:
    """(bucket, key) of ``s3://conn_id@bucket/key``."""
    parts = urlsplit(uri)
    require(parts.scheme == "s3", f"not an s3:// URI: {uri}")
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


# -- 1. happy path -----------------------------------------------------------------------------------------


def happy_path(ctx: Context, *, executor: str, run_id: str | None = None, since: float | None = None) -> str:
    """Check a finished lake run: success, one export, the object, and the Asset-triggered report."""
    api = ctx.api
    run = ctx.wait_run(LAKE_DAG, run_id)
    require(run["state"] == "success", f"{LAKE_DAG} run {run_id} ended {run['state']}")
    states = {t: ti["state"] for t, ti in api.task_instances(LAKE_DAG, run_id).items()}
    require(set(states.values()) == {"success"}, f"task states {states}")
    landed = api.xcom(LAKE_DAG, run_id, "land")
    export_gid = str(api.xcom(LAKE_DAG, run_id, "create"))
    require(landed["export_gid"] == export_gid, f"land XCom {landed} is not for the created export {export_gid}")
    run_date = run["logical_date"][:10]
    _, key = s3_key(landed["uri"])
    expected_key = f"raw/asana/organization={ctx.organization_gid}/date={run_date}/organization_export.json.gz"
    require(key == expected_key, f"landed at {key}, expected {expected_key}")
    detail = ctx.check_landed(landed)
    creates = ctx.creates(since or parse_time(run["start_date"]) - 5, parse_time(run["end_date"]) + 1)
    require(len(creates) == 1, f"{len(creates)} export creations (POSTs) during the run, expected 1")

    # The Asset-scheduled report: a run triggered by this run's asset event, reading the same object.
    land_end = parse_time(api.task_instances(LAKE_DAG, run_id)["land"]["end_date"])

    def report_run() -> dict[str, Any] | None:
        for r in api.runs(REPORT_DAG):
            if r["run_type"] == "asset_triggered" and parse_time(r["queued_at"]) >= land_end - 1:
                return r
        return None

    report = wait_for("the Asset-triggered report run", report_run, timeout=120, interval=1,
                      procs=ctx.running_procs())  # fmt: skip
    ctx.runs.append((REPORT_DAG, report["dag_run_id"]))
    report = ctx.wait_run(REPORT_DAG, report["dag_run_id"])
    require(report["state"] == "success", f"report run {report['dag_run_id']} ended {report['state']}")
    counted = api.xcom(REPORT_DAG, report["dag_run_id"], "count_records")
    require(counted["uri"] == landed["uri"], f"the report read {counted['uri']}, the lake run landed {landed['uri']}")
    raw = b"".join(ctx.lake.stream(key))
    recount = count_types(raw)
    require(counted["by_type"] == recount,
            f"the report's counts {counted['by_type']} differ from a recount of the object {recount}")  # fmt: skip
    return (f"{executor}: run {run['run_type']} success; {detail}; 1 export created; report "
            f"{report['run_type']} success, {counted['records']:,} records")


def scenario_happy_local(ctx: Context) -> str:
    """Unpause the report and lake Dags: the scheduler starts the @daily run; check it and the report."""
    api = ctx.api
    api.set_paused(REPORT_DAG, False)
    since = time.time()
    api.set_paused(LAKE_DAG, False)
    say(f"unpaused {REPORT_DAG} and {LAKE_DAG}: waiting for the scheduler's @daily run")

    def scheduled() -> dict[str, Any] | None:
        runs = [r for r in api.runs(LAKE_DAG) if r["run_type"] == "scheduled"]
        return runs[0] if runs else None

    run = wait_for(f"the scheduler to start a run of {LAKE_DAG}", scheduled, timeout=120, interval=1,
                   procs=ctx.running_procs())  # fmt: skip
    ctx.runs.append((LAKE_DAG, run["dag_run_id"]))
    try:
        return happy_path(ctx, executor="LocalExecutor", run_id=run["dag_run_id"], since=since)
    finally:
        api.set_paused(LAKE_DAG, True)  # no further @daily run may start while faults are injected


def scenario_happy_celery(ctx: Context) -> str:
    """Switch the scheduler to CeleryExecutor (Redis broker, two workers); trigger the lake Dag like the UI."""
    stack = ctx.stack
    airflow = stack.airflow
    assert airflow is not None
    say("switching to CeleryExecutor: stopping the LocalExecutor scheduler")
    stack.components["scheduler"].stop()
    celery_env = {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": stack.redis.url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + stack.postgres.url,
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
    }
    airflow.env.update(celery_env)
    workers = []
    for n in (1, 2):
        name = f"celery-worker-{n}"
        worker = airflow.start(name, "celery", "worker", "--celery-hostname", f"worker{n}@%h", "--concurrency", "2",
                               env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())})  # fmt: skip
        stack.components[name] = worker
        workers.append(worker)
    stack.components["scheduler"] = airflow.start("scheduler-celery", "scheduler")
    for worker in workers:
        wait_for(f"{worker.name} to join the Redis broker", lambda w=worker: " ready." in w.log_path.read_text(),
                 timeout=120, procs=[worker])  # fmt: skip
    wait_for("the Celery scheduler's heartbeat", lambda: ctx.api.health()["scheduler"]["status"] == "healthy",
             timeout=60, procs=ctx.running_procs())  # fmt: skip
    ctx.api.set_paused(LAKE_DAG, False)
    try:
        since = time.time()
        yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
        run_id = ctx.api.trigger(LAKE_DAG, conf={}, logical_date=yesterday)["dag_run_id"]
        ctx.runs.append((LAKE_DAG, run_id))
        detail = happy_path(ctx, executor="CeleryExecutor", run_id=run_id, since=since)
    finally:
        ctx.api.set_paused(LAKE_DAG, True)
    # Which worker ran which task: each worker logs the workloads it executes.
    ran: dict[str, list[str]] = {}
    for worker in workers:
        text = worker.log_path.read_text(errors="replace")
        ran[worker.name] = sorted(t for t in ("create", "wait", "land", "count_records") if f"task_id='{t}'" in text
                                  or f"'task_id': '{t}'" in text or f"task_id={t}" in text)  # fmt: skip
    used = [name for name, tasks in ran.items() if tasks]
    require(used, f"neither Celery worker's log shows a task it ran: {ran}")
    return f"{detail}; tasks by worker {ran}"


# -- 2. triggerer SIGKILLed while the sensor is deferred ---------------------------------------------------


def scenario_triggerer_killed(ctx: Context) -> str:
    stack, api = ctx.stack, ctx.api
    run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/triggerer-kill")
    ctx.wait_deferred(ON_DEMAND_DAG, run_id)
    gid = str(api.xcom(ON_DEMAND_DAG, run_id, "create"))
    poll_path = f"{EXPORTS_PATH}/{gid}"
    # Kill it while it runs the trigger: once the trigger's first poll (the sensor's poke was GET 1) is in.
    wait_for("the triggerer's first poll of the export",
             lambda: len(ctx.api_requests(started, method="GET", path=poll_path)) >= 2, timeout=60, interval=0.2,
             procs=ctx.running_procs())  # fmt: skip
    polls_before = len(ctx.api_requests(started, method="GET", path=poll_path)) - 1
    state_at_kill = ctx.emu.exports()[gid]["state"]
    old = stack.components["triggerer"]
    killed = old.kill_tree()
    killed_at = time.time()
    say(f"SIGKILLed the triggerer's process tree {killed} while 'wait' was deferred (export {gid} {state_at_kill})")
    time.sleep(4)
    ti = api.task_instances(ON_DEMAND_DAG, run_id)["wait"]
    require(ti["state"] == "deferred", f"with the triggerer dead, 'wait' is {ti['state']}, expected deferred")
    polls_while_dead = [r for r in ctx.api_requests(killed_at + 0.5, method="GET") if gid in r["path"]]
    restarted_at = time.time()
    stack.components["triggerer"] = stack.airflow.start("triggerer-restarted", "triggerer")  # type: ignore[union-attr]
    run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    require(run["state"] == "success", f"run {run_id} ended {run['state']} after the triggerer restart")
    tries = api.tries(ON_DEMAND_DAG, run_id, "wait")
    require(len(tries) == 1, f"'wait' needed {len(tries)} tries; the deferral should survive the restart")
    polls_after = [r for r in ctx.api_requests(restarted_at, method="GET") if f"{EXPORTS_PATH}/{gid}" == r["path"]]
    require(polls_after, "no poll of the export after the triggerer restart: who finished the wait?")
    creates = ctx.creates(started, parse_time(run["end_date"]) + 1)
    require(len(creates) == 1, f"{len(creates)} exports created (POSTs in the emulator's log), expected exactly 1")
    require(not polls_while_dead, f"{len(polls_while_dead)} polls while the triggerer was dead: something else polled")
    detail = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    require(state_at_kill != "finished", "the export had finished before the kill: the test proves nothing")
    return (f"killed pids {killed} after the trigger's {polls_before} poll(s), export {state_at_kill}; "
            f"restarted triggerer resumed the trigger "
            f"({len(polls_after)} polls after restart); run success; exactly 1 POST; {detail}")


# -- 3. a worker SIGKILLed mid-transfer ---------------------------------------------------------------------


def scenario_worker_killed(ctx: Context) -> str:
    api, emu, lake = ctx.api, ctx.emu, ctx.lake
    prefix = "worker-kill/"
    emu.set_export_size(LARGE_EXPORT)
    emu.set_faults(slow_download_bps=SLOW_BPS)
    watcher = LakeWatcher(lake, prefix)
    watcher.start()
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/{prefix.rstrip('/')}")
        ti = api.wait_task_state(ON_DEMAND_DAG, run_id, "land", ["running"], timeout=180, procs=ctx.running_procs())
        gid = str(api.xcom(ON_DEMAND_DAG, run_id, "create"))
        key = f"{prefix}organization={ctx.organization_gid}/export={gid}/organization_export.json.gz"
        watcher.key = key

        def mid_transfer() -> list[dict[str, Any]] | None:
            downloading = any(r["status"] == 200 for r in ctx.downloads(gid))
            uploads = [u for u in lake.multipart_uploads(prefix) if u["Parts"]]
            return uploads if downloading and uploads and lake.head(key) is None else None

        uploads = wait_for("the transfer to be mid-way (download streaming, a multipart upload with parts)",
                           mid_transfer, timeout=120, interval=0.25, procs=ctx.running_procs())  # fmt: skip
        uploaded = sum(p["Size"] for u in uploads for p in u["Parts"])
        ti = api.task_instances(ON_DEMAND_DAG, run_id)["land"]
        require(ti.get("pid"), f"the running 'land' task instance reports no pid: {ti}")
        task = psutil.Process(ti["pid"])
        worker = task.parent()
        require(worker is not None, f"the task process {ti['pid']} has no parent")
        worker_title = " ".join(worker.cmdline())[:80]
        task_rss = task.memory_info().rss >> 20
        victims = [*task.children(recursive=True), task, worker]
        killed = kill_processes(victims)
        killed_at = time.time()
        say(f"SIGKILLed the worker running 'land' mid-transfer: pids {killed} ({worker_title!r}), "
            f"{uploaded:,} of {LARGE_EXPORT:,} bytes already in uploaded parts")  # fmt: skip
        emu.set_faults(slow_download_bps=None)  # the retry may go at full speed
        require(lake.head(key) is None, "an object is at the destination right after the kill")
        run = ctx.wait_run(ON_DEMAND_DAG, run_id, timeout=360)
    finally:
        watcher.stop()
        emu.clear_faults()
        emu.set_export_size(SMALL_EXPORT)
    require(run["state"] == "success", f"run {run_id} ended {run['state']} after the worker kill")
    tries = api.tries(ON_DEMAND_DAG, run_id, "land")
    require(len(tries) >= 2, f"'land' ran {len(tries)} time(s); the kill should have cost one try")
    require(tries[-1]["state"] == "success", f"'land' tries: {[t['state'] for t in tries]}")
    landed = api.xcom(ON_DEMAND_DAG, run_id, "land")
    detail = ctx.check_landed(landed)
    require(watcher.polls >= 20 and not watcher.errors, f"the lake watcher polled {watcher.polls} times, "
                                                         f"errors {watcher.errors[:3]}")  # fmt: skip
    partial = [(t, k, s) for t, k, s in watcher.sightings if k != key or s != LARGE_EXPORT]
    require(not partial, f"a reader could see partial/temporary objects: {partial[:5]}")
    early = [(t, k, s) for t, k, s in watcher.sightings if t < killed_at]
    require(not early, f"an object was visible before the kill: {early[:3]}")
    creates = ctx.creates(started, parse_time(run["end_date"]) + 1)
    require(len(creates) == 1, f"{len(creates)} exports created, expected 1 (the retry reuses the finished export)")
    orphans = lake.multipart_uploads(prefix)
    first_seen = min((t for t, _, _ in watcher.sightings), default=None)
    return (f"killed pids {killed} (task + its LocalExecutor worker) with {uploaded >> 20} MiB in uploaded parts "
            f"(task process RSS {task_rss} MiB mid-transfer); "
            f"{len(tries)} tries, last success; {watcher.polls} lake polls: no object until "
            f"{(first_seen or 0) - killed_at:.0f} s after the kill, then only the complete one; {detail}; "
            f"{len(orphans)} incomplete multipart upload(s) left by the killed try (invisible)")


# -- 4. Asana faults ----------------------------------------------------------------------------------------


def scenario_rate_limits(ctx: Context) -> str:
    """429 on the create call, then a 429 storm and 5xx bursts while the sensor waits on the triggerer."""
    api, emu = ctx.api, ctx.emu
    emu.set_faults(rate_limit=2, rate_limit_methods="POST", rate_limit_retry_after=1)
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/rate-limits")
        ctx.wait_deferred(ON_DEMAND_DAG, run_id)
        gid = str(api.xcom(ON_DEMAND_DAG, run_id, "create"))
        poll_path = f"{EXPORTS_PATH}/{gid}"
        # Each burst fits one request's retry budget (max_attempts 6: five failures, then an answer); the
        # second is armed only once the trigger got its answer to the first.
        storm_at = time.time()
        emu.set_faults(rate_limit=5, rate_limit_methods="GET", rate_limit_retry_after=1)
        ctx.wait_answered(run_id, poll_path, storm_at, "the trigger's poll through the 429 storm")
        burst_at = time.time()
        emu.set_faults(server_error=3, server_error_status=503, server_error_methods="GET", html_error=2,
                       html_error_status=502)  # fmt: skip
        ctx.wait_answered(run_id, poll_path, burst_at, "the trigger's poll through the 5xx burst")
        run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    finally:
        emu.clear_faults()
    require(run["state"] == "success", f"run {run_id} ended {run['state']}")
    end = parse_time(run["end_date"]) + 1
    posts = [r["status"] for r in ctx.creates(started, end)]
    require(posts == [429, 429, 201], f"create calls answered {posts}, expected [429, 429, 201]")
    polls = [r for r in ctx.api_requests(started, end, method="GET") if r["path"] == f"{EXPORTS_PATH}/{gid}"]
    statuses = Counter(r["status"] for r in polls)
    require(statuses[429] == 5 and statuses[503] == 3 and statuses[502] == 2,
            f"polls answered {dict(statuses)}, expected 5x429, 3x503, 2x502 among them")  # fmt: skip
    times = [r["time"] for r in polls if r["status"] == 429]
    gaps = [b - a for a, b in zip(times, times[1:])]
    require(all(g >= 0.9 for g in gaps), f"Retry-After: 1 not honoured between 429s: gaps {gaps}")
    wait_end = parse_time(api.task_instances(ON_DEMAND_DAG, run_id)["wait"]["end_date"])
    faulted = [r for r in polls if r["status"] != 200]
    require(all(r["time"] < wait_end for r in faulted), "some faults were met after the wait ended")
    tries = api.tries(ON_DEMAND_DAG, run_id, "wait")
    require(len(tries) == 1, f"'wait' needed {len(tries)} tries")
    detail = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    return (f"create 429,429,201 (1 export); during the deferred wait {dict(statuses)} absorbed by the trigger's "
            f"retries (429 gaps >= {min(gaps):.1f} s); run success; {detail}")


def scenario_url_expiry(ctx: Context) -> str:
    """The download breaks mid-way and stalls past the URL's lifetime: the resume must get a fresh URL."""
    api, emu = ctx.api, ctx.emu
    half = SMALL_EXPORT // 2
    emu.set_faults(drop_download=1, drop_after_bytes=half, drop_stall=URL_TTL + 2)
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/url-expiry")
        run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    finally:
        emu.clear_faults()
    require(run["state"] == "success", f"run {run_id} ended {run['state']}")
    gid = str(api.xcom(ON_DEMAND_DAG, run_id, "create"))
    downloads = ctx.downloads(gid)
    seen = [(r["status"], r["range"]) for r in downloads]
    require([s for s, _ in seen[:3]] == [200, 403, 206], f"download requests {seen}, expected 200, 403, 206")
    require(seen[1][1] == seen[2][1] == f"bytes={half}-", f"resume ranges {seen[1:]}; expected bytes={half}-")
    expired_at, resumed_at = downloads[1]["time"], downloads[2]["time"]
    fresh = [r for r in ctx.api_requests(expired_at, resumed_at, method="GET") if gid in r["path"]
             and "download_url" in ",".join(r["query"].get("opt_fields", []))]  # fmt: skip
    require(fresh, "no fresh download URL was asked for between the 403 and the resume")
    signatures = [r["query"].get("X-Amz-Signature", [""])[0] for r in downloads[:3]]
    require(signatures[0] == signatures[1] != signatures[2], "the resume did not use a new URL after the 403")
    tries = api.tries(ON_DEMAND_DAG, run_id, "land")
    require(len(tries) == 1, f"'land' needed {len(tries)} tries; the transfer should recover within one")
    detail = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    return (f"download 200 cut at {half:,} B + {URL_TTL + 2} s stall, resume with the old URL 403 (expired), "
            f"fresh URL from Asana, Range resume 206; 1 try; {detail}")


def scenario_export_error(ctx: Context) -> str:
    api, emu, lake = ctx.api, ctx.emu, ctx.lake
    prefix = "export-error/"
    emu.set_faults(export_state="error")
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/{prefix.rstrip('/')}")
        run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    finally:
        emu.clear_faults()
    require(run["state"] == "failed", f"run {run_id} ended {run['state']}, expected failed")
    states = {t: ti["state"] for t, ti in api.task_instances(ON_DEMAND_DAG, run_id).items()}
    require(states == {"create": "success", "wait": "failed", "land": "upstream_failed"}, f"task states {states}")
    gid = str(api.xcom(ON_DEMAND_DAG, run_id, "create"))
    require(ctx.emu.exports()[gid]["state"] == "error", f"export {gid} is {ctx.emu.exports()[gid]['state']}")
    log = api.task_log(ON_DEMAND_DAG, run_id, "wait", 1)
    require(gid in log and "error" in log, "the sensor's log does not name the export and its error state")
    objects = lake.objects(prefix)
    uploads = lake.multipart_uploads(prefix)
    require(not objects and not uploads, f"something reached S3: objects {objects}, uploads {uploads}")
    require(not ctx.downloads(gid), "the export's file was downloaded although it ended in error")
    creates = ctx.creates(started, parse_time(run["end_date"]) + 1)
    require(len(creates) == 1, f"{len(creates)} exports created, expected 1")
    return "export ended in error: wait failed, land upstream_failed, run failed; nothing under the prefix in S3"


# -- 5. security sweep ---------------------------------------------------------------------------------------


_COPY = re.compile(r"^COPY public\.(\w+) ")


def scenario_security(ctx: Context) -> str:
    from cryptography.fernet import Fernet

    stack = ctx.stack
    token = stack.token
    # Every download URL credential the emulator saw: signatures and session tokens of the presigned URLs.
    credentials: set[str] = set()
    downloads = [r for r in ctx.emu.requests() if r["host"] == "download"]
    for r in downloads:
        for name in ("X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"):
            credentials.update(v for v in r["query"].get(name, []) if len(v) > 8)
    require(downloads, "no download request was made: nothing to sweep for")
    needles = {"the Asana token": [token, token.encode().hex()], "X-Amz-Signature": ["X-Amz-Signature",
               "x-amz-signature", "X-Amz-Security-Token"], "a download URL credential": sorted(credentials)}  # fmt: skip
    findings: list[str] = []

    # The metadata database, all of it (xcom, trigger, rendered fields, task instances, logs, ...).
    dump = stack.postgres.dump(stack.root / "metadata-dump.sql")
    table = "?"
    tables_with_rows = set()
    for line in dump.splitlines():
        match = _COPY.match(line)
        if match:
            table = match.group(1)
            continue
        if line and line != "\\.":
            tables_with_rows.add(table)
        for what, values in needles.items():
            for value in values:
                if value and value in line:
                    findings.append(f"{what} in table {table}: {line[:160]!r}")
    for required in ("xcom", "rendered_task_instance_fields", "task_instance", "dag_run"):
        require(required in tables_with_rows, f"table {required} is empty: the sweep would prove nothing")
    # Encrypted columns, decrypted: trigger kwargs captured while deferred, and the connection itself.
    fernet = Fernet(stack.airflow.fernet_key.encode())  # type: ignore[union-attr]
    require(ctx.deferrals, "no trigger row was captured while a sensor was deferred")
    for row in ctx.deferrals:
        kwargs = row["kwargs"]
        plain = kwargs if kwargs.startswith("{") else fernet.decrypt(kwargs.encode()).decode()
        blob = plain + (row["next_kwargs"] or "")
        for what, values in needles.items():
            if any(v and v in blob for v in values):
                findings.append(f"{what} in the trigger/next_kwargs of run {row['run_id']}")
    stored = stack.postgres.query("SELECT password, is_encrypted FROM connection WHERE conn_id = 'asana_default'")
    require(stored and stored[0][1], f"asana_default's password is not stored encrypted: {stored and stored[0][1]}")
    require(fernet.decrypt(stored[0][0].encode()).decode() == token, "asana_default does not hold the token")

    # Log files: task logs, trigger logs, Dag-processor logs, every component's output. (The emulator's
    # own output prints its token by design and is not part of the deployment.)
    files = [p for p in (stack.root / "airflow" / "logs").rglob("*") if p.is_file()]
    files += [p for p in stack.logs.iterdir() if p.is_file() and p.name != "asana-emulator.log"]
    task_logs = [p for p in files if "/dag_id=" in str(p)]
    require(len(task_logs) >= 10, f"only {len(task_logs)} task log files found: the sweep would prove little")
    for path in files:
        text = path.read_text(errors="replace")
        for what, values in needles.items():
            for value in values:
                if value and value in text:
                    findings.append(f"{what} in {path.relative_to(stack.root)}")
    require(not findings, "secrets found:\n    " + "\n    ".join(findings[:20]))
    with_auth = [r for r in downloads if r["authorization"]]
    require(not with_auth, f"{len(with_auth)} download requests carried an Authorization header")
    return (f"after {len(ctx.runs)} runs: token, 'X-Amz-Signature' and {len(credentials)} URL credentials absent "
            f"from the DB dump "
            f"({len(dump) >> 10} KiB, {len(tables_with_rows)} tables), {len(ctx.deferrals)} decrypted trigger rows, "
            f"{len(files)} log files ({len(task_logs)} task/trigger logs); token only Fernet-encrypted in connection; "
            f"0 of {len(downloads)} download requests carried Authorization")


# -- 6. UI ------------------------------------------------------------------------------------------------------


def scenario_ui(ctx: Context) -> str:
    from tests.deployment import ui

    api = ctx.api
    meta = {m["connection_type"]: m for m in api.hook_meta()}
    require("asana" in meta, f"connection type 'asana' missing from the UI's hook metadata ({sorted(meta)[:20]}...)")
    asana = meta["asana"]
    require(asana["hook_class_name"] == "airflow_provider_asana.hooks.asana.AsanaHook",
            f"'asana' is served by {asana['hook_class_name']}, not this provider's AsanaHook")  # fmt: skip
    standard = asana["standard_fields"]
    require(standard["host"]["title"] == "API base URL" and standard["password"]["title"] == "Token"
            and standard["login"]["hidden"] and standard["port"]["hidden"], f"standard fields {standard}")  # fmt: skip
    extra = asana["extra_fields"] or {}
    wanted = {"workspace", "connect_timeout", "read_timeout", "max_attempts", "max_retry_wait"}
    require(wanted <= set(extra), f"extra fields {sorted(extra)}; missing {sorted(wanted - set(extra))}")
    info = ctx.emu.info
    tested = api.test_connection({"connection_id": "asana_default", "conn_type": "asana", "host": info["api_url"],
                                  "password": info["token"],
                                  "extra": json.dumps({"workspace": ctx.organization_gid})})  # fmt: skip
    require(tested.get("status") is True, f"the connection test (the form's Test button) failed: {tested}")

    docs = REPO / "docs"
    base = ctx.stack.airflow.base_url  # type: ignore[union-attr]
    with ui.Browser(ctx.stack.logs, height=1240) as browser:
        ui.login(browser, base, api.token)
        # Admin -> Connections -> Add Connection, type Asana, filled in as a person would (no real token).
        browser.goto(f"{base}/connections")
        browser.click_text("Add Connection")
        browser.wait_text("Connection Type")
        browser.focus("input[name=connection_id]")
        browser.type_text("asana_default")
        browser.focus("input[aria-autocomplete=list]")
        browser.type_text("Asana")
        browser.wait_text("1 result available")
        browser.press("Enter", "Enter", 13)
        browser.wait_text("API base URL")
        browser.focus("input[name=host]")
        browser.type_text("https://app.asana.com/api/1.0")
        browser.click_text("Extra Fields")
        browser.wait_text("Max attempts per request")
        browser.focus("input[name=element_workspace]")
        browser.type_text(ctx.organization_gid)
        # The form's sections are an accordion, one open at a time: the shot shows Extra Fields. The
        # relabelled standard fields were on screen above ("API base URL") and are checked in hook_meta.
        dialog = browser.dialog_text("Add Connection")
        for label in ("Asana", "Standard Fields", "Workspace", "Max attempts per request", "Read timeout (s)"):
            require(label in dialog, f"the Asana connection form does not show {label!r}:\n{dialog}")
        conn_png = browser.screenshot(docs / "asana-connection-form.png", dialog="Add Connection")
        # The on-demand Dag's Trigger form, filled in, then submitted: the run it starts must succeed.
        started = time.time()
        browser.goto(f"{base}/dags/{ON_DEMAND_DAG}")
        browser.wait_text(ON_DEMAND_DAG)
        browser.click_text("Trigger")
        browser.wait_text("Organization gid")
        form = browser.dialog_text("Trigger Dag")
        for label in ("Organization gid", "Destination folder", "Verify the gzip"):
            require(label in form, f"the trigger form does not show {label!r}:\n{form}")
        browser.set_input("input[name=element_organization_gid]", ctx.organization_gid)
        destination = f"s3://{AWS_CONN_ID}@{BUCKET}/from-the-ui"
        browser.set_input("input[name=element_destination]", destination)
        browser.wait_for_js("![...document.querySelectorAll('[role=dialog] button')]"
                            ".find(b => b.innerText.trim() === 'Trigger').disabled", "the Trigger button to enable")
        trigger_png = browser.screenshot(docs / "on-demand-trigger-form.png", dialog="Trigger Dag")
        browser.click_text("Trigger", selector="[role=dialog] button")

        def ui_run() -> dict[str, Any] | None:
            for r in api.runs(ON_DEMAND_DAG):
                if parse_time(r["queued_at"]) >= started and r["conf"].get("destination") == destination:
                    return r
            return None

        run = wait_for("the run the UI's Trigger button starts", ui_run, timeout=60, interval=1)
    ctx.runs.append((ON_DEMAND_DAG, run["dag_run_id"]))
    require(run["conf"].get("organization_gid") == ctx.organization_gid, f"the UI run's conf is {run['conf']}")
    run = ctx.wait_run(ON_DEMAND_DAG, run["dag_run_id"])
    require(run["state"] == "success", f"the UI-triggered run ended {run['state']}")
    detail = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run["dag_run_id"], "land"))
    return (f"hook_meta lists asana (AsanaHook: host 'API base URL', password 'Token', {len(extra)} extra fields); "
            f"Test connection OK; screenshots docs/asana-connection-form.png ({conn_png >> 10} KiB), "
            f"docs/on-demand-trigger-form.png ({trigger_png >> 10} KiB); the form's Trigger started "
            f"{run['triggered_by']} run, success; {detail}")


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    run: Callable[[Context], str]


#: In the order they run (the sweep last: it covers every run before it). Printed sorted by id.
SCENARIOS = (
    Scenario("1a", "happy path, LocalExecutor", scenario_happy_local),
    Scenario("2", "triggerer SIGKILLed while the sensor is deferred", scenario_triggerer_killed),
    Scenario("3", "worker SIGKILLed mid-transfer (48 MiB, slow download)", scenario_worker_killed),
    Scenario("4a", "Asana 429 storms and 5xx during the wait", scenario_rate_limits),
    Scenario("4b", "download URL expiring mid-transfer", scenario_url_expiry),
    Scenario("4c", "export ending in error", scenario_export_error),
    Scenario("6", "UI: connection metadata, forms, screenshots", scenario_ui),
    Scenario("1b", "happy path, CeleryExecutor (Redis, 2 workers)", scenario_happy_celery),
    Scenario("5", "security sweep: DB, logs, download host", scenario_security),
)
