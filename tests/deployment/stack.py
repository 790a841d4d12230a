"""
The processes of the deployment under test, each started, watched and stopped by pid.

Everything lives in one temporary directory: PostgreSQL's cluster, Redis' working directory, the Airflow
home (config, task logs), the emulator's export cache, one log file per process. The test session makes
itself a *child subreaper* (Linux ``PR_SET_CHILD_SUBREAPER``), so a process orphaned by a kill (a task
runner whose supervisor was SIGKILLed, say) is re-parented to the test session instead of init and is still
found, and killed by its pid, at the end.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import glob
import json
import logging
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
VENV_BIN = Path(sys.executable).parent
T = TypeVar("T")
logger = logging.getLogger(__name__)

#: Seconds between export state checks in the example Dags (read at parse time from the environment).
POKE_INTERVAL = "2"
#: The emulator's download URLs live this long: short, so that a stalled transfer outlives its URL.
URL_TTL = 5
#: The emulator finishes an export on its Nth GET: ``create`` defers right after starting it, and the
#: trigger's polls (every POKE_INTERVAL s) see it pending/started N - 1 times, time to kill the triggerer.
POLLS_TO_FINISH = 6
#: What a cluster policy caps the example Dags' retry_delay to (they say 2 and 5 minutes).
RETRY_DELAY_SECONDS = 10


class StackError(RuntimeError):
    """A component did not start, or a wait ran out; the message names it and quotes its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux), so that they can be found and killed at the end."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


# -- processes -----------------------------------------------------------------------------------------


class Proc:
    """
    One long-running process, its output in ``<logs>/<name>.log``.

    :param user: Run as this user (``Popen(user=...)``), for PostgreSQL, which refuses to run as root.
    """

    registry: list[Proc] = []

    def __init__(
        self,
        name: str,
        argv: Sequence[object],
        *,
        env: dict[str, str] | None = None,
        log_dir: Path,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(a) for a in argv]
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.cwd = cwd
        self.user = user
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            out.write(f"$ {' '.join(self.argv)}\n".encode())
            out.flush()
            kwargs: dict[str, Any] = {}
            if self.user is not None:
                entry = pwd.getpwnam(self.user)
                kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **kwargs,
            )
        Proc.registry.append(self)
        logger.info("started %s (pid %d)", self.name, self.pid)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def restarted(self) -> Proc:
        """Start the same command again, as a new process logging to ``<name>-restarted.log``."""
        return Proc(f"{self.name}-restarted", self.argv, env=self.env, log_dir=self.log_path.parent, cwd=self.cwd,
                    user=self.user).start()  # fmt: skip

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"(no log at {self.log_path})"
        return "\n".join(f"    | {line}" for line in text)

    def tree(self) -> list[psutil.Process]:
        """The process and its live descendants."""
        if not self.running:
            return []
        try:
            root = psutil.Process(self.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss_mib(self) -> float:
        """Resident memory of the process and its descendants, MiB."""
        total = 0
        for process in self.tree():
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        return total / (1 << 20)

    def kill_tree(self) -> list[int]:
        """SIGKILL the process and every descendant, by pid, at once (a machine dying); return the pids."""
        return kill_processes(self.tree())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        """Signal the process, wait; then SIGKILL it and whatever of its descendants remain."""
        if self.popen is None:
            return
        family = self.tree()
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s (pid %d) ignored signal %d for %.0f s: SIGKILL", self.name, self.pid, sig, timeout
                )
        kill_processes(family)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)


def kill_processes(processes: Iterable[psutil.Process]) -> list[int]:
    """SIGKILL each process still running (psutil checks the pid was not reused); return their pids."""
    killed = []
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if process.is_running():
                process.send_signal(signal.SIGKILL)
                killed.append(process.pid)
    for process in processes:
        with contextlib.suppress(
            psutil.NoSuchProcess, psutil.TimeoutExpired, psutil.AccessDenied, ChildProcessError
        ):
            process.wait(5)
    reap_orphans()
    return killed


def reap_orphans() -> None:
    """Collect zombies re-parented to the test session (never the children a ``Popen`` waits for)."""
    managed = {p.pid for p in Proc.registry if p.popen is not None}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process().children():
            if child.pid not in managed:
                with contextlib.suppress(ChildProcessError, OSError, psutil.Error):
                    if child.status() == psutil.STATUS_ZOMBIE:
                        os.waitpid(child.pid, os.WNOHANG)


