"""The emulator: an :class:`.app.EmulatorApp` served on an API host and an S3-like download host."""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from airflow_provider_asana.emulator.api import ApiHandler
from airflow_provider_asana.emulator.app import DEFAULT_TOKEN, NOT_RUNNING, EmulatorApp
from airflow_provider_asana.emulator.download import DownloadHandler
from airflow_provider_asana.emulator.server import EmulatorHTTPServer

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.faults import Faults
    from airflow_provider_asana.emulator.lifecycle import ChangeRates


class AsanaEmulator(EmulatorApp):
    """
    A local Asana for organization, resource and graph exports: create, poll, download, with injectable faults.

    Two servers run on loopback: the API host (``/api/1.0``) and a download host standing in for S3,
    which serves the generated export file to the presigned URLs the API hands out. Use it as a context
    manager, or call :meth:`start` and :meth:`stop`. Everything else (exports, faults, the request log,
    the connection) is :class:`.app.EmulatorApp`'s.

    :param host: Interface both servers bind.
    :param port: API port (0: any free port).
    :param download_port: Download host port (0: any free port).
    :param verbose: Print an access log to stderr.

    The other parameters (token, export size, how exports finish, URL lifetime, cache, faults, seed, change
    rates, background generation) are :class:`.app.EmulatorApp`'s.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        export_size: int = 1 << 20,
        polls_to_finish: int | None = 2,
        seconds_to_finish: float | None = None,
        url_ttl: float = 300,
        cache_dir: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        download_port: int = 0,
        faults: Faults | None = None,
        *,
        seed: int = 0,
        change_rates: ChangeRates | None = None,
        prepare_in_background: bool = True,
        verbose: bool = False,
    ) -> None:
        super().__init__(
            token, export_size, polls_to_finish, seconds_to_finish, url_ttl, cache_dir, faults, seed=seed,
            change_rates=change_rates, prepare_in_background=prepare_in_background,
        )  # fmt: skip
        self.host = host
        self.verbose = verbose
        self._ports = (port, download_port)
        self._servers: list[EmulatorHTTPServer] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> AsanaEmulator:
        """Generate (or reuse) the export file, then start both servers. Returns ``self``."""
        if self._servers:
            raise RuntimeError("the emulator is already running")
        self.cache.export(self.export_size, self.seed)
        try:
            for handler, port in zip((ApiHandler, DownloadHandler), self._ports):
                server = EmulatorHTTPServer((self.host, port), handler, self, verbose=self.verbose)
                self._servers.append(server)
        except BaseException:
            self._close_servers()
            raise
        self.serve_at(self._base(0), self._base(1))
        for server in self._servers:
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02},
                name=f"asana-emulator-{server.RequestHandlerClass.host_kind}", daemon=True,
            )  # fmt: skip
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop both servers and drop open connections. Safe to call twice."""
        serving = self._servers[: len(self._threads)]
        stoppers = [threading.Thread(target=server.shutdown) for server in serving]
        for stopper in stoppers:
            stopper.start()
        for stopper in stoppers:
            stopper.join()
        self._close_servers()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads.clear()

    def _close_servers(self) -> None:
        for server in self._servers:
            server.close_connections()
            server.server_close()
        self._servers.clear()
        self.stop_serving()

    def __enter__(self) -> AsanaEmulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the servers are up."""
        return bool(self._servers)

    @property
    def port(self) -> int:
        """The API host's port."""
        return self._server(0).port

    @property
    def download_port(self) -> int:
        """The download host's port."""
        return self._server(1).port

    def _server(self, index: int) -> EmulatorHTTPServer:
        if not self._servers:
            raise RuntimeError(NOT_RUNNING)
        return self._servers[index]

    def _base(self, index: int) -> str:
        port = self._server(index).port
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else "::1" if self.host == "::" else self.host
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
