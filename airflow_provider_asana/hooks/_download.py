"""
Download a finished organization export into object storage: streamed, resumable, verified, atomic.

Thread layout: the calling thread reads the HTTP body in :data:`CHUNK_SIZE` pieces and hands each piece
to worker threads through bounded queues: the *writer* (the destination, see ``_atomic_write``), the
*hasher* (SHA-256) and, with ``verify_gzip``, the *checker* (a full gzip decode, see ``_gzip_verify``).
Socket reads, file writes, hashlib and zlib all release the GIL, so they overlap. The workers share
the chunks (no copies) and each queue holds at most :data:`QUEUE_DEPTH` chunks, so the reader is never
more than ``QUEUE_DEPTH + 1`` chunks ahead of the slowest worker: at most about ``QUEUE_DEPTH + 3``
chunks are alive, whatever the file's size.

The download URL is a presigned S3 URL, a bearer credential for the whole organization's data: it is
fetched right before use (and again whenever S3 says it expired), sent with a bare session (no Asana
token, no API headers), never logged, never put in an exception or the return value.
"""

from __future__ import annotations

import http.client
import logging
import os
import queue
import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3.exceptions

from airflow_provider_asana.exceptions import AsanaDownloadError, AsanaExportFailedError
from airflow_provider_asana.hooks._api import (
    RETRYABLE_STATUSES,
    parse_retry_after,
    retry_after_over_budget,
    user_agent,
)
from airflow_provider_asana.hooks._atomic_write import AtomicWriter, exists_error, is_local, make_writer
from airflow_provider_asana.hooks._gzip_verify import GzipError, StreamChecker
from airflow_provider_asana.states import OrganizationExportState, describe_failed_export

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath
    from airflow_provider_asana.hooks.asana import AsanaHook

log = logging.getLogger(__name__)

#: The file name suggested when a destination names a folder.
EXAMPLE_FILE_NAME = "organization_export.json.gz"
#: Bytes asked of the socket per read, and the unit handed to the writer and checker threads.
CHUNK_SIZE = 1 << 20
#: Chunks each worker thread may have waiting: memory stays under about (QUEUE_DEPTH + 3) * CHUNK_SIZE.
QUEUE_DEPTH = 8
#: Absolute cap on download requests, on top of ``max_attempts`` consecutive requests without progress.
MAX_REQUESTS = 200
#: Longest backoff between attempts that made no progress.
MAX_BACKOFF = 60.0
#: Progress is logged when both this many seconds and PROGRESS_FRACTION of the file have passed since
#: the last line, or after PROGRESS_MAX_INTERVAL seconds whatever the progress.
PROGRESS_INTERVAL = 10.0
PROGRESS_FRACTION = 0.10
PROGRESS_MAX_INTERVAL = 60.0
#: How long to wait for a worker thread to stop after a failure before cleaning up anyway.
WORKER_STOP_TIMEOUT = 30.0

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_QUERY = re.compile(r"\?[^\s'\"<>)\]]+")
_S3_ERROR_FIELD = re.compile(r"<(Code|Message)>([^<]{0,300})</\1>")

#: Exceptions that mean the response body stopped arriving: resume from the byte where it stopped.
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,  # ProtocolError, IncompleteRead, ReadTimeoutError, SSLError...
    requests.RequestException,
    http.client.HTTPException,
    OSError,  # ConnectionResetError, TimeoutError
)


def download_export(
    hook: AsanaHook,
    export_gid: str,
    destination: str | ObjectStoragePath,
    *,
    overwrite: bool = False,
    verify_gzip: bool = True,
) -> dict[str, Any]:
    """
    Stream a finished export's gzip file to ``destination``; see :meth:`AsanaHook.download_organization_export`.

    :return: ``{"uri", "bytes", "sha256", "export_gid"}``.
    """
    path = _destination_path(destination)
    uri = str(path)
    fs = path.fs
    key = path.path
    _check_destination(fs, key, uri, overwrite=overwrite)
    writer = make_writer(fs, key, uri, overwrite=overwrite)
    writer.open()  # fails now, before any download, if the destination cannot be written
    try:
        result = _Download(hook, export_gid, uri, writer, verify_gzip=verify_gzip).run()
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    _report_lineage(hook, uri)
    log.info(
        "Asana organization export %s is at %s: %d bytes, sha256 %s.",
        export_gid,
        uri,
        result["bytes"],
        result["sha256"],
    )
    return {"uri": uri, "bytes": result["bytes"], "sha256": result["sha256"], "export_gid": export_gid}


