"""
Benchmark 4: many ``AsanaOrganizationExportTrigger``s on one event loop, as a triggerer runs them.

Each run creates fresh exports on the emulator (which finish on their 3rd poll), turns on its injected API
latency, and starts a fresh interpreter (``python -m benchmarks.triggers --child ...``) that runs every
trigger's ``run()`` as a task on one event loop, started the way Airflow's ``TriggerRunner.create_triggers``
starts them (one at a time, yielding to the loop around each), next to a heartbeat coroutine: the heartbeat sleeps
:data:`HEARTBEAT` seconds in a loop and the largest lateness of a wake-up is the worst event-loop stall.
The emulator, in its own process, counts the requests and the most that one token had in flight at once.

Side by side, ``sync``: the same triggers with a blocking HTTP call inside ``run()`` (the hook's
``requests`` call), a pattern some providers ship. It serializes every request on the event loop, so it
is stopped after a cap and its full wall time projected from the requests it got through.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.measure import alternate
from benchmarks.report import figure, goal, section
from benchmarks.workspace import TOKEN, WORK, EmulatorProcess

TITLE = "concurrent triggers on one event loop"
POLLS = 3
HEARTBEAT = 0.01
INFLIGHT_LIMIT = 50
STALL_LIMIT_MS = 50


def run(
    count: int, interval: float, latency: float, sync_cap: float, runs: int, log: Callable[[str], None]
) -> dict[str, Any]:
    import hashlib

    label = hashlib.sha256(TOKEN.encode()).hexdigest()[:12]  # how the emulator's stats name the token
    with EmulatorProcess(1 << 20, polls_to_finish=POLLS) as emulator:
        env = {**os.environ, **emulator.environment()}

        def one(mode: str) -> Callable[[], dict[str, float]]:
            def one_run() -> dict[str, float]:
                emulator.control("PUT", "faults", {"latency": 0})
                gids = [emulator.create_export() for _ in range(count)]
                gids_file = WORK / f"trigger-gids-{mode}.json"
                gids_file.write_text(json.dumps(gids))
                emulator.control("PUT", "faults", {"latency": latency})
                emulator.control("DELETE", "requests")
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.triggers", "--child", mode, str(gids_file),
                     str(interval), str(sync_cap)],
                    env=env, capture_output=True, text=True, check=False,
                )  # fmt: skip
                emulator.control("PUT", "faults", {"latency": 0})
                if out.returncode != 0:
                    raise RuntimeError(f"trigger child {mode} failed:\n{out.stderr[-3000:]}")
                result = json.loads(out.stdout.strip().splitlines()[-1])
                stats = emulator.control("GET", "stats")
                polls = [r for r in emulator.control("GET", "requests")
                         if r["method"] == "GET" and r["path"].startswith("/api/1.0/organization_exports/")]  # fmt: skip
                retried = sum(1 for r in polls if r["status"] != 200)
                figures = {
                    "events": result["events"],
                    "success": result["success"],
                    "wall": result["wall"],
                    "max_stall_ms": result["max_stall_ms"],
                    "p99_stall_ms": result["p99_stall_ms"],
                    "max_stall_net_of_gc_ms": result["max_stall_net_of_gc_ms"],
                    "full_gcs": result["full_gcs"],
                    "max_full_gc_ms": result["max_full_gc_ms"],
                    "objects": result["objects"],
                    "requests": len(polls),
                    "retried": retried,
                    "max_in_flight": stats["max_in_flight"].get(label, 0),
                    "cpu": result["cpu"],
                }
                if result["events"] < count:  # stopped at the cap: project from the requests answered by then
                    needed = count * POLLS
                    figures["projected_wall"] = result["wall"] * needed / max(1, len(polls))
                else:
                    figures["projected_wall"] = result["wall"]
                return figures

            return one_run

        samples = alternate({"async": one("async"), "sync": one("sync")}, runs, warmup=False, progress=log)
    return _section(count, interval, latency, sync_cap, runs, samples)


def _section(
    count: int, interval: float, latency: float, cap: float, runs: int, samples: dict
) -> dict[str, Any]:
    ours, sync = samples["async"], samples["sync"]
    ideal = POLLS * interval + latency
    figures = {
        "events": figure(f"ours (async): events arrived, of {count}", "events", ours["events"], 0),
        "wall": figure("ours (async): wall time to the last event", "s", ours["wall"], 2),
        "wall_ratio": figure(f"ours (async): wall time / ideal ({ideal:g} s)", "x", [w / ideal for w in ours["wall"]], 2),
        "max_stall": figure("ours (async): largest event-loop stall", "ms", ours["max_stall_ms"], 1),
        "p99_stall": figure("ours (async): 99th percentile heartbeat lateness", "ms", ours["p99_stall_ms"], 1),
        "net_stall": figure("ours (async): largest stall, net of full garbage collections", "ms",
                            ours["max_stall_net_of_gc_ms"], 1),
        "full_gcs": figure("triggerer process: full (gen 2) garbage collections during the run", "count",
                           ours["full_gcs"], 0),
        "full_gc_ms": figure("triggerer process: longest full garbage collection", "ms", ours["max_full_gc_ms"], 1),
        "objects": figure("triggerer process: objects tracked by the GC at the end", "objects", ours["objects"], 0),
        "requests": figure("ours (async): API requests sent", "requests", ours["requests"], 0),
        "retried": figure("ours (async): requests answered with an error (retried)", "requests", ours["retried"], 0),
        "in_flight": figure("ours (async): most requests in flight for the token", "requests", ours["max_in_flight"], 0),
        "cpu": figure("ours (async): CPU time of the triggerer process", "s", ours["cpu"], 2),
        "sync_events": figure(f"sync call in run(): events within the {cap:g} s cap", "events", sync["events"], 0),
        "sync_wall": figure("sync call in run(): wall time to the last event (projected past the cap)", "s",
                            sync["projected_wall"], 1),
        "sync_stall": figure("sync call in run(): largest event-loop stall", "ms", sync["max_stall_ms"], 1),
        "sync_in_flight": figure("sync call in run(): most requests in flight", "requests", sync["max_in_flight"], 0),
    }  # fmt: skip
    f = {name: fig for name, fig in figures.items()}
    budget = [count * POLLS + r for r in ours["retried"]]
    goals = [
        goal(f"all {count} events arrive", f"min {f['events']['min']:.0f} of {count}",
             f["events"]["min"] == count and min(ours["success"]) == count),
        goal(f"wall time <= 2x ideal ({2 * ideal:g} s)", f"median {f['wall']['median']:.2f} s, max {f['wall']['max']:.2f} s "
             f"({f['wall_ratio']['median']:.2f}x ideal)", f["wall_ratio"]["median"] <= 2.0),
        goal(f"largest event-loop stall < {STALL_LIMIT_MS} ms", f"median {f['max_stall']['median']:.1f} ms, max "
             f"{f['max_stall']['max']:.1f} ms", f["max_stall"]["max"] < STALL_LIMIT_MS,
             "" if f["max_stall"]["max"] < STALL_LIMIT_MS else
             f"full garbage collections of the triggerer's heap take up to {f['full_gc_ms']['max']:.0f} ms"
             if f["full_gc_ms"]["max"] else "no full garbage collection ran"),
        goal(f"largest event-loop stall net of full GCs < {STALL_LIMIT_MS} ms (the triggers' own blocking)",
             f"median {f['net_stall']['median']:.1f} ms, max {f['net_stall']['max']:.1f} ms",
             f["net_stall"]["max"] < STALL_LIMIT_MS),
        goal(f"requests <= {count} x (polls + retries)", f"max {f['requests']['max']:.0f} sent, budget "
             f"{min(budget)}-{max(budget)}", all(r <= b for r, b in zip(ours["requests"], budget))),
        goal(f"never more than {INFLIGHT_LIMIT} requests in flight per token", f"max {f['in_flight']['max']:.0f}",
             f["in_flight"]["max"] <= INFLIGHT_LIMIT),
    ]  # fmt: skip
    parameters = {"triggers": count, "poll_interval_s": interval, "latency_s": latency, "polls_to_finish": POLLS,
                  "ideal_s": ideal, "sync_cap_s": cap, "heartbeat_s": HEARTBEAT, "runs": runs}  # fmt: skip
    return section(TITLE, parameters, figures, goals)


# -- the child: a triggerer's event loop --------------------------------------------------------------


def _sync_trigger_class(deadline: float) -> type:
    from airflow.triggers.base import TriggerEvent

    from airflow_provider_asana.hooks.asana import AsanaHook
    from airflow_provider_asana.triggers.organization_export import (
        STATE_FIELDS,
        AsanaOrganizationExportTrigger,
        export_outcome,
    )

    class SyncCallTrigger(AsanaOrganizationExportTrigger):
        """
        The same trigger, but polling with a blocking (``requests``) call inside the coroutine.

        It gives up at the benchmark's cap (checked before each call): the blocking calls of one round all
        run in one event-loop iteration, where no timeout can fire.
        """

        async def run(self):  # type: ignore[override]
            hook = AsanaHook(asana_conn_id=self.asana_conn_id)
            while time.monotonic() < deadline:
                # Blocks the loop.
                export = hook.get_organization_export(self.export_gid, opt_fields=STATE_FIELDS)
                outcome = export_outcome(self.export_gid, export)
                if outcome is not None:
                    yield TriggerEvent(self._event(*outcome))
                    return
                await asyncio.sleep(self.poll_interval)

    return SyncCallTrigger


async def _triggerer(mode: str, gids: list[str], interval: float, cap: float) -> dict[str, Any]:
    from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger

    cls = AsanaOrganizationExportTrigger if mode == "async" else _sync_trigger_class(time.monotonic() + cap)
    end_time = time.time() + 3600
    triggers = [cls(export_gid=gid, asana_conn_id="asana_default", poll_interval=interval, end_time=end_time)
                for gid in gids]  # fmt: skip
    loop = asyncio.get_running_loop()
    beats: list[tuple[float, float]] = []  # (previous wake-up, this wake-up), on the loop's clock
    arrivals: list[tuple[float, str]] = []
    stop = asyncio.Event()
    full_gcs: list[tuple[float, float]] = []  # (start, end) of each full (generation 2) garbage collection
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if info.get("generation") == 2:
            if phase == "start":
                gc_started[0] = loop.time()
            else:
                full_gcs.append((gc_started[0], loop.time()))

    async def heartbeat() -> None:
        last = loop.time()
        while not stop.is_set():
            await asyncio.sleep(HEARTBEAT)
            now = loop.time()
            beats.append((last, now))
            last = now

    async def consume(trigger: Any) -> None:
        async for event in trigger.run():
            arrivals.append((loop.time() - started, event.payload["status"]))

    gc.callbacks.append(on_gc)
    beat = asyncio.create_task(heartbeat())
    await asyncio.sleep(0.05)
    cpu = time.process_time()
    started = loop.time()
    tasks = []
    for trigger in triggers:  # as TriggerRunner.create_triggers starts them: yielding around each one
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        tasks.append(asyncio.create_task(consume(trigger)))
    done, pending = await asyncio.wait(tasks, timeout=cap if mode == "sync" else None)
    complete = len(arrivals) == len(triggers)
    wall = max((t for t, _ in arrivals), default=0.0) if complete else loop.time() - started
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # surface a failure
    cpu = time.process_time() - cpu
    stop.set()
    await beat
    gc.callbacks.remove(on_gc)
    lateness = sorted(end - start - HEARTBEAT for start, end in beats)
    # The same lateness less the time full garbage collections took inside each gap: what is left is the
    # code's own blocking. A full collection walks every object of the process (Airflow's own modules are
    # most of them), whoever allocated them.
    net = [end - start - HEARTBEAT - sum(max(0.0, min(end, g1) - max(start, g0)) for g0, g1 in full_gcs)
           for start, end in beats]  # fmt: skip
    return {
        "events": len(arrivals),
        "success": sum(1 for _, status in arrivals if status == "success"),
        "wall": wall,
        "max_stall_ms": 1000 * max(lateness, default=0.0),
        "p99_stall_ms": 1000 * lateness[int(0.99 * (len(lateness) - 1))] if lateness else 0.0,
        "max_stall_net_of_gc_ms": 1000 * max(net, default=0.0),
        "full_gcs": len(full_gcs),
        "max_full_gc_ms": 1000 * max((g1 - g0 for g0, g1 in full_gcs), default=0.0),
        "objects": len(gc.get_objects()),
        "cpu": cpu,
    }


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.triggers")
    parser.add_argument(
        "--child", nargs=4, metavar=("MODE", "GIDS_FILE", "INTERVAL", "SYNC_CAP"), required=True
    )
    args = parser.parse_args(argv)
    mode, gids_file, interval, cap = args.child
    from benchmarks.workspace import setup_process

    setup_process()
    gids = json.loads(open(gids_file).read())
    print(json.dumps(asyncio.run(_triggerer(mode, gids, float(interval), float(cap)))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
