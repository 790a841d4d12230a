"""
The deployment scenarios, one test each, run in this file's order on one deployment (``conftest.py``).

Each drives the example Dags through the REST API (or the UI) and checks the outcome independently: S3 read
with boto3, the emulator's request log, the metadata database, the log files. What a scenario needs from
the ones before it is a fixture: ``report_dag_unpaused`` (1a, 1b), ``lake_daily_run_done`` (1b: the @daily
run 1a checks is over, so unpausing the Dag starts no second one), ``celery_executor`` (1b: the session
switches from the LocalExecutor once, so 1b runs after every LocalExecutor scenario), ``sweep_material`` (5:
the sweep covers every run before it, and makes runs of its own when run alone); a component a failed
scenario left dead is restarted, and its runs waited out, before the next (``settled_deployment``).

Pick scenarios with ``-k``: ``-k scenario_2``, ``-k "scenario_1 or ui"``.
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import re
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.deployment.api import LakeWatcher
from tests.deployment.context import (
    AWS_CONN_ID,
    BUCKET,
    EXPORTS_PATH,
    LAKE_DAG,
    LARGE_EXPORT,
    MIN_TASK_LOGS,
    ON_DEMAND_DAG,
    REPORT_DAG,
    SLOW_BPS,
    SMALL_EXPORT,
    Context,
    count_types,
    parse_time,
    s3_key,
    start_scheduled_lake_run,
)
from tests.deployment.stack import REPO, URL_TTL, kill_processes, wait_for

pytestmark = pytest.mark.deployment
logger = logging.getLogger(__name__)
Detail = Callable[[str], None]


# -- 1. happy path -----------------------------------------------------------------------------------------


def check_happy_path(ctx: Context, *, executor: str, run_id: str, since: float) -> str:
    """Check a finished lake run: success, one export, the object, and the Asset-triggered report."""
    api = ctx.api
    run = ctx.wait_run(LAKE_DAG, run_id)
    assert run["state"] == "success", f"{LAKE_DAG} run {run_id} ended {run['state']}"
    states = {t: ti["state"] for t, ti in api.task_instances(LAKE_DAG, run_id).items()}
    assert set(states.values()) == {"success"}, f"task states {states}"
    landed = api.xcom(LAKE_DAG, run_id, "land")
    export_gid = str(api.xcom(LAKE_DAG, run_id, "create"))
    assert landed["export_gid"] == export_gid, (
        f"land XCom {landed} is not for the created export {export_gid}"
    )
    run_date = run["logical_date"][:10]
    _, key = s3_key(landed["uri"])
    expected_key = (
        f"raw/asana/organization={ctx.organization_gid}/date={run_date}/organization_export.json.gz"
    )
    assert key == expected_key, f"landed at {key}, expected {expected_key}"
    detail = ctx.check_landed(landed)
    creates = ctx.creates(since, parse_time(run["end_date"]) + 1)
    assert len(creates) == 1, f"{len(creates)} export creations (POSTs) during the run, expected 1"

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
    assert report["state"] == "success", f"report run {report['dag_run_id']} ended {report['state']}"
    counted = api.xcom(REPORT_DAG, report["dag_run_id"], "count_records")
    assert counted["uri"] == landed["uri"], (
        f"the report read {counted['uri']}, the lake run landed {landed['uri']}"
    )
    raw = b"".join(ctx.lake.stream(key))
    recount = count_types(raw)
    assert counted["by_type"] == recount, (
        f"the report's counts {counted['by_type']} differ from a recount of the object {recount}"
    )
    return (f"{executor}: run {run['run_type']} success; {detail}; 1 export created; report "
            f"{report['run_type']} success, {counted['records']:,} records")  # fmt: skip


def test_scenario_1a_happy_path_local_executor(deployment: Context, report_dag_unpaused: None,
                                               detail: Detail) -> None:  # fmt: skip
    """Unpause the lake Dag: the scheduler starts the @daily run; check it and the Asset-triggered report."""
    since = time.time()
    try:
        run = start_scheduled_lake_run(deployment)
        detail(check_happy_path(deployment, executor="LocalExecutor", run_id=run["dag_run_id"], since=since))
    finally:
        deployment.api.set_paused(LAKE_DAG, True)  # no further @daily run may start while faults are injected


# -- 2. triggerer SIGKILLed while create is deferred ------------------------------------------------------


def test_scenario_2_triggerer_killed_while_deferred(deployment: Context, detail: Detail) -> None:
    ctx, stack, api = deployment, deployment.stack, deployment.api
    run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/triggerer-kill")
    ctx.wait_deferred(ON_DEMAND_DAG, run_id)
    gid = ctx.created_export(started)
    poll_path = f"{EXPORTS_PATH}/{gid}"
    # Kill it while it runs the trigger: once the trigger's first poll (create defers without one) is in.
    wait_for("the triggerer's first poll of the export",
             lambda: len(ctx.api_requests(started, method="GET", path=poll_path)) >= 1, timeout=60, interval=0.2,
             procs=ctx.running_procs())  # fmt: skip
    polls_before = len(ctx.api_requests(started, method="GET", path=poll_path))
    state_at_kill = ctx.emu.exports()[gid]["state"]
    old = stack.components["triggerer"]
    killed = old.kill_tree()
    killed_at = time.time()
    logger.info("SIGKILLed the triggerer's process tree %s while 'create' was deferred (export %s %s)", killed, gid,
                state_at_kill)  # fmt: skip
    time.sleep(4)
    ti = api.task_instances(ON_DEMAND_DAG, run_id)["create"]
    assert ti["state"] == "deferred", f"with the triggerer dead, 'create' is {ti['state']}, expected deferred"
    polls_while_dead = [r for r in ctx.api_requests(killed_at + 0.5, method="GET") if gid in r["path"]]
    restarted_at = time.time()
    stack.components["triggerer"] = old.restarted()
    run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    assert run["state"] == "success", f"run {run_id} ended {run['state']} after the triggerer restart"
    tries = api.tries(ON_DEMAND_DAG, run_id, "create")
    assert len(tries) == 1, f"'create' needed {len(tries)} tries; the deferral should survive the restart"
    polls_after = [r for r in ctx.api_requests(restarted_at, method="GET") if r["path"] == poll_path]
    assert polls_after, "no poll of the export after the triggerer restart: who finished the wait?"
    creates = ctx.creates(started, parse_time(run["end_date"]) + 1)
    assert len(creates) == 1, (
        f"{len(creates)} exports created (POSTs in the emulator's log), expected exactly 1"
    )
    assert not polls_while_dead, (
        f"{len(polls_while_dead)} polls while the triggerer was dead: something else polled"
    )
    landed = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    assert state_at_kill != "finished", "the export had finished before the kill: the test proves nothing"
    detail(
        f"killed pids {killed} after the trigger's {polls_before} poll(s), export {state_at_kill}; "
        f"restarted triggerer resumed the trigger "
        f"({len(polls_after)} polls after restart); run success; exactly 1 POST; {landed}"
    )


# -- 3. a worker SIGKILLed mid-transfer ---------------------------------------------------------------------


def test_scenario_3_worker_killed_mid_transfer(deployment: Context, detail: Detail) -> None:
    ctx, api, emu, lake = deployment, deployment.api, deployment.emu, deployment.lake
    prefix = "worker-kill/"
    emu.set_export_size(LARGE_EXPORT)
    emu.set_faults(slow_download_bps=SLOW_BPS)
    watcher = LakeWatcher(lake, prefix)
    watcher.start()
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/{prefix.rstrip('/')}")
        api.wait_task_state(
            ON_DEMAND_DAG, run_id, "land", ["running"], timeout=180, procs=ctx.running_procs()
        )
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
        assert ti.get("pid"), f"the running 'land' task instance reports no pid: {ti}"
        task = psutil.Process(ti["pid"])
        worker = task.parent()
        assert worker is not None, f"the task process {ti['pid']} has no parent"
        worker_title = " ".join(worker.cmdline())[:80]
        task_rss = task.memory_info().rss >> 20
        victims = [*task.children(recursive=True), task, worker]
        killed = kill_processes(victims)
        killed_at = time.time()
        logger.info("SIGKILLed the worker running 'land' mid-transfer: pids %s (%r), %s of %s bytes already in "
                    "uploaded parts", killed, worker_title, f"{uploaded:,}", f"{LARGE_EXPORT:,}")  # fmt: skip
        emu.set_faults(slow_download_bps=None)  # the retry may go at full speed
        assert lake.head(key) is None, "an object is at the destination right after the kill"
        run = ctx.wait_run(ON_DEMAND_DAG, run_id, timeout=360)
    finally:
        watcher.stop()
        emu.clear_faults()
        emu.set_export_size(SMALL_EXPORT)
    assert run["state"] == "success", f"run {run_id} ended {run['state']} after the worker kill"
    tries = api.tries(ON_DEMAND_DAG, run_id, "land")
    assert len(tries) >= 2, f"'land' ran {len(tries)} time(s); the kill should have cost one try"
    assert tries[-1]["state"] == "success", f"'land' tries: {[t['state'] for t in tries]}"
    landed = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    watched = f"the lake watcher polled {watcher.polls} times, errors {watcher.errors[:3]}"
    assert watcher.polls >= 20, watched
    assert not watcher.errors, watched
    partial = [(t, k, s) for t, k, s in watcher.sightings if k != key or s != LARGE_EXPORT]
    assert not partial, f"a reader could see partial/temporary objects: {partial[:5]}"
    early = [(t, k, s) for t, k, s in watcher.sightings if t < killed_at]
    assert not early, f"an object was visible before the kill: {early[:3]}"
    creates = ctx.creates(started, parse_time(run["end_date"]) + 1)
    assert len(creates) == 1, (
        f"{len(creates)} exports created, expected 1 (the retry reuses the finished export)"
    )
    orphans = lake.multipart_uploads(prefix)
    first_seen = min((t for t, _, _ in watcher.sightings), default=None)
    detail(
        f"killed pids {killed} (task + its LocalExecutor worker) with {uploaded >> 20} MiB in uploaded parts "
        f"(task process RSS {task_rss} MiB mid-transfer); "
        f"{len(tries)} tries, last success; {watcher.polls} lake polls: no object until "
        f"{(first_seen or 0) - killed_at:.0f} s after the kill, then only the complete one; {landed}; "
        f"{len(orphans)} incomplete multipart upload(s) left by the killed try (invisible)"
    )


# -- 4. Asana faults ----------------------------------------------------------------------------------------


def test_scenario_4a_rate_limits_and_5xx(deployment: Context, detail: Detail) -> None:
    """429 on the create call, then a 429 storm and 5xx bursts while create waits on the triggerer."""
    ctx, api, emu = deployment, deployment.api, deployment.emu
    emu.set_faults(rate_limit=2, rate_limit_methods="POST", rate_limit_retry_after=1)
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/rate-limits")
        ctx.wait_deferred(ON_DEMAND_DAG, run_id)
        gid = ctx.created_export(started)
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
    assert run["state"] == "success", f"run {run_id} ended {run['state']}"
    end = parse_time(run["end_date"]) + 1
    posts = [r["status"] for r in ctx.creates(started, end)]
    assert posts == [429, 429, 201], f"create calls answered {posts}, expected [429, 429, 201]"
    polls = [r for r in ctx.api_requests(started, end, method="GET") if r["path"] == f"{EXPORTS_PATH}/{gid}"]
    statuses = Counter(r["status"] for r in polls)
    answered = f"polls answered {dict(statuses)}, expected 5x429, 3x503, 2x502 among them"
    assert statuses[429] == 5, answered
    assert statuses[503] == 3, answered
    assert statuses[502] == 2, answered
    times = [r["time"] for r in polls if r["status"] == 429]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(g >= 0.9 for g in gaps), f"Retry-After: 1 not honoured between 429s: gaps {gaps}"
    wait_end = parse_time(api.task_instances(ON_DEMAND_DAG, run_id)["create"]["end_date"])
    faulted = [r for r in polls if r["status"] != 200]
    assert all(r["time"] < wait_end for r in faulted), "some faults were met after the wait ended"
    tries = api.tries(ON_DEMAND_DAG, run_id, "create")
    assert len(tries) == 1, f"'create' needed {len(tries)} tries"
    landed = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    detail(
        f"create 429,429,201 (1 export); during the deferred wait {dict(statuses)} absorbed by the trigger's "
        f"retries (429 gaps >= {min(gaps):.1f} s); run success; {landed}"
    )


def test_scenario_4b_download_url_expiry(deployment: Context, detail: Detail) -> None:
    """The download breaks mid-way and stalls past the URL's lifetime: the resume must get a fresh URL."""
    ctx, api, emu = deployment, deployment.api, deployment.emu
    half = SMALL_EXPORT // 2
    emu.set_faults(drop_download=1, drop_after_bytes=half, drop_stall=URL_TTL + 2)
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/url-expiry")
        run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    finally:
        emu.clear_faults()
    assert run["state"] == "success", f"run {run_id} ended {run['state']}"
    gid = str(api.xcom(ON_DEMAND_DAG, run_id, "create"))
    downloads = ctx.downloads(gid)
    seen = [(r["status"], r["range"]) for r in downloads]
    assert [s for s, _ in seen[:3]] == [200, 403, 206], f"download requests {seen}, expected 200, 403, 206"
    assert seen[1][1] == seen[2][1] == f"bytes={half}-", f"resume ranges {seen[1:]}; expected bytes={half}-"
    expired_at, resumed_at = downloads[1]["time"], downloads[2]["time"]
    fresh = [r for r in ctx.api_requests(expired_at, resumed_at, method="GET") if gid in r["path"]
             and "download_url" in ",".join(r["query"].get("opt_fields", []))]  # fmt: skip
    assert fresh, "no fresh download URL was asked for between the 403 and the resume"
    signatures = [r["query"].get("X-Amz-Signature", [""])[0] for r in downloads[:3]]
    assert signatures[0] == signatures[1] != signatures[2], "the resume did not use a new URL after the 403"
    tries = api.tries(ON_DEMAND_DAG, run_id, "land")
    assert len(tries) == 1, f"'land' needed {len(tries)} tries; the transfer should recover within one"
    landed = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run_id, "land"))
    detail(
        f"download 200 cut at {half:,} B + {URL_TTL + 2} s stall, resume with the old URL 403 (expired), "
        f"fresh URL from Asana, Range resume 206; 1 try; {landed}"
    )


