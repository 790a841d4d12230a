"""The HTTP/1.1 plumbing both hosts share: keep-alive, request bodies, quiet logging, the request log."""

from __future__ import annotations

import contextlib
import socket
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_asana.emulator.records import RequestRecord

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.app import EmulatorApp

MAX_BODY = 16 << 20
IDLE_TIMEOUT = 120.0


class EmulatorHTTPServer(ThreadingHTTPServer):
    """
    A threaded HTTP server that knows its emulator and can drop every open connection on shutdown.

    :param address: ``(host, port)``; port 0 picks a free port.
    :param handler: The request handler class.
    :param app: The state the handlers serve.
    :param verbose: Print an access log and handler tracebacks to stderr.
    """

    daemon_threads = True
    request_queue_size = 128
    RequestHandlerClass: type[BaseHandler]

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHandler], app: EmulatorApp, *, verbose: bool = False
    ) -> None:
        self.app = app
        self.verbose = verbose
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS; nothing needs it.
        socketserver.TCPServer.server_bind(self)
        host, self.server_port = self.server_address[:2]
        self.server_name = str(host)  # an AF_INET(6) socket's name is text

    @property
    def port(self) -> int:
        """The port actually bound."""
        return self.server_address[1]

    def track(self, connection: socket.socket) -> None:
        """Remember an open client connection."""
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a closed client connection."""
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Shut down every open client connection (idle keep-alive ones would otherwise linger)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if self.verbose:
            super().handle_error(request, client_address)


class BadRequestBody(Exception):
    """The request body could not be read."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class BaseHandler(BaseHTTPRequestHandler):
    """
    A handler that reads the whole request, whatever its method, and hands it to :meth:`dispatch`.

    Every request is logged as a :class:`RequestRecord`.

    Subclasses set :attr:`host_kind` and implement :meth:`dispatch`, answering with :meth:`send_bytes`
    (which always sets ``Content-Length``). Setting :attr:`recorded` False keeps a request out of the log.
    """

    protocol_version = "HTTP/1.1"
    sys_version = ""
    timeout = IDLE_TIMEOUT
    host_kind = "api"
    server: EmulatorHTTPServer

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle plus delayed ACKs add ~40 ms.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.connection_id = self.server.app.next_connection_id()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def version_string(self) -> str:
        return self.server_version

    @property
    def app(self) -> EmulatorApp:
        """The state being served."""
        return self.server.app

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"[asana-emulator {self.host_kind}] {self.address_string()} - {format % args}\n")

    def __getattr__(self, name: str) -> Any:
        # The base class answers a method without a do_<METHOD> with its own HTML 501 page; here every
        # method, however odd, reaches dispatch(), which answers as the emulated host does.
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def dispatch(self) -> None:
        """Answer the request (subclasses)."""
        raise NotImplementedError

    def _handle(self) -> None:
        self.arrived = time.time()
        self.status = 0
        self.recorded = True
        self.in_flight_token: str | None = None
        self._accounted = False
        parts = urlsplit(self.path)
        self.url_path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        try:
            self.body = self._read_body()
        except BadRequestBody as error:
            self.close_connection = True
            self.send_bytes(error.status, str(error).encode(), "text/plain")
            return
        try:
            self.dispatch()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception:
            self.close_connection = True
            if self.server.verbose:
                traceback.print_exc()
            if not self.status:
                with contextlib.suppress(OSError):
                    self.send_bytes(500, b"emulator failure", "text/plain")
        finally:
            self._account()

    def enter_flight(self, token: str) -> None:
        """Count this request as in flight for ``token`` until its answer goes out."""
        self.in_flight_token = token
        self.app.log.enter(token)

    def _account(self) -> None:
        # Runs before the answer is flushed, so a client that has its answer also sees the log entry,
        # and a strictly sequential client never appears to have two requests in flight.
        if self._accounted:
            return
        self._accounted = True
        if self.in_flight_token is not None:
            self.app.log.leave(self.in_flight_token)
        if self.recorded:
            self._record()

    def _record(self) -> None:
        self.app.log.add(
            RequestRecord(
                host=self.host_kind,
                method=self.command,
                path=self.url_path,
                query=self.query,
                authorization="Authorization" in self.headers,
                status=self.status,
                time=self.arrived,
                connection_id=self.connection_id,
                range=self.headers.get("Range"),
                user_agent=self.headers.get("User-Agent"),
            )
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        raw = self.headers.get("Content-Length")
        if raw is None:
            return b""
        try:
            length = int(raw)
        except ValueError:
            raise BadRequestBody(400, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            raise BadRequestBody(413, "request body too large")
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1 << 16)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequestBody(400, "bad chunk size") from None
            if size == 0:
                while self.rfile.readline(1 << 16) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                raise BadRequestBody(413, "request body too large")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1 << 16)

    def send_head(
        self, status: int, content_type: str, length: int | None, headers: dict[str, str] | None = None
    ) -> None:
        """
        Send the status line and headers (``Content-Length`` included) and flush them.

        ``length=None`` sends no ``Content-Length``: the body then ends when the connection closes.
        """
        self.status = status
        if length is None:
            self.close_connection = True
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._account()
        self.end_headers()

    def send_bytes(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        """Send a complete answer (no body for HEAD, but the body's ``Content-Length``)."""
        self.send_head(status, content_type, len(body), headers)
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(body)
