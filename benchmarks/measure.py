"""Shared measuring helpers: min/median/max, alternating runs, peak RSS, and what machine this is."""

from __future__ import annotations

import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

MIB = 1 << 20


def summary(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """``{"min", "median", "max", "runs"}`` of ``values`` (every run kept, rounded)."""
    values = [float(v) for v in values]
    if not values:
        return {"min": None, "median": None, "max": None, "runs": []}
    return {
        "min": round(min(values), digits),
        "median": round(statistics.median(values), digits),
        "max": round(max(values), digits),
        "runs": [round(v, digits) for v in values],
    }


def alternate(
    runners: Mapping[str, Callable[[], Mapping[str, float]]],
    runs: int,
    *,
    warmup: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """
    Run each runner ``runs`` times, interleaved: A B C, B C A, C A B, ...

    The order rotates every round so that no runner always follows the same one; one untimed warm-up
    round comes first if ``warmup``.

    Each runner returns a mapping of figures for its run; the result is ``{runner: {figure: [per run]}}``,
    index ``i`` of every list being round ``i``, so that figures of one round can be paired.
    """
    names = list(runners)
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in names}
    if warmup:
        for name in names:
            if progress:
                progress(f"warm-up: {name}")
            runners[name]()
    for round_number in range(runs):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            figures = runners[name]()
            for figure, value in figures.items():
                samples[name].setdefault(figure, []).append(value)
            if progress:
                shown = ", ".join(f"{k} {v:.3g}" for k, v in figures.items())
                progress(f"run {round_number + 1}/{runs}: {name}: {shown}")
    return samples


# -- resident memory ---------------------------------------------------------------------------------


def proc_status_kib(field: str) -> int | None:
    """Read a ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), or None where there is no /proc."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


class PeakRss:
    """
    Peak resident memory growth of this process between :meth:`start` and :meth:`stop`.

    Preferred: reset the kernel's high-water mark (``echo 5 > /proc/self/clear_refs``, Linux >= 4.0), so
    ``VmHWM`` at the end is the peak since the start, to the page, native allocations (zlib, OpenSSL,
    thread stacks) included and without sampling gaps; growth = ``VmHWM`` after - ``VmRSS`` before.
    Fallback (no writable clear_refs): a thread samples ``VmRSS`` every millisecond; short spikes can be missed.
    """

    def __init__(self) -> None:
        self.method = ""
        self.before_kib = 0
        self._peak_kib = 0
        self._sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as clear_refs:
                clear_refs.write("5")
            self.method = "VmHWM, reset through /proc/self/clear_refs"
        except OSError:
            self.method = "VmRSS sampled every 1 ms by a thread"
            self._sampling.set()
            self._sampler = threading.Thread(target=self._sample, daemon=True)
            self._sampler.start()
        self.before_kib = proc_status_kib("VmRSS") or 0
        self._peak_kib = self.before_kib

    def _sample(self) -> None:
        while self._sampling.is_set():
            self._peak_kib = max(self._peak_kib, proc_status_kib("VmRSS") or 0)
            time.sleep(0.001)

    def stop(self) -> dict[str, Any]:
        """``{"before_mib", "peak_mib", "growth_mib", "method"}``."""
        if self._sampler is not None:
            self._sampling.clear()
            self._sampler.join()
            peak = self._peak_kib
        else:
            peak = proc_status_kib("VmHWM") or 0
        return {
            "before_mib": self.before_kib / 1024,
            "peak_mib": peak / 1024,
            "growth_mib": (peak - self.before_kib) / 1024,
            "method": self.method,
        }


# -- the machine -------------------------------------------------------------------------------------


def _first_line(command: Sequence[str]) -> str | None:
    if shutil.which(command[0]) is None:
        return None
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _filesystem(path: str) -> str | None:
    """Find the mount (device, type, options) that holds ``path``, from /proc/mounts."""
    try:
        with open("/proc/mounts") as mounts:
            entries = [line.split() for line in mounts]
    except OSError:
        return None
    path = os.path.realpath(path)
    best = None
    for device, mount_point, kind, options, *_ in entries:
        inside = path == mount_point or path.startswith(mount_point.rstrip("/") + "/")
        if inside and (best is None or len(mount_point) > len(best[1])):
            best = (device, mount_point, kind, options)
    return f"{best[2]} on {best[0]} ({best[3]})" if best else None


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def machine_info(work_dir: str) -> dict[str, Any]:
    """Describe the machine and software the figures came from."""
    import ssl
    import zlib

    cores: int | None
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem_kib = None
    try:
        with open("/proc/meminfo") as meminfo:
            mem_kib = int(meminfo.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "machine": {
            "cores": cores,
            "cpu": _cpu_model(),
            "memory_gib": round(mem_kib / (1 << 20), 1) if mem_kib else None,
            "kernel": platform.release(),
            "os": platform.platform(),
            "work_dir_filesystem": _filesystem(work_dir),
            "loadavg_at_start": _loadavg(),
        },
        "versions": {
            "python": sys.version.split()[0],
            "apache-airflow": _version("apache-airflow"),
            "airflow-provider-asana": _version("airflow-provider-asana"),
            "requests": _version("requests"),
            "urllib3": _version("urllib3"),
            "httpx": _version("httpx"),
            "zlib": zlib.ZLIB_RUNTIME_VERSION,
            "openssl": ssl.OPENSSL_VERSION,
            "curl": _first_line(["curl", "--version"]),
            "gzip": _first_line(["gzip", "--version"]),
        },
    }


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
