"""
Benchmarks 1 and 2: transfer throughput against ``curl -o``, and gzip verification overlapped with it.

One alternating loop runs four things on the same export served from loopback by the emulator (its
download host serves with sendfile, from a file the warm-up put in the page cache):

- ``ours``: ``AsanaHook.download_organization_export(..., verify_gzip=False)`` into a local folder,
  timed from the call to its return: the fresh-URL API call, the streamed download, SHA-256, the fsync
  and the atomic rename included.
- ``ours_verify``: the same with ``verify_gzip=True``.
- ``curl``: ``curl -o`` of a fresh URL (minted before the clock starts) to the same disk. curl does not
  fsync; the fsync it would need to match our durability is timed separately.
- ``gzip -t`` of the same file (the export the emulator serves).

Both downloads get the same treatment: the destination is removed right before the run and
``os.sync()`` drains every dirty page (ours, curl's, the removal's) before the clock starts, so no
run pays for another's writeback. All runs are in this process or its children; the emulator runs in
a process of its own.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from typing import Any

from benchmarks.measure import MIB, alternate
from benchmarks.report import figure, goal, section
from benchmarks.workspace import DESTINATIONS, EmulatorProcess, ensure_export, export_sha256

TITLE = "transfer throughput and overlapped verification"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _self_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _fresh(path: Any) -> None:
    """Remove a destination and let the kernel write back everything dirty, untimed."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    os.sync()


def run(size: int, runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    curl = shutil.which("curl") or ""
    gzip = shutil.which("gzip") or ""
    source = ensure_export(size, log)
    sha256 = export_sha256(size)
    DESTINATIONS.mkdir(parents=True, exist_ok=True)
    ours_dest = DESTINATIONS / "ours.json.gz"
    curl_dest = DESTINATIONS / "curl.json.gz"

    with EmulatorProcess(size) as emulator:
        os.environ.update(emulator.environment())
        from airflow_provider_asana.hooks.asana import AsanaHook

        hook = AsanaHook()
        gid = emulator.finished_export()

        def ours(verify: bool) -> Callable[[], dict[str, float]]:
            def one_run() -> dict[str, float]:
                _fresh(ours_dest)
                cpu = _self_cpu()
                started = time.perf_counter()
                result = hook.download_organization_export(gid, str(ours_dest), verify_gzip=verify)
                seconds = time.perf_counter() - started
                cpu = _self_cpu() - cpu
                if result["sha256"] != sha256 or result["bytes"] != size:
                    raise RuntimeError(f"our download is wrong: {result}")
                return {"seconds": seconds, "cpu": cpu}

            return one_run

        def curl_run() -> dict[str, float]:
            url = emulator.fresh_url(gid)
            _fresh(curl_dest)
            cpu = _children_cpu()
            started = time.perf_counter()
            subprocess.run([curl, "-sS", "--fail", "-o", str(curl_dest), url], check=True)
            seconds = time.perf_counter() - started
            cpu = _children_cpu() - cpu
            if os.path.getsize(curl_dest) != size:
                raise RuntimeError("curl's download has the wrong size")
            started = time.perf_counter()
            fd = os.open(curl_dest, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            return {"seconds": seconds, "cpu": cpu, "fsync": time.perf_counter() - started}

        def gzip_run() -> dict[str, float]:
            started = time.perf_counter()
            subprocess.run([gzip, "-t", str(source)], check=True)
            return {"seconds": time.perf_counter() - started}

        runners: dict[str, Callable[[], dict[str, float]]] = {"ours": ours(False), "ours_verify": ours(True)}
        if curl:
            runners["curl"] = curl_run
        else:
            log("curl is not installed: the curl reference is skipped (apt-get install curl)")
        if gzip:
            runners["gzip_t"] = gzip_run
        else:
            log("gzip is not installed: the gzip -t reference is skipped (apt-get install gzip)")
        try:
            samples = alternate(runners, runs, progress=log)
        finally:
            for path in (ours_dest, curl_dest):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
    return _section(size, runs, samples)


def _section(size: int, runs: int, samples: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    mb = size / 1e6
    ours = samples["ours"]["seconds"]
    verify = samples["ours_verify"]["seconds"]
    curl = samples.get("curl", {}).get("seconds")
    gzip_t = samples.get("gzip_t", {}).get("seconds")
    figures = {
        "ours_s": figure("ours, verify_gzip=False: wall time", "s", ours),
        "ours_mbps": figure("ours, verify_gzip=False: throughput", "MB/s", [mb / s for s in ours], 1),
        "ours_cpu": figure("ours, verify_gzip=False: CPU time (all threads)", "s", samples["ours"]["cpu"]),
    }
    if curl:
        figures |= {
            "curl_s": figure("curl -o: wall time", "s", curl),
            "curl_mbps": figure("curl -o: throughput", "MB/s", [mb / s for s in curl], 1),
            "curl_cpu": figure("curl -o: CPU time", "s", samples["curl"]["cpu"]),
            "curl_fsync_s": figure("curl -o, then fsync (our durability): wall time", "s",
                                   [c + f for c, f in zip(curl, samples["curl"]["fsync"])]),
            "ratio": figure("throughput ours / curl (same round)", "x", [c / o for c, o in zip(curl, ours)]),
        }  # fmt: skip
    figures["verify_s"] = figure("ours, verify_gzip=True: wall time", "s", verify)
    figures["verify_cpu"] = figure(
        "ours, verify_gzip=True: CPU time (all threads)", "s", samples["ours_verify"]["cpu"]
    )
    if gzip_t:
        figures["gzip_t_s"] = figure("gzip -t of the same file: wall time", "s", gzip_t)
    if curl and gzip_t:
        figures["verify_ratio"] = figure(
            "verified download / max(curl, gzip -t) (same round)", "x",
            [v / max(c, g) for v, c, g in zip(verify, curl, gzip_t)],
        )  # fmt: skip
    goals = []
    if curl:
        ratio = figures["ratio"]["median"]
        goals.append(goal(
            "throughput >= 1.0x curl's", f"{ratio:.2f}x (median of {runs} rounds)", ratio >= 1.0,
            "" if ratio >= 1.0 else f"short by {(1.0 - ratio) * 100:.0f}%",
        ))  # fmt: skip
    else:
        goals.append(goal("throughput >= 1.0x curl's", "curl not installed", None))
    if curl and gzip_t:
        vr = figures["verify_ratio"]["median"]
        goals.append(goal(
            "verified wall time <= 0.8x max(curl, gzip -t)", f"{vr:.2f}x (median of {runs} rounds)", vr <= 0.8,
            "" if vr <= 0.8 else f"over by {(vr / 0.8 - 1) * 100:.0f}%",
        ))  # fmt: skip
    else:
        goals.append(
            goal("verified wall time <= 0.8x max(curl, gzip -t)", "curl or gzip not installed", None)
        )
    return section(TITLE, {"export_bytes": size, "export_mib": size // MIB, "runs": runs}, figures, goals)
