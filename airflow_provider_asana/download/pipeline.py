"""
The download's worker threads: each chunk read goes to the writer, the hasher and the gzip checker at once.

The calling thread reads the HTTP body and hands each chunk to worker threads through bounded queues: the
*writer* (the destination, see ``writers``), the *hasher* (SHA-256) and, with ``verify_gzip``, the *checker*
(a full gzip decode, see ``gzip_check``). Socket reads, file writes, hashlib and zlib all release the GIL,
so they overlap. The workers share the chunks (no copies) and each queue holds at most :data:`QUEUE_DEPTH`
chunks, so the reader is never more than ``QUEUE_DEPTH + 1`` chunks ahead of the slowest worker: at most
about ``QUEUE_DEPTH + 3`` chunks are alive, whatever the file's size.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from airflow_provider_asana.exceptions import AsanaDownloadError

if TYPE_CHECKING:
    from airflow_provider_asana.download.gzip_check import StreamChecker
    from airflow_provider_asana.download.writers import AtomicWriter

log = logging.getLogger(__name__)

#: Chunks each worker thread may have waiting: memory stays under about (QUEUE_DEPTH + 3) chunks.
QUEUE_DEPTH = 8
#: How long to wait for a worker thread to stop after a failure before cleaning up anyway.
WORKER_STOP_TIMEOUT = 30.0

_RESET = object()
_STOP = object()


class _Worker:
    """A thread applying ``handle`` to each chunk queued, ``reset`` on a restart; keeps the first error."""

    def __init__(self, name: str, handle: Callable[[bytes], None], reset: Callable[[], None]) -> None:
        self._handle = handle
        self._reset = reset
        self._queue: queue.Queue[Any] = queue.Queue(QUEUE_DEPTH)
        self._cancelled = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        get = self._queue.get
        for item in iter(get, _STOP):
            # After an error (or a cancel) keep draining, so that the producer never blocks on a full queue.
            if self.error is not None or self._cancelled:
                continue
            try:
                if item is _RESET:
                    self._reset()
                else:
                    self._handle(item)
            except BaseException as e:  # handed to the calling thread
                self.error = e

    def put(self, item: Any) -> None:
        self._queue.put(item)

    def finish(self) -> None:
        """Wait until everything queued is handled."""
        self._queue.put(_STOP)
        self._thread.join()

    def cancel(self) -> None:
        """Stop as soon as possible: drop what is queued, wait a bounded time for the current item."""
        self._cancelled = True
        try:
            for _ in range(QUEUE_DEPTH + 1):
                self._queue.get_nowait()
        except queue.Empty:
            pass
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_STOP)
        self._thread.join(WORKER_STOP_TIMEOUT)
        if self._thread.is_alive():
            log.warning(
                "Thread %s did not stop within %.0f s; cleaning up anyway.",
                self._thread.name,
                WORKER_STOP_TIMEOUT,
            )


class Pipeline:
    """
    Fan each chunk out to the worker threads: the writer, the hasher and, when verifying, the gzip checker.

    :param writer: The destination's writer (opened).
    :param checker: The hash and gzip checks.
    :param uri: The destination, for messages.
    """

    def __init__(self, writer: AtomicWriter, checker: StreamChecker, uri: str) -> None:
        self.uri = uri
        self.checker = checker
        self.writer = _Worker("asana-export-writer", writer.write, writer.restart)
        # SHA-256 and inflate on threads of their own: each releases the GIL, so on two cores they overlap
        # instead of queueing behind each other (the inflate alone is the slowest stage).
        self.hasher = _Worker("asana-export-hasher", checker.update_hash, checker.reset_hash)
        self.verifier = (
            _Worker("asana-export-checker", checker.update_gzip, checker.reset_gzip)
            if checker.verify_gzip
            else None
        )
        self._workers = tuple(w for w in (self.writer, self.hasher, self.verifier) if w is not None)

    def feed(self, chunk: bytes) -> None:
        """Queue the next chunk for every worker; first raise what a worker failed with, if any."""
        self.raise_if_failed()
        for worker in self._workers:
            worker.put(chunk)

    def restart(self) -> None:
        """Start every worker again at byte 0, once the chunks queued before are handled."""
        for worker in self._workers:
            worker.put(_RESET)

    def finish(self) -> str:
        """
        Wait for every thread, raise what failed, return the SHA-256.

        :raises AsanaDownloadError: The destination could not be written.
        :raises GzipError: The file is not a complete gzip file (with ``verify_gzip``).
        """
        for worker in self._workers:
            worker.finish()
        self.raise_if_failed()
        return self.checker.finish()

    def cancel(self) -> None:
        """Stop every worker as soon as possible (after a failure)."""
        for worker in self._workers:
            worker.cancel()

    def raise_if_failed(self) -> None:
        """Raise what a worker failed with: a write error as :class:`AsanaDownloadError`, others as is."""
        if self.writer.error is not None:
            e = self.writer.error
            if isinstance(e, AsanaDownloadError):
                raise e
            raise AsanaDownloadError(
                f"writing to destination {self.uri} failed: {type(e).__name__}: {e}. Check that the "
                "destination is writable and the storage has space."
            ) from None
        for worker in self._workers[1:]:
            if worker.error is not None:
                raise worker.error
