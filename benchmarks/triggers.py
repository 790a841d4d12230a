"""
Benchmark 4: N ``AsanaOrganizationExportTrigger``s in Airflow's own triggerer, against N of its ``DateTimeTrigger``.

Each run starts a fresh interpreter (``python -m benchmarks.triggers --child SPEC``) that runs
``airflow triggerer --skip-serve-logs`` through Airflow's own command function, job runner and
``TriggerRunnerSupervisor``, which forks Airflow's ``TriggerRunner``: the process, event loop, comms, log
channel and garbage-collected heap that triggers really run in. Only the metadata database is left out: the
supervisor here hands the runner its ``RunTrigger`` workloads itself, all at once, and records the events
instead of writing them to the ``trigger`` table (see :class:`_Triggerer`).

Every run holds one more trigger, :class:`LoopProbeTrigger`, created first: it measures the runner's event loop
from inside (a heartbeat's lateness, full garbage collections, CPU time and peak RSS of the process) until every
measured trigger's task is done.

Contenders, alternated round by round at two counts (the slope between them is the cost per 1,000 triggers):

* ``ours``: ``AsanaOrganizationExportTrigger`` polling the emulator (its own process), each export finishing on
  its 3rd poll, every answer delayed by the injected API latency;
* ``datetime``: Airflow's ``DateTimeTrigger``, each firing at the moment an export would finish;
* ``sync`` (first count only): our trigger with a blocking ``requests`` call in ``run()``, a pattern some
  providers ship, stopped at a cap and its wall time projected from the requests it got through.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.triggers.organization_export import (
    STATE_FIELDS,
    AsanaOrganizationExportTrigger,
    export_outcome,
)
from benchmarks.measure import PeakRss, alternate
from benchmarks.report import figure, goal, section
from benchmarks.workspace import TOKEN, WORK, EmulatorProcess

TITLE = "triggers in Airflow's triggerer: ours against Airflow's DateTimeTrigger"
POLLS = 3
HEARTBEAT = 0.01
INFLIGHT_LIMIT = 50
#: Ours / DateTimeTrigger, same round, for the largest stall and the 99th percentile lateness.
RATIO_LIMIT = 1.2
#: How long a child may run before its probe gives up waiting for the measured triggers.
CHILD_DEADLINE = 300.0

CLASSPATHS = {
    "ours": "airflow_provider_asana.triggers.organization_export.AsanaOrganizationExportTrigger",
    "datetime": "airflow.providers.standard.triggers.temporal.DateTimeTrigger",
    "sync": "benchmarks.triggers.BlockingPollTrigger",
}
PROBE_CLASSPATH = "benchmarks.triggers.LoopProbeTrigger"
PROBE_ID = 1
FIRST_ID = PROBE_ID + 1


def run(
    counts: Sequence[int],
    interval: float,
    latency: float,
    sync_cap: float,
    runs: int,
    log: Callable[[str], None],
) -> dict[str, Any]:
    label = hashlib.sha256(TOKEN.encode()).hexdigest()[:12]  # how the emulator's stats name the token
    ideal = POLLS * interval + latency
    # Hundreds of exports of one organization, never downloaded: the emulator must not generate each one (its
    # cost grows with the export's place in the organization's sequence) while the triggers are measured.
    with EmulatorProcess(1 << 20, polls_to_finish=POLLS, background_generation=False) as emulator:
        env = {**os.environ, **emulator.environment(), "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO"}

        def one(mode: str, count: int) -> Callable[[], dict[str, float]]:
            def one_run() -> dict[str, float]:
                spec: dict[str, Any] = {"mode": mode, "count": count, "interval": interval, "ideal": ideal,
                                        "sync_cap": sync_cap, "result": str(WORK / f"triggers-{mode}-{count}.json")}  # fmt: skip
                if mode != "datetime":
                    emulator.control("PUT", "faults", {"latency": 0})
                    spec["gids"] = [emulator.create_export() for _ in range(count)]
                    emulator.control("PUT", "faults", {"latency": latency})
                    emulator.control("DELETE", "requests")
                result = _run_child(spec, env)
                emulator.control("PUT", "faults", {"latency": 0})
                if mode == "datetime":
                    return result
                stats = emulator.control("GET", "stats")
                polls = [r for r in emulator.control("GET", "requests")
                         if r["method"] == "GET" and r["path"].startswith("/api/1.0/organization_exports/")]  # fmt: skip
                result["requests"] = len(polls)
                result["retried"] = sum(1 for r in polls if r["status"] != 200)
                result["max_in_flight"] = stats["max_in_flight"].get(label, 0)
                complete = result["events"] == count
                # Stopped at the cap: project the wall time from the requests answered by then.
                result["projected_wall"] = result["wall"] * (
                    1 if complete else count * POLLS / max(1, len(polls))
                )
                return result

            return one_run

        runners = {f"{mode}@{count}": one(mode, count) for count in counts for mode in ("ours", "datetime")}
        runners[f"sync@{counts[0]}"] = one("sync", counts[0])
        load_before = os.getloadavg()
        samples = alternate(runners, runs, warmup=False, progress=log)
        load = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    return _section(counts, interval, latency, sync_cap, runs, ideal, samples, load)


def _run_child(spec: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    spec_file = WORK / f"triggers-{spec['mode']}-{spec['count']}.spec.json"
    spec_file.write_text(json.dumps(spec))
    result_file = Path(spec["result"])
    result_file.unlink(missing_ok=True)
    with open(WORK / "triggerer.log", "wb") as out:  # the triggerer's own log lines, the last run's only
        done = subprocess.run([sys.executable, "-m", "benchmarks.triggers", "--child", str(spec_file)],
                              env=env, stdout=out, stderr=subprocess.STDOUT, check=False)  # fmt: skip
    if done.returncode != 0 or not result_file.exists():
        tail = (WORK / "triggerer.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(
            f"triggerer child {spec['mode']} x {spec['count']} failed ({done.returncode}):\n{tail}"
        )
    return json.loads(result_file.read_text())


def _ratios(a: list[float], b: list[float]) -> list[float]:
    return [x / y if y else float("inf") for x, y in zip(a, b)]


def _per_1000(samples: dict, counts: Sequence[int], mode: str, name: str) -> list[float]:
    """Return the slope per 1,000 triggers between the two counts, round by round."""
    low, high = (samples[f"{mode}@{c}"][name] for c in counts)
    return [(h - lo) * 1000 / (counts[1] - counts[0]) for lo, h in zip(low, high)]


def _section(
    counts: Sequence[int],
    interval: float,
    latency: float,
    cap: float,
    runs: int,
    ideal: float,
    samples: dict,
    load: dict[str, list[float]],
) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    goals = []
    for count in counts:
        ours, base = samples[f"ours@{count}"], samples[f"datetime@{count}"]
        stall_ratio = _ratios(ours["max_stall_ms"], base["max_stall_ms"])
        p99_ratio = _ratios(ours["p99_ms"], base["p99_ms"])
        for key, who, s in (("ours", "ours", ours), ("datetime", "DateTimeTrigger", base)):
            figures.update({
                f"{key}_{count}_events": figure(f"{count} {who}: events arrived", "events", s["events"], 0),
                f"{key}_{count}_wall": figure(f"{count} {who}: wall time to the last event", "s", s["wall"], 2),
                f"{key}_{count}_stall": figure(f"{count} {who}: largest event-loop stall", "ms", s["max_stall_ms"], 1),
                f"{key}_{count}_p99": figure(f"{count} {who}: 99th percentile heartbeat lateness", "ms", s["p99_ms"], 1),
                f"{key}_{count}_p50": figure(f"{count} {who}: median heartbeat lateness", "ms", s["p50_ms"], 2),
                f"{key}_{count}_net": figure(f"{count} {who}: largest stall, net of full garbage collections", "ms",
                                             s["max_stall_net_of_gc_ms"], 1),
                f"{key}_{count}_full_gcs": figure(f"{count} {who}: full (gen 2) garbage collections", "count",
                                                  s["full_gcs"], 0),
                f"{key}_{count}_full_gc_ms": figure(f"{count} {who}: longest full garbage collection", "ms",
                                                    s["max_full_gc_ms"], 1),
                f"{key}_{count}_full_gc_total": figure(f"{count} {who}: time in full garbage collections", "ms",
                                                       s["full_gc_total_ms"], 1),
                f"{key}_{count}_cpu": figure(f"{count} {who}: CPU time of the runner process (user+sys)", "s",
                                             s["cpu"], 2),
                f"{key}_{count}_rss": figure(f"{count} {who}: runner peak RSS growth", "MiB", s["rss_growth_mib"], 1),
            })  # fmt: skip
        figures[f"ours_{count}_requests"] = figure(
            f"{count} ours: API requests sent", "requests", ours["requests"], 0
        )
        figures[f"ours_{count}_in_flight"] = figure(f"{count} ours: most requests in flight for the token",
                                                    "requests", ours["max_in_flight"], 0)  # fmt: skip
        figures[f"ratio_{count}_stall"] = figure(f"{count}: largest stall, ours / DateTimeTrigger (same round)", "x",
                                                 stall_ratio, 2)  # fmt: skip
        figures[f"ratio_{count}_p99"] = figure(f"{count}: p99 lateness, ours / DateTimeTrigger (same round)", "x",
                                               p99_ratio, 2)  # fmt: skip
        budget = [count * POLLS + r for r in ours["retried"]]
        goals += [
            goal(f"{count} ours: all {count} events arrive, successful", f"min {min(ours['events']):.0f}, "
                 f"{min(ours['success']):.0f} successful", min(ours["events"]) == min(ours["success"]) == count),
            goal(f"{count} ours: largest stall <= {RATIO_LIMIT}x DateTimeTrigger's (same round)",
                 f"median {statistics.median(stall_ratio):.2f}x ({statistics.median(ours['max_stall_ms']):.0f} vs "
                 f"{statistics.median(base['max_stall_ms']):.0f} ms)", statistics.median(stall_ratio) <= RATIO_LIMIT),
            goal(f"{count} ours: p99 lateness <= {RATIO_LIMIT}x DateTimeTrigger's (same round)",
                 f"median {statistics.median(p99_ratio):.2f}x ({statistics.median(ours['p99_ms']):.1f} vs "
                 f"{statistics.median(base['p99_ms']):.1f} ms)", statistics.median(p99_ratio) <= RATIO_LIMIT),
            goal(f"{count} ours: requests <= {count} x (polls + retries)",
                 f"max {max(ours['requests']):.0f} sent, budget {min(budget)}-{max(budget)}",
                 all(r <= b for r, b in zip(ours["requests"], budget))),
            goal(f"{count} ours: never more than {INFLIGHT_LIMIT} requests in flight per token",
                 f"max {max(ours['max_in_flight']):.0f}", max(ours["max_in_flight"]) <= INFLIGHT_LIMIT),
        ]  # fmt: skip
    base_count = counts[0]
    wall_ratio = [w / ideal for w in samples[f"ours@{base_count}"]["wall"]]
    figures["wall_ratio"] = figure(f"{base_count} ours: wall time / ideal ({ideal:g} s)", "x", wall_ratio, 2)
    goals.insert(1, goal(f"{base_count} ours: wall time <= 2x ideal ({2 * ideal:g} s)",
                         f"median {statistics.median(wall_ratio):.2f}x", statistics.median(wall_ratio) <= 2.0))  # fmt: skip
    for key, who in (("ours", "ours"), ("datetime", "DateTimeTrigger")):
        figures[f"{key}_cpu_per_1000"] = figure(f"{who}: runner CPU per 1,000 waiting triggers (slope "
                                                f"{counts[0]} to {counts[1]})", "s",
                                                _per_1000(samples, counts, key, "cpu"), 2)  # fmt: skip
        figures[f"{key}_rss_per_1000"] = figure(f"{who}: runner peak RSS per 1,000 waiting triggers (slope)", "MiB",
                                                _per_1000(samples, counts, key, "rss_growth_mib"), 1)  # fmt: skip
    figures["heap_objects"] = figure("runner: objects tracked by the GC when the probe starts", "objects",
                                     samples[f"datetime@{base_count}"]["objects_at_start"], 0)  # fmt: skip
    sync = samples[f"sync@{base_count}"]
    figures.update({
        "sync_events": figure(f"{base_count} sync call in run(): events within the {cap:g} s cap", "events",
                              sync["events"], 0),
        "sync_wall": figure(f"{base_count} sync call in run(): wall time to the last event (projected past the cap)",
                            "s", sync["projected_wall"], 1),
        "sync_stall": figure(f"{base_count} sync call in run(): largest event-loop stall", "ms", sync["max_stall_ms"], 1),
        "sync_in_flight": figure(f"{base_count} sync call in run(): most requests in flight", "requests",
                                 sync["max_in_flight"], 0),
    })  # fmt: skip
    parameters = {"triggers": list(counts), "poll_interval_s": interval, "latency_s": latency, "polls_to_finish": POLLS,
                  "ideal_s": ideal, "sync_cap_s": cap, "heartbeat_s": HEARTBEAT, "runs": runs,
                  "runner_log_level": "INFO", "machine_load_average_1_5_15_min": load,
                  "cpu_cores": os.cpu_count()}  # fmt: skip
    return section(TITLE, parameters, figures, goals)


# -- inside the triggerer's runner ---------------------------------------------------------------------


class LoopProbeTrigger(BaseTrigger):
    """
    Measure the triggerer's event loop from inside it: one more trigger, created before the measured ones.

    A heartbeat sleeps :data:`HEARTBEAT` seconds in a loop; how late it wakes is the loop's stall. Full (generation
    2) garbage collections are timed with ``gc.callbacks``. It ends when the tasks of the triggers ``first_id`` to
    ``first_id + count - 1`` are all done, and yields the figures as its event.

    :param first_id: The first measured trigger's id.
    :param count: How many measured triggers.
    :param deadline: Wall-clock epoch seconds after which it stops waiting.
    """

    def __init__(self, first_id: int, count: int, deadline: float) -> None:
        super().__init__()
        self.first_id = first_id
        self.count = count
        self.deadline = deadline

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return PROBE_CLASSPATH, {"first_id": self.first_id, "count": self.count, "deadline": self.deadline}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        loop = asyncio.get_running_loop()
        wanted = range(self.first_id, self.first_id + self.count)
        seen: set[int] = set()
        finished: list[float] = []
        full_gcs: list[tuple[float, float]] = []  # (start, end) of each full garbage collection
        gc_started = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if info.get("generation") == 2:
                if phase == "start":
                    gc_started[0] = loop.time()
                else:
                    full_gcs.append((gc_started[0], loop.time()))

        def on_done(task: asyncio.Future) -> None:
            trigger_id = _trigger_id(task.get_name())  # type: ignore[attr-defined]
            if trigger_id in wanted and trigger_id not in seen:
                seen.add(trigger_id)
                finished.append(loop.time())

        # Every measured trigger's task, done or not: those created before this line are pending (the runner
        # creates them one by one, yielding to the loop), the later ones pass through the task factory.
        for task in asyncio.all_tasks(loop):
            if _runs_a_trigger(task.get_coro()):
                task.add_done_callback(on_done)
        loop.set_task_factory(_watching_factory(on_done))
        objects = len(gc.get_objects())  # walks the heap: before the clock starts
        rss = PeakRss()
        rss.start()
        gc.callbacks.append(on_gc)
        cpu = time.process_time()
        started = last = loop.time()
        beats: list[tuple[float, float]] = []  # (previous wake-up, this wake-up), on the loop's clock
        while len(finished) < self.count and time.time() < self.deadline:
            await asyncio.sleep(HEARTBEAT)
            now = loop.time()
            beats.append((last, now))
            last = now
        cpu = time.process_time() - cpu
        gc.callbacks.remove(on_gc)
        loop.set_task_factory(None)
        memory = rss.stop()
        lateness = sorted(end - start - HEARTBEAT for start, end in beats)
        # The same lateness less the time full collections took inside each gap: the code's own blocking.
        net = [end - start - HEARTBEAT - sum(max(0.0, min(end, g1) - max(start, g0)) for g0, g1 in full_gcs)
               for start, end in beats]  # fmt: skip
        yield TriggerEvent({
            "done": len(finished),
            "wall": max(finished, default=loop.time()) - started,
            "max_stall_ms": 1000 * lateness[-1],
            "p99_ms": 1000 * _percentile(lateness, 0.99),
            "p50_ms": 1000 * _percentile(lateness, 0.50),
            "max_stall_net_of_gc_ms": 1000 * max(net),
            "full_gcs": len(full_gcs),
            "max_full_gc_ms": 1000 * max((g1 - g0 for g0, g1 in full_gcs), default=0.0),
            "full_gc_total_ms": 1000 * sum(g1 - g0 for g0, g1 in full_gcs),
            "cpu": cpu,
            "rss_before_mib": memory["before_mib"],
            "rss_growth_mib": memory["growth_mib"],
            "objects_at_start": objects,
        })  # fmt: skip


def _watching_factory(on_done: Callable[[asyncio.Future], None]) -> Callable[..., asyncio.Future]:
    """Return a task factory making the loop's usual tasks, the triggers' told to call ``on_done`` when done."""

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Future:
        task = asyncio.Task(coro, loop=loop, **kwargs)
        if _runs_a_trigger(coro):
            task.add_done_callback(on_done)
        return task

    return factory


def _runs_a_trigger(coro: Any) -> bool:
    """Tell whether a task's coroutine is the runner's ``TriggerRunner.run_trigger`` (one per trigger)."""
    return getattr(coro, "__qualname__", "") == "TriggerRunner.run_trigger"


def _trigger_id(task_name: str) -> int:
    """Return the id in a runner's task name: ``ID 7`` or ``dag/run/task/-1/1 (ID 7)``; -1 for others."""
    head, _, tail = task_name.rpartition("ID ")
    if head and not head.endswith("("):
        return -1
    digits = tail.rstrip(")")
    return int(digits) if digits.isdigit() else -1


