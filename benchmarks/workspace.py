"""Where the benchmarks work (``benchmarks/.work/``), the Airflow environment, and the emulator process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / ".work"
#: Generated export files, kept between runs (each size is generated once, by the emulator's own cache).
CACHE = WORK / "cache"
DESTINATIONS = WORK / "dest"
AIRFLOW_HOME = WORK / "airflow-home"
CONN_ID = "asana_default"
#: The emulator's token: what Asana would see as one token (the in-flight limit is per token).
TOKEN = "benchmark-token-0000"


def airflow_environment() -> dict[str, str]:
    """Environment variables for any process of the benchmarks that imports Airflow."""
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(AIRFLOW_HOME),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    }


def setup_process() -> None:
    """Apply :func:`airflow_environment` to this process (before Airflow is imported) and quiet the logs."""
    os.environ.update(airflow_environment())
    import logging

    logging.getLogger("airflow_provider_asana").setLevel(logging.WARNING)


def ensure_export(size: int, log: Any = print) -> Path:
    """Return the cached export file of ``size`` bytes, generated on first use."""
    from airflow_provider_asana.emulator.cache import ExportCache

    cache = ExportCache(CACHE)
    path = CACHE / f"export-{size}-0.json.gz"
    if not (path.exists() and path.with_name(path.name + ".meta.json").exists()):
        log(f"generating a {_size(size)} export into {CACHE.relative_to(ROOT)} (once; reused by later runs)")
        started = time.monotonic()
        artifact = cache.export(size)
        log(f"  generated in {time.monotonic() - started:.1f} s")
        return artifact.path
    return cache.export(size).path


def export_sha256(size: int) -> str:
    from airflow_provider_asana.emulator.cache import ExportCache

    return ExportCache(CACHE).export(size).sha256


def _size(size: int) -> str:
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if size >= 1 << shift:
            return f"{size / (1 << shift):g} {unit}"
    return f"{size} B"


class EmulatorProcess:
    """
    The Asana emulator in a process of its own (``asana-emulator``), as Asana and S3 are to a worker.

    Keeping it out of the measured process matters: its server threads would otherwise share the GIL,
    the memory and the event loop's core with what is measured.
    """

    def __init__(
        self,
        export_size: int,
        *,
        polls_to_finish: int = 1,
        latency: float = 0.0,
        background_generation: bool = True,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.export_size = export_size
        self.extra_args = extra_args
        self.polls_to_finish = polls_to_finish
        self.latency = latency
        self.background_generation = background_generation
        self.process: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {}
        self.session = requests.Session()

    def __enter__(self) -> EmulatorProcess:
        ensure_export(self.export_size)
        WORK.mkdir(parents=True, exist_ok=True)
        ready = WORK / f"emulator-ready-{os.getpid()}.json"
        ready.unlink(missing_ok=True)
        command = [
            sys.executable, "-m", "airflow_provider_asana.emulator.cli",
            "--port", "0", "--download-port", "0", "--token", TOKEN,
            "--export-size", str(self.export_size), "--polls-to-finish", str(self.polls_to_finish),
            "--url-ttl", "86400", "--cache-dir", str(CACHE), "--ready-file", str(ready),
            "--latency", str(self.latency),
            *([] if self.background_generation else ["--no-background-generation"]),
            *self.extra_args,
        ]  # fmt: skip
        self._log = open(WORK / "emulator.log", "ab")
        self.process = subprocess.Popen(
            command, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 600
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the emulator exited with {self.process.returncode}; see {WORK / 'emulator.log'}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator did not start within 10 minutes")
            time.sleep(0.05)
        self.info = json.loads(ready.read_text())
        ready.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()

    # -- the API, as a client ----------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return self.info["api_url"]

    @property
    def control_url(self) -> str:
        return self.api_url.removesuffix("/api/1.0") + "/_emulator"

    def environment(self, **extra: Any) -> dict[str, str]:
        """Airflow environment with an ``asana_default`` connection to this emulator (extras added)."""
        connection = dict(self.info["connection"])
        connection["extra"] = {**connection.get("extra", {}), **extra}
        return {**airflow_environment(), f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(connection)}

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {TOKEN}"}

    def create_export(self) -> str:
        response = self.session.post(
            f"{self.api_url}/organization_exports",
            json={"data": {"organization": self.info["organization_gid"]}},
            headers=self._headers(),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["data"]["gid"]

    def get_export(self, gid: str) -> dict[str, Any]:
        response = self.session.get(
            f"{self.api_url}/organization_exports/{gid}",
            params={"opt_fields": "state,download_url"},
            headers=self._headers(),
            timeout=30,
        )
        response.raise_for_status()
        return response.json()["data"]

    def finished_export(self, size: int | None = None) -> str:
        """Start an export (of ``size`` bytes if given) and poll it until finished."""
        if size is not None:
            ensure_export(size)
            self.control("PUT", "export_size", {"export_size": size})
        gid = self.create_export()
        for _ in range(self.polls_to_finish + 5):
            if self.get_export(gid)["state"] == "finished":
                return gid
        raise RuntimeError(f"export {gid} did not finish")

    def fresh_url(self, gid: str) -> str:
        """Mint a fresh download URL of a finished export."""
        return self.get_export(gid)["download_url"]

    def control(self, method: str, name: str, body: Any = None) -> Any:
        response = self.session.request(method, f"{self.control_url}/{name}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()