# -- destination -------------------------------------------------------------------------------------


def _destination_path(destination: str | ObjectStoragePath) -> ObjectStoragePath:
    from airflow.sdk import ObjectStoragePath

    fix = (
        "Pass an absolute path or a URI, such as /data/asana/export.json.gz, file:///data/asana/export.json.gz "
        "or s3://aws_conn_id@bucket/asana/export.json.gz."
    )
    if isinstance(destination, os.PathLike) and not isinstance(destination, ObjectStoragePath):
        destination = os.fspath(destination)
    if isinstance(destination, str):
        text = destination.strip()
        parts = urlsplit(text)
        if not text:
            raise ValueError(f"destination is empty. {fix}")
        _refuse_folder(text)
        if parts.scheme in ("", "file", "local") and len(parts.scheme) != 1:
            local = parts.path if parts.scheme else text
            if parts.netloc or not local.startswith("/"):
                raise ValueError(f"destination {destination!r} is a relative local path. {fix}")
        path = ObjectStoragePath(text)
    elif isinstance(destination, ObjectStoragePath):
        path = destination
        _refuse_folder(str(path))
    else:
        raise TypeError(
            f"destination must be a str or an airflow.sdk.ObjectStoragePath; got {type(destination).__name__}. {fix}"
        )
    if is_local(path.fs) and not str(path.path).startswith("/"):
        raise ValueError(f"destination {str(path)!r} is a relative local path. {fix}")
    if not path.name:
        raise ValueError(f"destination {str(path)!r} names no file. {fix}")
    return path


def _refuse_folder(text: str) -> None:
    """
    Refuse a destination that ends in ``/``: it names a folder, and would land as a file named after it.

    ``ObjectStoragePath`` drops a trailing slash when it is built (``s3://c@b/prefix/`` becomes
    ``s3://c@b/prefix``), so a string is checked before it becomes a path; a path built by the caller is
    checked on its string form (a bucket's root keeps its slash).
    """
    if text.endswith("/"):
        raise ValueError(
            f"destination {text!r} ends in '/': it names a folder, not the file to write. Name the file, "
            f"e.g. {text}{EXAMPLE_FILE_NAME}."
        )


def _check_destination(fs: Any, key: str, uri: str, *, overwrite: bool) -> None:
    """Refuse, before any request to Asana, a destination that is a directory or (without overwrite) exists."""
    try:
        fs.invalidate_cache(key)
        exists = fs.exists(key)
        is_dir = exists and fs.isdir(key)
    except Exception as e:
        raise AsanaDownloadError(
            f"destination {uri} could not be checked: {type(e).__name__}: {e}. Check the path and its connection."
        ) from None
    if is_dir:
        raise AsanaDownloadError(
            f"destination {uri} is a directory: name the file to write, e.g. "
            f"{uri.rstrip('/')}/{EXAMPLE_FILE_NAME}."
        )
    if exists and not overwrite:
        raise exists_error(uri)


def _report_lineage(hook: AsanaHook, uri: str) -> None:
    try:
        from airflow.sdk.lineage import get_hook_lineage_collector

        get_hook_lineage_collector().add_output_asset(context=hook, uri=uri)
    except Exception:
        log.debug("Could not report lineage for %s.", uri, exc_info=True)


# -- secrets -----------------------------------------------------------------------------------------


def _without_query(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else parts.path


class _Secrets:
    """The download URLs seen so far: mask them in Airflow's task logs and scrub them from any text."""

    def __init__(self) -> None:
        self._values: list[str] = []
        self._filter = _RedactingFilter(self)

    def add(self, url: str) -> None:
        query = urlsplit(url).query
        values = [url]
        if query:
            values.append(query)
            values.extend(v for k, v in parse_qsl(query) if k.lower() in ("x-amz-signature", "signature") and v)
        self._values.extend(v for v in values if v not in self._values)
        try:
            from airflow.sdk.log import mask_secret

            for value in values:
                mask_secret(value)
        except Exception:
            log.debug("Could not register the download URL with the secrets masker.", exc_info=True)

    def scrub(self, text: str) -> str:
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, "<redacted>")
        return _QUERY.sub("?<redacted>", text)

    def __enter__(self) -> _Secrets:
        # urllib3 logs each request line, query string included, at DEBUG.
        for name in _REDACTED_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in _REDACTED_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)