def test_scenario_4c_export_error(deployment: Context, detail: Detail) -> None:
    """Every export ends in error: each of create's 3 tries starts a new one; the run fails, nothing lands."""
    ctx, api, emu, lake = deployment, deployment.api, deployment.emu, deployment.lake
    prefix = "export-error/"
    emu.set_faults(export_state="error")
    try:
        run_id, started = ctx.trigger_on_demand(f"s3://{AWS_CONN_ID}@{BUCKET}/{prefix.rstrip('/')}")
        run = ctx.wait_run(ON_DEMAND_DAG, run_id)
    finally:
        emu.clear_faults()
    assert run["state"] == "failed", f"run {run_id} ended {run['state']}, expected failed"
    states = {t: ti["state"] for t, ti in api.task_instances(ON_DEMAND_DAG, run_id).items()}
    assert states == {"create": "failed", "land": "upstream_failed"}, f"task states {states}"
    tries = api.tries(ON_DEMAND_DAG, run_id, "create")
    assert len(tries) == 3, f"'create' ran {len(tries)} time(s); expected 3 (retries=2)"
    exports = {gid: e for gid, e in ctx.emu.exports().items() if parse_time(e["created_at"]) >= started}
    assert len(exports) == 3, f"{len(exports)} exports created, expected one per try: {sorted(exports)}"
    assert all(e["state"] == "error" for e in exports.values()), f"export states {exports}"
    creates = ctx.creates(started, parse_time(run["end_date"]) + 1)
    assert len(creates) == 3, f"{len(creates)} export creations (POSTs), expected one per try"
    first = min(exports, key=int)
    log = api.task_log(ON_DEMAND_DAG, run_id, "create", 1)
    assert first in log, "the first try's log does not name its export"
    assert "error" in log, "the first try's log does not name the export's error state"
    objects = lake.objects(prefix)
    uploads = lake.multipart_uploads(prefix)
    assert not objects, f"something reached S3: objects {objects}"
    assert not uploads, f"something reached S3: uploads {uploads}"
    assert not any(ctx.downloads(gid) for gid in exports), (
        "an export's file was downloaded although it failed"
    )
    detail(
        "every export ended in error: create's 3 tries each started one and failed, land upstream_failed, "
        "run failed; nothing under the prefix in S3"
    )