def run(argv: Sequence[object], *, log: Path, env: dict[str, str] | None = None, timeout: float = 300,
        user: str | None = None, cwd: Path | None = None) -> str:  # fmt: skip
    """Run a command to completion, output appended to ``log``; return the output; raise on failure."""
    kwargs: dict[str, Any] = {}
    if user is not None:
        entry = pwd.getpwnam(user)
        kwargs.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(a) for a in argv], env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
            timeout=timeout, check=False, **kwargs,
        )  # fmt: skip
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode(errors="replace") + (e.stderr or b"").decode(errors="replace")
        _append(log, argv, output)
        raise StackError(f"`{' '.join(map(str, argv))}` took over {timeout:.0f} s; see {log}") from None
    output = result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")
    _append(log, argv, output)
    if result.returncode != 0:
        tail = "\n".join(f"    | {line}" for line in output.splitlines()[-30:])
        raise StackError(f"`{' '.join(map(str, argv))}` failed (exit {result.returncode}):\n{tail}")
    elapsed = time.monotonic() - started
    logger.info("ran %s %s ... (%.1f s)", Path(str(argv[0])).name, " ".join(map(str, argv[1:3])), elapsed)
    return output


def _append(log: Path, argv: Sequence[Any], output: str) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"$ {' '.join(map(str, argv))}\n{output}\n")


def wait_for(
    what: str,
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.5,
    procs: Sequence[Proc] = (),
) -> T:
    """
    Call ``check`` until it returns something truthy; return that.

    Progress goes to this module's logger (``pytest -o log_cli=true`` shows it live).

    :raises StackError: after ``timeout`` seconds, or as soon as one of ``procs`` exits, naming what was
        awaited and quoting the tail of each of ``procs``' logs. Exceptions of ``check`` count as "not yet"
        (the last one is quoted); an ``AssertionError`` (a check that failed) is raised at once.
    """
    started = time.monotonic()
    deadline = started + timeout
    last_error: BaseException | None = None
    logger.info("waiting for %s (at most %.0f s)", what, timeout)
    while True:
        try:
            value = check()
            if value:
                logger.info("... %s: done in %.1f s", what, time.monotonic() - started)
                return value
        except (AssertionError, StackError):
            raise
        except Exception as e:  # not ready yet
            last_error = e
        for proc in procs:
            if proc.popen is not None and not proc.running:
                raise StackError(
                    f"{proc.name} (pid {proc.pid}) exited with {proc.popen.returncode} while waiting for {what}; "
                    f"its log {proc.log_path}:\n{proc.tail()}"
                )
        if time.monotonic() >= deadline:
            details = f" (last error: {type(last_error).__name__}: {last_error})" if last_error else ""
            tails = "".join(f"\n  {p.name} log {p.log_path}:\n{p.tail()}" for p in procs)
            raise StackError(f"timed out after {timeout:.0f} s waiting for {what}{details}{tails}")
        reap_orphans()
        time.sleep(interval)


# -- the services ----------------------------------------------------------------------------------------


class Postgres:
    """A private PostgreSQL cluster (Debian's package) on 127.0.0.1, run as an unprivileged user."""

    def __init__(self, root: Path, logs: Path) -> None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
        if not candidates:
            raise StackError(
                "PostgreSQL is not installed: apt-get install -y postgresql (make system-test does)"
            )
        self.bin = Path(candidates[-1]).parent
        self.version = self.bin.parent.name
        self.root = root
        self.data = root / "pgdata"
        self.sockets = root / "pgsock"
        self.logs = logs
        self.port = free_port()
        self.user = _unprivileged_user() if os.geteuid() == 0 else None
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://airflow@127.0.0.1:{self.port}/airflow"

    @property
    def dsn(self) -> str:
        return f"host=127.0.0.1 port={self.port} user=airflow dbname=airflow"

    def start(self) -> None:
        for folder in (self.data, self.sockets):
            folder.mkdir(mode=0o700)
            if self.user is not None:
                entry = pwd.getpwnam(self.user)
                os.chown(folder, entry.pw_uid, entry.pw_gid)
        log = self.logs / "postgres-setup.log"
        run([self.bin / "initdb", "-D", self.data, "-U", "airflow", "--auth=trust", "--encoding=UTF8", "--no-locale"],
            log=log, user=self.user, timeout=120)  # fmt: skip
        self.proc = Proc(
            "postgres",
            [
                self.bin / "postgres", "-D", self.data, "-p", str(self.port), "-k", self.sockets,
                "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=400", "-c", "fsync=off",
                "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "shared_buffers=256MB",
                "-c", "log_min_messages=warning",
            ],
            log_dir=self.logs,
            user=self.user,
            cwd=self.root,
        ).start()  # fmt: skip
        wait_for(
            f"PostgreSQL {self.version} to accept connections on port {self.port}",
            lambda: (
                subprocess.run(
                    [self.bin / "pg_isready", "-h", "127.0.0.1", "-p", str(self.port)],
                    capture_output=True,
                    check=False,
                ).returncode
                == 0
            ),
            timeout=60,
            procs=[self.proc],
        )
        run([self.bin / "createdb", "-h", "127.0.0.1", "-p", self.port, "-U", "airflow", "airflow"], log=log)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop(signal.SIGINT, timeout=30)  # SIGINT: PostgreSQL's "fast" shutdown

    def dump(self, path: Path) -> str:
        """The whole ``airflow`` database, data only, as SQL text (also written to ``path``)."""
        argv = [self.bin / "pg_dump", "-h", "127.0.0.1", "-p", self.port, "-U", "airflow", "--data-only",
                "--no-owner", "--file", path, "airflow"]  # fmt: skip
        run(argv, log=self.logs / "pg_dump.log", timeout=300)
        return path.read_text(errors="replace")

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg2

        with contextlib.closing(psycopg2.connect(self.dsn)) as conn, conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall() if cur.description else []