_REDACTED_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.response", "requests")


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: _Secrets) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        scrubbed = self._secrets.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


# -- worker threads ----------------------------------------------------------------------------------

_RESET = object()
_STOP = object()


class _Worker:
    """A thread applying ``handle`` to each chunk queued, ``reset`` on a restart marker; keeps the first error."""

    def __init__(self, name: str, handle: Any, reset: Any) -> None:
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
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass
        self._thread.join(WORKER_STOP_TIMEOUT)
        if self._thread.is_alive():
            log.warning(
                "Thread %s did not stop within %.0f s; cleaning up anyway.", self._thread.name, WORKER_STOP_TIMEOUT
            )


class _Pipeline:
    """Fan each chunk out to the worker threads: the writer, the hasher and, when verifying, the inflater."""

    def __init__(self, writer: AtomicWriter, checker: StreamChecker, uri: str) -> None:
        self.uri = uri
        self.checker = checker
        #: Set when the host announced no size: a truncated gzip may then be a connection closed early.
        self.size_unknown = False
        self.writer = _Worker("asana-export-writer", writer.write, writer.restart)
        # SHA-256 and inflate on threads of their own: each releases the GIL, so on two cores they overlap
        # instead of queueing behind each other (the inflate alone is the slowest stage).
        self.hasher = _Worker("asana-export-hasher", checker.update_hash, checker.reset_hash)
        self.verifier = (
            _Worker("asana-export-checker", checker.update_gzip, checker.reset_gzip) if checker.verify_gzip else None
        )
        self._workers = tuple(w for w in (self.writer, self.hasher, self.verifier) if w is not None)

    def feed(self, chunk: bytes) -> None:
        self.raise_if_failed()
        for worker in self._workers:
            worker.put(chunk)

    def restart(self) -> None:
        for worker in self._workers:
            worker.put(_RESET)

    def finish(self) -> str:
        """Wait for every thread, raise what failed, return the SHA-256."""
        for worker in self._workers:
            worker.finish()
        self.raise_if_failed()
        try:
            return self.checker.finish()
        except GzipError as e:
            raise self._gzip_error(e) from None

    def cancel(self) -> None:
        for worker in self._workers:
            worker.cancel()

    def raise_if_failed(self) -> None:
        if self.writer.error is not None:
            e = self.writer.error
            if isinstance(e, AsanaDownloadError):
                raise e
            raise AsanaDownloadError(
                f"writing to destination {self.uri} failed: {type(e).__name__}: {e}. Check that the destination "
                "is writable and the storage has space."
            ) from None
        for worker in self._workers[1:]:
            e = worker.error
            if e is not None:
                if isinstance(e, GzipError):
                    raise self._gzip_error(e) from None
                raise e

    def _gzip_error(self, e: GzipError) -> AsanaDownloadError:
        cause = (
            "The download host sent no Content-Length, so a connection closed early looks the same as a "
            "damaged file: retry the task"
            if self.size_unknown
            else "The file Asana serves is damaged: retry later"
        )
        return AsanaDownloadError(
            f"the export file is not a valid gzip file: {e}. It was not stored at {self.uri}. {cause}; if it "
            "persists, start a new export or contact Asana support. (verify_gzip=False stores it unchecked.)"
        )


# -- the download ------------------------------------------------------------------------------------