# -- 6. UI ------------------------------------------------------------------------------------------------


def save_screenshot(page: Any, dialog: Any, path: Path, margin: int = 16) -> int:
    """Save a PNG of ``dialog`` plus a margin; return its bytes. ``UPDATE_SCREENSHOTS=1`` copies it to docs/."""
    page.wait_for_timeout(1000)  # animations (the modal's fade-in) end
    box = dialog.bounding_box()
    assert box is not None, f"the dialog for {path.name} is not visible"
    viewport = page.viewport_size
    x, y = max(0, box["x"] - margin), max(0, box["y"] - margin)
    clip = {"x": x, "y": y, "width": min(viewport["width"] - x, box["width"] + 2 * margin),
            "height": min(viewport["height"] - y, box["height"] + 2 * margin)}  # fmt: skip
    raw = page.screenshot(path=path, clip=clip)
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, REPO / "docs" / path.name)
        logger.info("UPDATE_SCREENSHOTS=1: copied %s to docs/", path.name)
    return len(raw)


def test_scenario_6_ui_connection_and_trigger_forms(deployment: Context, page: Any, detail: Detail) -> None:
    from playwright.sync_api import expect

    ctx, api = deployment, deployment.api
    meta = {m["connection_type"]: m for m in api.hook_meta()}
    assert "asana" in meta, (
        f"connection type 'asana' missing from the UI's hook metadata ({sorted(meta)[:20]}...)"
    )
    asana = meta["asana"]
    assert asana["hook_class_name"] == "airflow_provider_asana.hooks.asana.AsanaHook", (
        f"'asana' is served by {asana['hook_class_name']}, not this provider's AsanaHook"
    )
    standard = asana["standard_fields"]
    assert standard["host"]["title"] == "API base URL", f"standard fields {standard}"
    assert standard["password"]["title"] == "Token", f"standard fields {standard}"
    assert standard["login"]["hidden"], f"standard fields {standard}"
    assert standard["port"]["hidden"], f"standard fields {standard}"
    extra = asana["extra_fields"] or {}
    wanted = {"workspace", "connect_timeout", "read_timeout", "max_attempts", "max_retry_wait"}
    assert wanted <= set(extra), f"extra fields {sorted(extra)}; missing {sorted(wanted - set(extra))}"
    info = ctx.emu.info
    tested = api.test_connection({"connection_id": "asana_default", "conn_type": "asana", "host": info["api_url"],
                                  "password": info["token"],
                                  "extra": json.dumps({"workspace": ctx.organization_gid})})  # fmt: skip
    assert tested.get("status") is True, f"the connection test (the form's Test button) failed: {tested}"

    shots = ctx.stack.root / "screenshots"
    shots.mkdir(exist_ok=True)
    base = ctx.airflow.base_url
    # Admin -> Connections -> Add Connection, type Asana, filled in as a person would (no real token).
    page.goto(f"{base}/connections")
    page.get_by_role("button", name="Add Connection", exact=True).click()
    add = page.get_by_role("dialog").filter(has_text="Add Connection")
    add.locator("input[name=connection_id]").fill("asana_default")
    connection_type = add.locator("input[aria-autocomplete=list]")
    connection_type.press_sequentially("Asana")
    expect(page.get_by_text("1 result available").first).to_be_attached()
    connection_type.press("Enter")
    expect(add.get_by_text("API base URL").first).to_be_visible()
    add.locator("input[name=host]").fill("https://app.asana.com/api/1.0")
    add.get_by_role("button", name="Extra Fields", exact=True).click()
    expect(add.get_by_text("Max attempts per request").first).to_be_visible()
    add.locator("input[name=element_workspace]").fill(ctx.organization_gid)
    # The form's sections are an accordion, one open at a time: the shot shows Extra Fields. The
    # relabelled standard fields were on screen above ("API base URL") and are checked in hook_meta.
    dialog = add.inner_text()
    for label in ("Asana", "Standard Fields", "Workspace", "Max attempts per request", "Read timeout (s)"):
        assert label in dialog, f"the Asana connection form does not show {label!r}:\n{dialog}"
    conn_png = save_screenshot(page, add, shots / "asana-connection-form.png")

    # The on-demand Dag's Trigger form, filled in, then submitted: the run it starts must succeed.
    started = time.time()
    page.goto(f"{base}/dags/{ON_DEMAND_DAG}")
    expect(page.get_by_text(ON_DEMAND_DAG).first).to_be_visible()
    page.get_by_role("button", name="Trigger Dag", exact=True).click()  # its text: "Trigger"
    trigger = page.get_by_role("dialog").filter(has_text="Trigger Dag")
    expect(trigger.get_by_text("Organization gid").first).to_be_visible()
    form = trigger.inner_text()
    for label in ("Organization gid", "Destination folder", "Verify the gzip"):
        assert label in form, f"the trigger form does not show {label!r}:\n{form}"
    trigger.locator("input[name=element_organization_gid]").fill(ctx.organization_gid)
    destination = f"s3://{AWS_CONN_ID}@{BUCKET}/from-the-ui"
    trigger.locator("input[name=element_destination]").fill(destination)
    submit = trigger.get_by_role("button", name="Trigger", exact=True)
    expect(submit).to_be_enabled()
    trigger_png = save_screenshot(page, trigger, shots / "on-demand-trigger-form.png")
    submit.click()

    def ui_run() -> dict[str, Any] | None:
        for r in api.runs(ON_DEMAND_DAG):
            if parse_time(r["queued_at"]) >= started and r["conf"].get("destination") == destination:
                return r
        return None

    run = wait_for("the run the UI's Trigger button starts", ui_run, timeout=60, interval=1)
    ctx.runs.append((ON_DEMAND_DAG, run["dag_run_id"]))
    assert run["conf"].get("organization_gid") == ctx.organization_gid, f"the UI run's conf is {run['conf']}"
    run = ctx.wait_run(ON_DEMAND_DAG, run["dag_run_id"])
    assert run["state"] == "success", f"the UI-triggered run ended {run['state']}"
    landed = ctx.check_landed(api.xcom(ON_DEMAND_DAG, run["dag_run_id"], "land"))
    detail(
        f"hook_meta lists asana (AsanaHook: host 'API base URL', password 'Token', {len(extra)} extra fields); "
        f"Test connection OK; screenshots asana-connection-form.png ({conn_png >> 10} KiB), "
        f"on-demand-trigger-form.png ({trigger_png >> 10} KiB); the form's Trigger started "
        f"{run['triggered_by']} run, success; {landed}"
    )