def _unprivileged_user() -> str:
    """``postgres`` (Debian's package makes it), else a system user made for the purpose."""
    for name in ("postgres", "asana-systest"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin",
                    "asana-systest"], check=True)  # fmt: skip
    return "asana-systest"


class Redis:
    """Debian's ``redis-server`` on 127.0.0.1, no persistence: the Celery broker."""

    def __init__(self, root: Path, logs: Path) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise StackError(
                "redis-server is not installed: apt-get install -y redis-server (make system-test does)"
            )
        self.port = free_port()
        self.dir = root / "redis"
        self.logs = logs
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir()
        self.proc = Proc(
            "redis",
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--daemonize", "no", "--protected-mode", "yes"],
            log_dir=self.logs,
        ).start()  # fmt: skip
        wait_for(f"Redis to answer PING on port {self.port}", self._ping, timeout=30, procs=[self.proc])

    def _ping(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class Moto:
    """moto's S3 server (``moto_server``): the lake, reached through an ``aws`` connection's endpoint_url."""

    def __init__(self, logs: Path) -> None:
        self.port = free_port()
        self.logs = logs
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = Proc(
            "moto-s3", [VENV_BIN / "moto_server", "-H", "127.0.0.1", "-p", str(self.port)], log_dir=self.logs
        ).start()
        wait_for(
            f"moto_server on port {self.port}",
            lambda: requests.get(self.url, timeout=2).status_code == 200,
            timeout=60,
            procs=[self.proc],
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


class Emulator:
    """The project's Asana emulator (``asana-emulator``), its API and its S3 stand-in download host."""

    def __init__(self, root: Path, logs: Path, token: str) -> None:
        self.root = root
        self.logs = logs
        self.token = token
        self.ready_file = root / "emulator-ready.json"
        self.info: dict[str, Any] = {}
        self.proc: Proc | None = None

    def start(self, export_size: str) -> None:
        self.proc = Proc(
            "asana-emulator",
            [
                VENV_BIN / "asana-emulator", "--port", "0", "--download-port", "0", "--token", self.token,
                "--export-size", export_size, "--polls-to-finish", str(POLLS_TO_FINISH),
                "--url-ttl", str(URL_TTL), "--cache-dir", self.root / "emulator-cache",
                "--ready-file", self.ready_file,
            ],
            log_dir=self.logs,
        ).start()  # fmt: skip
        self.info = wait_for("the Asana emulator's ready file", self._ready, timeout=120, procs=[self.proc])

    def _ready(self) -> dict[str, Any] | None:
        return json.loads(self.ready_file.read_text()) if self.ready_file.exists() else None

    @property
    def control(self) -> str:
        return self.info["api_url"].removesuffix("/api/1.0") + "/_emulator"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()


# -- Airflow ------------------------------------------------------------------------------------------


CLUSTER_POLICY = f'''\
"""Cluster policy of the system test: the example Dags' retry_delay (2 and 5 min) capped to {RETRY_DELAY_SECONDS} s."""
from datetime import timedelta

_CAP = timedelta(seconds={RETRY_DELAY_SECONDS})


def task_policy(task):
    if task.dag_id.startswith("asana_organization_export") and task.retry_delay > _CAP:
        task.retry_delay = _CAP
'''


class Airflow:
    """Airflow 3's components as separate processes sharing one environment (one config, many processes)."""

    def __init__(self, root: Path, logs: Path, database_url: str) -> None:
        from cryptography.fernet import Fernet

        self.home = root / "airflow"
        self.logs = logs
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fernet_key = Fernet.generate_key().decode()
        self.admin_password = secrets.token_urlsafe(18)
        (self.home / "config").mkdir(parents=True)
        (self.home / "config" / "airflow_local_settings.py").write_text(CLUSTER_POLICY)
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({"admin": self.admin_password}))
        clean = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
            and k not in ("AIRFLOW_HOME", "AIRFLOW_CONFIG", "ASANA_EXAMPLE_POKE_INTERVAL", "PYTHONPATH")
        }
        self.env: dict[str, str] = {
            **clean,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW_CONFIG": str(self.home / "airflow.cfg"),
            "PYTHONUNBUFFERED": "1",
            "ASANA_EXAMPLE_POKE_INTERVAL": POKE_INTERVAL,
            "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__FERNET_KEY": self.fernet_key,
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.base_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.base_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API_AUTH__JWT_SECRET": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            # A dead worker's task is noticed in about 30 s instead of 5 min; a dead triggerer's triggers
            # are taken over after 10 s instead of 30.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "60",
        }

    def command(self, *args: str) -> list[str]:
        return [str(VENV_BIN / "airflow"), *args]

    def migrate(self) -> None:
        run(
            self.command("db", "migrate"), env=self.env, log=self.logs / "airflow-db-migrate.log", timeout=600
        )

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Proc:
        return Proc(name, self.command(*args), env={**self.env, **(env or {})}, log_dir=self.logs,
                    cwd=self.home).start()  # fmt: skip