class _Retry(Exception):
    """One request failed in a way worth another request. ``refresh``: get a fresh URL first."""

    def __init__(self, reason: str, *, refresh: bool = False, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refresh = refresh
        self.wait = wait


class _AnonymousSession(requests.Session):
    """A session that never sends credentials: no ``Authorization`` from netrc, none kept across redirects."""

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        prepared_request.headers.pop("Authorization", None)


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


class _Download:
    def __init__(self, hook: AsanaHook, export_gid: str, uri: str, writer: AtomicWriter, *, verify_gzip: bool) -> None:
        self.hook = hook
        self.settings = hook.settings
        self.export_gid = export_gid
        self.uri = uri
        self.writer = writer
        self.verify_gzip = verify_gzip
        self.secrets = _Secrets()
        self.url = ""
        self.written = 0  # bytes of the current file handed to the pipeline
        self.total: int | None = None  # the file's size, from Content-Length / Content-Range
        self.etag: str | None = None
        self.best = 0  # the most bytes ever received of one file: progress means going past it
        self.pipeline: _Pipeline | None = None

    # The whole run, attempt by attempt: bounded by MAX_REQUESTS and by max_attempts without progress.
    def run(self) -> dict[str, Any]:
        with self.secrets:
            self._fresh_url()
            self.pipeline = _Pipeline(self.writer, StreamChecker(self.verify_gzip), self.uri)
            try:
                return self._attempts()
            except BaseException:
                self.pipeline.cancel()
                raise

    def _attempts(self) -> dict[str, Any]:
        assert self.pipeline is not None
        session = self._session()
        started = time.monotonic()
        self.progress = _Progress(self.export_gid, self.uri)
        stalled = 0
        last_reason = "no request was made"
        try:
            for request_number in range(1, MAX_REQUESTS + 1):
                best_before = self.best
                try:
                    self._request(session)
                except _Retry as retry:
                    last_reason = retry.reason
                    if self.best > best_before:
                        stalled = 0
                    else:
                        stalled += 1
                    if stalled >= self.settings.max_attempts:
                        raise self._gave_up(f"{stalled} requests in a row made no progress", last_reason) from None
                    if request_number == MAX_REQUESTS:
                        break
                    self._before_next(retry, stalled, request_number)
                    continue
                sha256 = self.pipeline.finish()
                elapsed = max(time.monotonic() - started, 1e-9)
                log.info(
                    "Downloaded Asana organization export %s: %d bytes in %.1f s (%.1f MB/s)%s.",
                    self.export_gid,
                    self.written,
                    elapsed,
                    self.written / elapsed / 1e6,
                    ", gzip verified" if self.verify_gzip else "",
                )
                return {"bytes": self.written, "sha256": sha256}
        finally:
            session.close()
        raise self._gave_up(f"{MAX_REQUESTS} requests were made", last_reason)

    def _before_next(self, retry: _Retry, stalled: int, request_number: int) -> None:
        where = (
            f"at byte {self.written} of {self.total if self.total is not None else 'an unknown size'}"
            if self.written
            else "before any byte arrived"
        )
        if retry.refresh:
            log.warning(
                "Download of Asana organization export %s: %s; getting a fresh download URL from Asana and "
                "resuming %s (request %d).",
                self.export_gid,
                retry.reason,
                where,
                request_number + 1,
            )
            self._fresh_url()
        if stalled and not (retry.refresh and stalled == 1):  # an expired URL needs no backoff
            wait = retry.wait
            if wait is None:
                wait = min(MAX_BACKOFF, self.settings.retry_backoff * 2 ** (stalled - 1)) * random.uniform(0.5, 1.0)
            wait = min(wait, self.settings.max_retry_wait)
        else:
            wait = 0.0
        if not retry.refresh:
            log.warning(
                "Download of Asana organization export %s: %s; resuming %s in %.1f s (request %d, %d of %d "
                "allowed without progress).",
                self.export_gid,
                retry.reason,
                where,
                wait,
                request_number + 1,
                stalled,
                self.settings.max_attempts,
            )
        if wait:
            time.sleep(wait)

    def _gave_up(self, why: str, last_reason: str) -> AsanaDownloadError:
        return AsanaDownloadError(
            f"Download of Asana organization export {self.export_gid} to {self.uri} failed: {why}; the last "
            f"failure: {last_reason}. Got {self.written} of {self.total if self.total is not None else '?'} bytes; "
            "nothing was stored. Retry the task; the connection's max_attempts extra sets how many requests "
            "without progress are allowed."
        )

    # -- Asana ---------------------------------------------------------------------------------------

    def _fresh_url(self) -> None:
        export = self.hook.get_organization_export(self.export_gid)
        state = export.get("state")
        organization = export.get("organization") or {}
        if state == OrganizationExportState.ERROR:
            raise AsanaExportFailedError(describe_failed_export(export))
        if state != OrganizationExportState.FINISHED:
            raise AsanaDownloadError(
                f"Asana organization export {self.export_gid} of organization {organization.get('gid', '?')} is not "
                f"finished yet (state {state!r}): there is nothing to download. Wait for it with "
                "AsanaOrganizationExportSensor (deferrable) before this task."
            )
        url = export.get("download_url")
        if not url or not isinstance(url, str):
            raise AsanaDownloadError(
                f"Asana organization export {self.export_gid} is finished but Asana gave no download_url. "
                "Retry later; if it persists, contact Asana support with the export gid."
            )
        self.secrets.add(url)
        parts = urlsplit(url)
        if parts.scheme != "https" and not (parts.scheme == "http" and self.settings.is_local_plain_http):
            raise AsanaDownloadError(
                f"Asana organization export {self.export_gid}'s download_url is not https (scheme "
                f"{parts.scheme or 'none'!r}, host {parts.hostname or '?'}): a presigned URL must not "
                "travel in clear text, so it was not fetched. Check that the connection's host is Asana's "
                "API (empty, or https://app.asana.com/api/1.0) and not a proxy rewriting URLs; plain http is "
                "accepted only from an API on this machine's loopback address (the emulator)."
            )
        self.url = url

    # -- one request ---------------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = _AnonymousSession()
        session.auth = _no_auth
        session.max_redirects = 5
        # Only these: no Authorization, no API headers, and no transparent gzip decoding of the body.
        session.headers = requests.structures.CaseInsensitiveDict(
            {"User-Agent": user_agent(), "Accept-Encoding": "identity"}
        )
        return session

    def _request(self, session: requests.Session) -> None:
        """Make one GET; stream what it brings. Returns when the file is complete, else raises ``_Retry``."""
        headers = {"Range": f"bytes={self.written}-"} if self.written else {}
        try:
            response = session.get(
                self.url,
                headers=headers,
                stream=True,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
                allow_redirects=True,
            )
        except requests.RequestException as e:
            raise _Retry(f"the request failed ({self._describe(e)})") from None
        with response:
            if self._accept(response):
                self._stream(response)

    def _accept(self, response: requests.Response) -> bool:
        """Check the status and headers; True when the body is to be streamed."""
        status = response.status_code
        host = urlsplit(response.url).hostname or "the download host"
        if status == 200:
            if self.written:
                log.warning(
                    "The download host ignored the Range request (answered 200, the whole file): starting "
                    "again from byte 0."
                )
                self._restart()
            self.total = _int_header(response, "Content-Length")
            if self.total is None:
                self._size_unknown()
            self.etag = response.headers.get("ETag")
            return True
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
            etag = response.headers.get("ETag")
            if not match:
                self._restart()
                raise _Retry("a 206 answer without a valid Content-Range; starting again from byte 0")
            start, total = int(match.group(1)), match.group(3)
            total_size = None if total == "*" else int(total)
            if self.etag and etag and etag != self.etag:
                self._restart()
                raise _Retry("the file changed on the server (its ETag changed); starting again from byte 0")
            if start != self.written or (self.total is not None and total_size != self.total):
                self._restart()
                raise _Retry(
                    f"the download host sent bytes {match.group(1)}-{match.group(2)}/{total} for a request from "
                    f"byte {self.written} of {self.total}; starting again from byte 0"
                )
            self.total = total_size
            if total_size is None:
                self._size_unknown()
            self.etag = self.etag or etag
            return True
        if status == 416:
            if self.total is not None and self.written == self.total:
                return False  # everything had arrived already
            self._restart()
            raise _Retry("the download host answered 416 (range not satisfiable); starting again from byte 0")
        said = self._s3_error(response)
        if status == 403:
            raise _Retry(f"{host} refused the download URL with HTTP 403{said}", refresh=True)
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), response.headers.get("Date"))
            budget = self.settings.max_retry_wait
            if retry_after is not None and retry_after > budget:
                too_long = retry_after_over_budget(host, retry_after, budget, budget)
                raise AsanaDownloadError(
                    f"Download of Asana organization export {self.export_gid} failed: {host} answered HTTP "
                    f"{status}{said}. {too_long} Nothing was stored at {self.uri}."
                )
            raise _Retry(f"{host} answered HTTP {status}{said}", wait=retry_after)
        raise AsanaDownloadError(
            f"Download of Asana organization export {self.export_gid} failed: {host} answered HTTP {status}{said} "
            f"for {self.secrets.scrub(_without_query(response.url))}. Nothing was stored at {self.uri}. Retry the "
            "task; if it persists, contact Asana support with the export gid."
        )

    def _stream(self, response: requests.Response) -> None:
        assert self.pipeline is not None
        raw = response.raw
        start = self.written
        # Bounded by the announced size (or, without one, by the end of the body).
        while self.total is None or self.written < self.total:
            want = CHUNK_SIZE if self.total is None else min(CHUNK_SIZE, self.total - self.written)
            chunk, error = _read_chunk(raw, want)
            if chunk:
                self.pipeline.feed(chunk)
                self.written += len(chunk)
                self.best = max(self.best, self.written)
                self.progress.update(self.written, self.total)
            if error is not None:
                raise _Retry(f"the transfer broke after {self.written - start} bytes ({self._describe(error)})")
            if len(chunk) < want:
                if self.total is None:
                    return
                raise _Retry(f"the body ended early, after {self.written - start} bytes")

    def _size_unknown(self) -> None:
        """
        The host announced no size, so a body cut short by a clean close would look complete.

        With ``verify_gzip`` the full decode proves the file complete (every member ends in its CRC-32
        and length trailer; a file cut short fails). Without it nothing could, so the download is refused
        before any byte is stored. An ``ETag`` is no substitute: it is the MD5 of the bytes only for
        single-part objects without SSE-KMS or SSE-C encryption, and a client cannot tell which it has.
        """
        assert self.pipeline is not None
        if not self.verify_gzip:
            raise AsanaDownloadError(
                f"Download of Asana organization export {self.export_gid} refused: the download host sent no "
                "Content-Length, so a transfer cut short would look complete, and with verify_gzip=False "
                f"nothing else can prove the file whole. Nothing was stored at {self.uri}. Pass "
                "verify_gzip=True (a full gzip decode proves it complete), or find what strips "
                "Content-Length between the worker and the download host (a proxy)."
            )
        if not self.pipeline.size_unknown:
            log.warning(
                "The download host sent no Content-Length: the gzip decode is what proves the file complete."
            )
        self.pipeline.size_unknown = True

    def _restart(self) -> None:
        assert self.pipeline is not None
        self.pipeline.restart()
        self.written = 0
        self.total = None
        self.etag = None

    def _describe(self, error: BaseException) -> str:
        return self.secrets.scrub(f"{type(error).__name__}: {error}")

    def _s3_error(self, response: requests.Response) -> str:
        """`` (Code: Message)`` from an S3 XML error body, scrubbed; empty if none."""
        try:
            body = response.raw.read(16 << 10, decode_content=True) or b""
        except Exception:
            return ""
        fields = dict(_S3_ERROR_FIELD.findall(body.decode("utf-8", "replace")))
        if not fields:
            return ""
        text = ": ".join(v.strip() for v in (fields.get("Code"), fields.get("Message")) if v)
        return f" ({self.secrets.scrub(text)})"