# -- 1b. happy path on the CeleryExecutor -----------------------------------------------------------------


def test_scenario_1b_happy_path_celery_executor(deployment: Context, report_dag_unpaused: None,
                                                lake_daily_run_done: None, celery_executor: list[Any],
                                                detail: Detail) -> None:  # fmt: skip
    """Trigger the lake Dag like the UI does, on the CeleryExecutor (Redis broker, two workers)."""
    ctx, api = deployment, deployment.api
    api.set_paused(LAKE_DAG, False)
    try:
        since = time.time()
        yesterday = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)
        run_id = api.trigger(LAKE_DAG, conf={}, logical_date=yesterday)["dag_run_id"]
        ctx.runs.append((LAKE_DAG, run_id))
        happy = check_happy_path(ctx, executor="CeleryExecutor", run_id=run_id, since=since)
    finally:
        api.set_paused(LAKE_DAG, True)
    # Which worker ran which task: each worker logs the workloads it executes.
    ran: dict[str, list[str]] = {}
    for worker in celery_executor:
        text = worker.log_path.read_text(errors="replace")
        ran[worker.name] = sorted(
            t
            for t in ("create", "land", "count_records")
            if f"task_id='{t}'" in text or f"'task_id': '{t}'" in text or f"task_id={t}" in text
        )
    used = [name for name, tasks in ran.items() if tasks]
    assert used, f"neither Celery worker's log shows a task it ran: {ran}"
    detail(f"{happy}; tasks by worker {ran}")


