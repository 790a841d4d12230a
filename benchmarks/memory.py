"""
Benchmark 3: peak RSS growth of a download, ours against HttpToS3Operator's approach.

Every run is a fresh interpreter (``python -m benchmarks.memory --child ...``) that imports everything,
does one small warm-up download (so imports, connection lookup and thread start-up are paid before the
baseline), then measures the real one with :class:`benchmarks.measure.PeakRss`: growth = peak RSS during
the download minus RSS right before it, where the peak is the kernel's ``VmHWM`` after resetting it
through ``/proc/self/clear_refs`` (exact, native memory included, no sampling).

Modes: ``ours`` (``verify_gzip=False``), ``ours_verify`` (``verify_gzip=True``), and ``http_to_s3``:
what ``HttpToS3Operator`` does, ``requests`` with the body read whole (``response.content``), then
written out (it hands the bytes to ``S3Hook.load_bytes``; here they go to the same local folder).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchmarks.measure import MIB, PeakRss, alternate
from benchmarks.report import figure, flat_goal, goal, section
from benchmarks.workspace import DESTINATIONS, EmulatorProcess, ensure_export

TITLE = "peak RSS growth of one download"
MODES = ("ours", "ours_verify", "http_to_s3")
WARMUP_SIZE = 1 << 20
LIMIT_MIB = 64
FLAT = 0.10


def run(sizes: Sequence[int], runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    for size in (WARMUP_SIZE, *sizes):
        ensure_export(size, log)
    DESTINATIONS.mkdir(parents=True, exist_ok=True)
    samples: dict[int, dict[str, dict[str, list[float]]]] = {}
    method = ""
    with EmulatorProcess(WARMUP_SIZE) as emulator:
        env = {**os.environ, **emulator.environment()}
        warm_gid = emulator.finished_export(WARMUP_SIZE)
        for size in sizes:
            gid = emulator.finished_export(size)

            def child(mode: str, gid: str = gid, size: int = size) -> Callable[[], dict[str, float]]:
                def one_run() -> dict[str, float]:
                    nonlocal method
                    dest = DESTINATIONS / f"memory-{mode}.json.gz"
                    out = subprocess.run(
                        [sys.executable, "-m", "benchmarks.memory", "--child", mode, gid, warm_gid, str(dest)],
                        env=env, capture_output=True, text=True, check=False,
                    )  # fmt: skip
                    if out.returncode != 0:
                        raise RuntimeError(f"memory child {mode} failed:\n{out.stderr[-3000:]}")
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    if result["bytes"] != size:
                        raise RuntimeError(f"memory child {mode} got {result['bytes']} bytes, not {size}")
                    method = result["method"]
                    return {"growth_mib": result["growth_mib"], "seconds": result["seconds"]}

                return one_run

            log(f"sizes: {size // MIB} MiB")
            samples[size] = alternate({mode: child(mode) for mode in MODES}, runs, warmup=False, progress=log)
    return _section(sizes, runs, samples, method)


def _section(sizes: Sequence[int], runs: int, samples: dict, method: str) -> dict[str, Any]:
    labels = {"ours": "ours, verify_gzip=False", "ours_verify": "ours, verify_gzip=True",
              "http_to_s3": "HttpToS3Operator's approach (response.content)"}  # fmt: skip
    figures: dict[str, Any] = {}
    for size in sizes:
        for mode in MODES:
            figures[f"{mode}_{size // MIB}"] = figure(
                f"{labels[mode]}, {size // MIB} MiB export", "MiB", samples[size][mode]["growth_mib"], 1
            )
    goals = []
    small, large = min(sizes), max(sizes)
    for mode in ("ours", "ours_verify"):
        peaks = {size: figures[f"{mode}_{size // MIB}"]["max"] for size in sizes}
        worst = max(peaks.values())
        goals.append(goal(
            f"{labels[mode]}: growth <= {LIMIT_MIB} MiB at every size, every run",
            f"at most {worst:.1f} MiB", worst <= LIMIT_MIB,
            "" if worst <= LIMIT_MIB else f"over by {worst - LIMIT_MIB:.1f} MiB",
        ))  # fmt: skip
        a = figures[f"{mode}_{small // MIB}"]["median"]
        b = figures[f"{mode}_{large // MIB}"]["median"]
        goals.append(flat_goal(f"{labels[mode]}:", small // MIB, large // MIB, a, b, FLAT))
    naive = figures[f"http_to_s3_{large // MIB}"]["median"]
    goals.append(goal(
        "for comparison: HttpToS3Operator's approach grows with the file",
        f"{figures[f'http_to_s3_{small // MIB}']['median']:.0f} -> {naive:.0f} MiB", None,
    ))  # fmt: skip
    return section(TITLE, {"export_mib": [s // MIB for s in sizes], "runs": runs, "rss_method": method},
                   figures, goals)  # fmt: skip


# -- the child ---------------------------------------------------------------------------------------


def child(mode: str, gid: str, warm_gid: str, dest: str) -> dict[str, Any]:
    """One fresh-process measurement (its environment names the emulator's connection)."""
    from benchmarks.workspace import setup_process

    setup_process()
    import requests

    from airflow_provider_asana.hooks.asana import AsanaHook

    hook = AsanaHook()

    def download(export_gid: str, path: str) -> int:
        if mode == "http_to_s3":
            # HttpToS3Operator: HttpHook.run (requests, body read whole), then S3Hook.load_bytes(response.content).
            url = hook.get_organization_export(export_gid)["download_url"]
            response = requests.get(url, timeout=600)
            response.raise_for_status()
            data = response.content
            with open(path, "wb") as out:
                out.write(data)
            return len(data)
        result = hook.download_organization_export(
            export_gid, path, verify_gzip=mode == "ours_verify", overwrite=True
        )
        return result["bytes"]

    warm = dest + ".warm"
    download(warm_gid, warm)
    os.unlink(warm)
    if os.path.exists(dest):
        os.unlink(dest)
    gc.collect()
    peak = PeakRss()
    peak.start()
    started = time.perf_counter()
    size = download(gid, dest)
    seconds = time.perf_counter() - started
    measured = peak.stop()
    os.unlink(dest)
    return {**measured, "bytes": size, "seconds": seconds, "mode": mode}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.memory")
    parser.add_argument("--child", nargs=4, metavar=("MODE", "GID", "WARM_GID", "DEST"), required=True)
    args = parser.parse_args(argv)
    print(json.dumps(child(*args.child)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