def _read_chunk(raw: Any, want: int) -> tuple[bytes, BaseException | None]:
    """
    Up to ``want`` body bytes exactly as sent (no content decoding), and the error that cut them short.

    ``read1`` returns what one socket read brings, so the bytes that arrived before a dropped connection
    or a read timeout are kept (a plain ``read(want)`` would lose them with the exception); fewer than
    ``want`` bytes without an error means the body ended.
    """
    pieces: list[bytes] = []
    got = 0
    try:
        while got < want:  # every pass takes at least one byte, or stops
            piece = raw.read1(want - got, decode_content=False)
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
    except _STREAM_ERRORS as e:
        return b"".join(pieces), e
    return (pieces[0] if len(pieces) == 1 else b"".join(pieces)), None


def _int_header(response: requests.Response, name: str) -> int | None:
    raw = response.headers.get(name)
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        return None
    return value if value is None or value >= 0 else None


class _Progress:
    """Log bytes, percent and speed now and then: never per chunk."""

    def __init__(self, export_gid: str, uri: str) -> None:
        self.export_gid = export_gid
        self.uri = uri
        self.started = self.last_time = time.monotonic()
        self.last_bytes = 0
        log.info("Downloading Asana organization export %s to %s.", export_gid, uri)

    def update(self, written: int, total: int | None) -> None:
        now = time.monotonic()
        since = now - self.last_time
        if since < PROGRESS_INTERVAL:
            return
        moved = abs(written - self.last_bytes)
        if since < PROGRESS_MAX_INTERVAL and total and moved < total * PROGRESS_FRACTION:
            return
        rate = moved / since / 1e6
        if total:
            log.info(
                "Asana organization export %s: %d of %d bytes (%.0f%%), %.1f MB/s.",
                self.export_gid,
                written,
                total,
                100.0 * written / total,
                rate,
            )
        else:
            log.info("Asana organization export %s: %d bytes, %.1f MB/s.", self.export_gid, written, rate)
        self.last_time, self.last_bytes = now, written