class Stack:
    """The temporary directory and every service in it; ``close()`` stops them all, by pid."""

    def __init__(self, keep: bool = False) -> None:
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="asana-system-test-"))
        self.root.chmod(0o755)  # PostgreSQL's user must reach its data directory below
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.token = f"0/{secrets.randbelow(10**15):015d}/{secrets.token_hex(16)}"
        self.postgres = Postgres(self.root, self.logs)
        self.redis = Redis(self.root, self.logs)
        self.moto = Moto(self.logs)
        self.emulator = Emulator(self.root, self.logs, self.token)
        self.airflow: Airflow | None = None
        self.components: dict[str, Proc] = {}

    def proc(self, name: str) -> Proc:
        return self.components[name]

    def procs(self) -> list[Proc]:
        """The Airflow components in service, then the services (PostgreSQL, Redis, moto, the emulator)."""
        services = (self.postgres, self.redis, self.moto, self.emulator)
        return [*self.components.values(), *(s.proc for s in services if s.proc is not None)]

    def memory_report(self) -> str:
        """Resident memory per running process tree (for sizing)."""
        parts = [f"{p.name} {p.rss_mib():.0f}" for p in self.procs() if p.running]
        return "resident memory, MiB (process + children): " + ", ".join(parts)

    def log_tails(self, lines: int = 25) -> str:
        """The last lines of each process' log, for a failure report."""
        return "\n".join(f"{p.name} ({'running' if p.running else 'exited'}, pid {p.pid}), {p.log_path}:\n"
                         f"{p.tail(lines)}" for p in self.procs())  # fmt: skip

    def close(self) -> None:
        logger.info("stopping every process started (by pid)")
        for proc in reversed(list(self.components.values())):
            with contextlib.suppress(Exception):
                proc.stop(timeout=20)
        for service in (self.emulator, self.moto, self.redis):
            with contextlib.suppress(Exception):
                service.stop()
        with contextlib.suppress(Exception):
            self.postgres.stop()
        for proc in Proc.registry:  # anything restarted or left over
            with contextlib.suppress(Exception):
                proc.stop(signal.SIGKILL, timeout=5)
        leftovers = psutil.Process().children(recursive=True)
        if leftovers:
            names = ", ".join(f"{p.pid} {p.name()}" for p in leftovers if p.is_running())
            logger.warning("killing leftover descendants by pid: %s", names)
            kill_processes(leftovers)
        if self.keep:
            logger.warning("KEEP=1: kept %s", self.root)
        else:
            shutil.rmtree(self.root, ignore_errors=True)