def _percentile(ordered: list[float], fraction: float) -> float:
    return ordered[int(fraction * (len(ordered) - 1))] if ordered else 0.0


class BlockingPollTrigger(AsanaOrganizationExportTrigger):
    """
    Our trigger, but polling with a blocking (``requests``) call inside the coroutine.

    It gives up at ``deadline`` (checked before each call; wall-clock epoch seconds): the blocking calls of one
    round all run in one event-loop iteration, where no timeout can fire.
    """

    def __init__(self, *, deadline: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AsanaHook(asana_conn_id=self.asana_conn_id)
        while time.time() < self.deadline:
            # Blocks the loop.
            export = hook.get_organization_export(self.export_gid, opt_fields=STATE_FIELDS)
            outcome = export_outcome(self.export_gid, export)
            if outcome is not None:
                yield TriggerEvent(self._event(*outcome))
                return
            await asyncio.sleep(self.poll_interval)


# -- the child: airflow triggerer without its database ----------------------------------------------------


def _workloads(spec: dict[str, Any]) -> list[Any]:
    """Build the ``RunTrigger`` workloads: the probe first, then the measured triggers, each with its TI."""
    from airflow.executors import workloads
    from airflow.executors.workloads.task import TaskInstanceDTO
    from airflow.models.trigger import Trigger

    mode, count = spec["mode"], spec["count"]
    now = time.time()
    if mode == "datetime":
        import datetime

        moment = datetime.datetime.fromtimestamp(now + spec["ideal"], tz=datetime.timezone.utc)
        kwargs = [{"moment": moment, "end_from_trigger": False}] * count
    else:
        common = {"asana_conn_id": "asana_default", "poll_interval": spec["interval"], "end_time": now + 3600}
        if mode == "sync":
            common["deadline"] = now + spec["sync_cap"]
        kwargs = [{"export_gid": gid, **common} for gid in spec["gids"]]
    dag_version = uuid.uuid4()

    def ti(n: int) -> TaskInstanceDTO:
        return TaskInstanceDTO(id=uuid.uuid4(), task_id="wait_for_export", dag_id="benchmark", run_id=f"run_{n}",
                               try_number=1, dag_version_id=dag_version, pool_slots=1, priority_weight=1)  # fmt: skip

    probe = {"first_id": FIRST_ID, "count": count, "deadline": now + CHILD_DEADLINE}
    classpaths = [PROBE_CLASSPATH] + [CLASSPATHS[mode]] * count
    return [
        workloads.RunTrigger(
            id=PROBE_ID + n, classpath=classpath, encrypted_kwargs=Trigger.encrypt_kwargs(kw), ti=ti(n)
        )
        for n, (classpath, kw) in enumerate(zip(classpaths, [probe, *kwargs]))
    ]


class _Record:
    """What the supervisor learns in one run: events and failures by trigger id."""

    spec: dict[str, Any] = {}
    handed_over = False
    events: dict[int, Any] = {}
    failures: dict[int, Any] = {}

    @classmethod
    def finished(cls) -> bool:
        return PROBE_ID in cls.events and len(cls.events) + len(cls.failures) >= cls.spec["count"] + 1


def _triggerer_class() -> type:
    from airflow.jobs.triggerer_job_runner import TriggerRunnerSupervisor

    class _Triggerer(TriggerRunnerSupervisor):
        """
        Airflow's ``TriggerRunnerSupervisor``, its database calls replaced: the rest, and the runner, are Airflow's.

        It hands all the workloads over on its first loop (``load_triggers`` would assign at most
        ``[triggerer] max_trigger_to_select_per_loop`` a loop from the ``trigger`` table) and stops once every
        trigger has sent its event or failed.
        """

        def load_triggers(self) -> None:
            if not _Record.handed_over:
                self.creating_triggers.extend(_workloads(_Record.spec))
                _Record.handed_over = True

        def heartbeat(self) -> None:
            pass  # the Job row's heartbeat

        def clean_unused(self) -> None:
            pass

        def on_trigger_event(self, trigger_id: int, event: TriggerEvent) -> None:
            _Record.events[trigger_id] = event.payload

        def on_trigger_failure(self, trigger_id: int, exc: list[str] | None) -> None:
            _Record.failures[trigger_id] = exc

        def should_stop(self) -> bool:
            return self.stop or _Record.finished()

    return _Triggerer


def _run_triggerer(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``airflow triggerer --skip-serve-logs`` as the CLI does, without the metadata database."""
    from airflow.cli import cli_parser

    args = cli_parser.get_parser().parse_args(["triggerer", "--skip-serve-logs"])
    from airflow.cli.commands import triggerer_command
    from airflow.jobs import job, triggerer_job_runner

    def run_job(job: job.Job, execute_callable: Callable[[], int | None]) -> int | None:
        # run_job without the Job row. Its first query configures the ORM mappers, before the runner forks.
        from sqlalchemy.orm import configure_mappers

        configure_mappers()
        return job_module.execute_job(job, execute_callable=execute_callable)

    job_module = job
    _Record.spec = spec
    triggerer_command.run_job = run_job  # type: ignore[assignment]
    triggerer_job_runner.TriggerRunnerSupervisor = _triggerer_class()  # type: ignore[misc, assignment]
    # The command below its @action_cli wrapper, whose action log and migration check need the database.
    triggerer_command.triggerer.__wrapped__(args)  # type: ignore[attr-defined]
    probe = _Record.events.get(PROBE_ID)
    if probe is None:
        raise RuntimeError(f"the probe sent no event; failures: {list(_Record.failures.items())[:3]}")
    measured = {k: v for k, v in _Record.events.items() if k != PROBE_ID}
    success = sum(1 for v in measured.values() if isinstance(v, dict) and v.get("status") == "success")
    return {**probe, "events": len(measured), "success": success, "failures": len(_Record.failures)}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.triggers")
    parser.add_argument(
        "--child", metavar="SPEC", required=True, help="run one triggerer child (JSON spec file)"
    )
    args = parser.parse_args(argv)
    spec = json.loads(open(args.child).read())
    import importlib

    importlib.import_module("benchmarks.triggers")  # the runner finds its probe's class already imported
    result = _run_triggerer(spec)
    with open(spec["result"], "w") as out:
        json.dump(result, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