# -- 5. security sweep ---------------------------------------------------------------------------------------


_COPY = re.compile(r"^COPY public\.(\w+) ")


def test_scenario_5_security_sweep(deployment: Context, sweep_material: None, detail: Detail) -> None:
    """The token and every download URL credential appear nowhere in the database or the logs."""
    from cryptography.fernet import Fernet

    ctx, stack = deployment, deployment.stack
    token = stack.token
    # Every download URL credential the emulator saw: signatures and session tokens of the presigned URLs.
    credentials: set[str] = set()
    downloads = [r for r in ctx.emu.requests() if r["host"] == "download"]
    for r in downloads:
        for name in ("X-Amz-Signature", "X-Amz-Security-Token", "X-Amz-Credential"):
            credentials.update(v for v in r["query"].get(name, []) if len(v) > 8)
    assert downloads, "no download request was made: nothing to sweep for"
    needles = {
        "the Asana token": [token, token.encode().hex()],
        "X-Amz-Signature": ["X-Amz-Signature", "x-amz-signature", "X-Amz-Security-Token"],
        "a download URL credential": sorted(credentials),
    }
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
        assert required in tables_with_rows, f"table {required} is empty: the sweep would prove nothing"
    # Encrypted columns, decrypted: trigger kwargs captured while deferred, and the connection itself.
    fernet = Fernet(ctx.airflow.fernet_key.encode())
    assert ctx.deferrals, "no trigger row was captured while a task was deferred"
    for row in ctx.deferrals:
        kwargs = row["kwargs"]
        plain = kwargs if kwargs.startswith("{") else fernet.decrypt(kwargs.encode()).decode()
        blob = plain + (row["next_kwargs"] or "")
        for what, values in needles.items():
            if any(v and v in blob for v in values):
                findings.append(f"{what} in the trigger/next_kwargs of run {row['run_id']}")
    stored = stack.postgres.query(
        "SELECT password, is_encrypted FROM connection WHERE conn_id = 'asana_default'"
    )
    assert stored, "asana_default is not stored"
    assert stored[0][1], f"asana_default's password is not stored encrypted: {stored[0][1]}"
    assert fernet.decrypt(stored[0][0].encode()).decode() == token, "asana_default does not hold the token"

    # Log files: task logs, trigger logs, Dag-processor logs, every component's output. (The emulator's
    # own output prints its token by design and is not part of the deployment.)
    files = [p for p in (ctx.airflow.home / "logs").rglob("*") if p.is_file()]
    files += [p for p in stack.logs.iterdir() if p.is_file() and p.name != "asana-emulator.log"]
    task_logs = ctx.task_log_files()
    assert len(task_logs) >= MIN_TASK_LOGS, (
        f"only {len(task_logs)} task log files found: the sweep would prove little"
    )
    for path in files:
        text = path.read_text(errors="replace")
        for what, values in needles.items():
            for value in values:
                if value and value in text:
                    findings.append(f"{what} in {path.relative_to(stack.root)}")
    assert not findings, "secrets found:\n    " + "\n    ".join(findings[:20])
    with_auth = [r for r in downloads if r["authorization"]]
    assert not with_auth, f"{len(with_auth)} download requests carried an Authorization header"
    detail(
        f"after {len(ctx.runs)} runs: token, 'X-Amz-Signature' and {len(credentials)} URL credentials absent "
        f"from the DB dump ({len(dump) >> 10} KiB, {len(tables_with_rows)} tables), {len(ctx.deferrals)} "
        f"decrypted trigger rows, {len(files)} log files ({len(task_logs)} task/trigger logs); token only "
        f"Fernet-encrypted in connection; 0 of {len(downloads)} download requests carried Authorization"
    )
