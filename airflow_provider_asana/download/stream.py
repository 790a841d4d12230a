"""
One download's HTTP side: GETs of a short-lived URL, each resumed with ``Range`` where the last one stopped.

:meth:`ResumableStream.fetch` makes one request and streams its body into the pipeline; when another request
is worth making (the connection dropped, the URL expired, the host is busy) it raises :class:`Interrupted`,
and the retry policy, through :class:`StreamRetry`, decides whether and when ``fetch`` runs again.

The URL is fetched right before the first request (and again whenever the host refuses it as expired), sent
with a bare session (no credentials, no API headers), checked to travel encrypted at every redirect hop,
never logged, never put in an exception or a result.
"""

from __future__ import annotations

import http.client
import logging
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from airflow_provider_asana.download.progress import Progress
from airflow_provider_asana.download.secrets import travels_encrypted, without_query
from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.retry import (
    CAP,
    LIMIT,
    RETRYABLE_STATUSES,
    RetryRule,
    RetryStatus,
    parse_retry_after,
)
from airflow_provider_asana.user_agent import user_agent

if TYPE_CHECKING:
    from airflow_provider_asana.download.gzip_check import GzipError
    from airflow_provider_asana.download.pipeline import Pipeline
    from airflow_provider_asana.download.secrets import UrlSecrets
    from airflow_provider_asana.download.source import DownloadSource
    from airflow_provider_asana.retry import RetryPolicy

log = logging.getLogger(__name__)

#: Bytes asked of the socket per read, and the unit handed to the worker threads.
CHUNK_SIZE = 1 << 20
#: Absolute cap on one download's requests, on top of ``max_download_stalls`` in a row without progress.
MAX_REQUESTS = 200
#: Redirects followed per request (each hop checked to travel encrypted).
MAX_REDIRECTS = 5

_CONTENT_RANGE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_S3_ERROR_FIELD = re.compile(r"<(Code|Message)>([^<]{0,300})</\1>")

#: Exceptions that mean the response body stopped arriving: resume from the byte where it stopped.
_STREAM_ERRORS: tuple[type[BaseException], ...] = (
    urllib3.exceptions.HTTPError,  # ProtocolError, IncompleteRead, ReadTimeoutError, SSLError...
    requests.RequestException,
    http.client.HTTPException,
    OSError,  # ConnectionResetError, TimeoutError
)


class Interrupted(Exception):
    """
    One request failed in a way another request may fix.

    :param reason: What happened, scrubbed of the URL.
    :param refresh: The host refused the URL (expired): the next request gets a fresh one first.
    :param retry_after: Seconds the host asked to wait (``Retry-After``), if it did.
    :param host: The host that answered, when it asked to wait.
    """

    def __init__(
        self, reason: str, *, refresh: bool = False, retry_after: float | None = None, host: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.refresh = refresh
        self.retry_after = retry_after
        self.host = host


class _ClearTextRedirect(Exception):
    def __init__(self, scheme: str, host: str) -> None:
        super().__init__(scheme, host)
        self.scheme = scheme
        self.host = host


class _DownloadSession(requests.Session):
    """
    A session that never sends credentials, and follows a redirect only if its target travels encrypted.

    No ``Authorization`` (none from netrc, none kept across redirects), no API headers, and no transparent
    gzip decoding of the body: the bytes stored are the bytes served.
    """

    def __init__(self, *, allow_plain_http: bool) -> None:
        super().__init__()
        self.allow_plain_http = allow_plain_http
        self.auth = _no_auth
        self.max_redirects = MAX_REDIRECTS
        self.headers = requests.structures.CaseInsensitiveDict(
            {"User-Agent": user_agent(), "Accept-Encoding": "identity"}
        )

    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: requests.Response) -> None:
        """Prepare a redirect hop (requests calls this with the hop's absolute URL, before sending it)."""
        prepared_request.headers.pop("Authorization", None)
        target = prepared_request.url or ""
        if not travels_encrypted(target, allow_plain_http=self.allow_plain_http):
            parts = urlsplit(target)
            raise _ClearTextRedirect(parts.scheme or "none", parts.hostname or "?")


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    request.headers.pop("Authorization", None)
    return request


class ResumableStream:
    """
    The requests of one download, and where the file stands between them.

    Use as a context manager (it closes its HTTP session).

    :param source: The file: its fresh URLs, label, timeouts.
    :param uri: The destination, for messages.
    :param secrets: Where the URLs are masked and scrubbed.
    :param pipeline: Where the body's chunks go.
    :param verify_gzip: Whether the gzip check runs (it alone can prove complete a file of unknown size).
    """

    def __init__(
        self, source: DownloadSource, uri: str, secrets: UrlSecrets, pipeline: Pipeline, *, verify_gzip: bool
    ) -> None:
        self.source = source
        self.label = source.label
        self.uri = uri
        self.secrets = secrets
        self.pipeline = pipeline
        self.verify_gzip = verify_gzip
        self.written = 0  # bytes of the current file handed to the pipeline
        self.total: int | None = None  # the file's size, from Content-Length / Content-Range
        self.etag: str | None = None
        self.best = 0  # the most bytes ever received of one file: progress means going past it
        self.size_unknown = False  # the host announced no size: a truncated gzip may be an early close
        self._best_before = 0
        self._url: str | None = None
        self._url_refused = False
        self._session = _DownloadSession(allow_plain_http=source.allow_plain_http)
        self.progress = Progress(source.label, uri)

    def __enter__(self) -> ResumableStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.close()

    @property
    def progressed(self) -> bool:
        """Tell whether the last request got further into the file than any before it."""
        return self.best > self._best_before

    def position(self) -> str:
        """Say where the file stands, for messages: ``at byte N of M`` or ``before any byte arrived``."""
        if not self.written:
            return "before any byte arrived"
        return f"at byte {self.written} of {self.total if self.total is not None else 'an unknown size'}"

    def fetch(self) -> None:
        """
        Make one GET from where the file stands; return once the whole file has arrived.

        :raises Interrupted: Another request may get further.
        :raises AsanaDownloadError: The host's answer will not change (refused, or no way to check the file).
        """
        self._best_before = self.best
        url = self._url
        if url is None or self._url_refused:
            url = self._url = self._fresh_url()
            self._url_refused = False
        headers = {"Range": f"bytes={self.written}-"} if self.written else {}
        try:
            response = self._session.get(
                url,
                headers=headers,
                stream=True,
                timeout=(self.source.connect_timeout, self.source.read_timeout),
                allow_redirects=True,
            )
        except _ClearTextRedirect as e:
            raise AsanaDownloadError(
                f"Download of {self.label} refused: the download host redirected to a URL that is not https "
                f"(scheme {e.scheme!r}, host {e.host}), and a presigned URL must not travel in clear text, "
                f"so the redirect was not followed. Nothing was stored at {self.uri}. {self.source.advice}"
            ) from None
        except requests.RequestException as e:
            raise Interrupted(f"the request failed ({self._describe(e)})") from None
        with response:
            if self._accept(response):
                self._stream(response)

    def invalid_gzip(self, error: GzipError) -> AsanaDownloadError:
        """Return the error for a file that is not a complete gzip file (found by the pipeline's check)."""
        cause = (
            "The download host sent no Content-Length, so a connection closed early looks the same as a "
            "damaged file: retry the task"
            if self.size_unknown
            else "The file served is damaged: retry later"
        )
        return AsanaDownloadError(
            f"{self.label} is not a valid gzip file: {error}. It was not stored at {self.uri}. {cause}. "
            f"{self.source.advice} (verify_gzip=False stores it unchecked.)"
        )

    def _fresh_url(self) -> str:
        url = self.source.fresh_url()
        self.secrets.add(url)
        if not travels_encrypted(url, allow_plain_http=self.source.allow_plain_http):
            parts = urlsplit(url)
            raise AsanaDownloadError(
                f"Download of {self.label} refused: its download URL is not https (scheme "
                f"{parts.scheme or 'none'!r}, host {parts.hostname or '?'}), and a presigned URL must not "
                f"travel in clear text, so it was not fetched. Nothing was stored at {self.uri}."
            )
        return url

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
                raise Interrupted("a 206 answer without a valid Content-Range; starting again from byte 0")
            start, total = int(match.group(1)), match.group(3)
            total_size = None if total == "*" else int(total)
            if self.etag and etag and etag != self.etag:
                self._restart()
                raise Interrupted(
                    "the file changed on the server (its ETag changed); starting again from byte 0"
                )
            if start != self.written or (self.total is not None and total_size != self.total):
                self._restart()
                raise Interrupted(
                    f"the download host sent bytes {match.group(1)}-{match.group(2)}/{total} for a request "
                    f"from byte {self.written} of {self.total}; starting again from byte 0"
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
            raise Interrupted(
                "the download host answered 416 (range not satisfiable); starting again from byte 0"
            )
        said = self._s3_error(response)
        if status == 403:
            self._url_refused = True
            raise Interrupted(f"{host} refused the download URL with HTTP 403{said}", refresh=True)
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), response.headers.get("Date"))
            raise Interrupted(f"{host} answered HTTP {status}{said}", retry_after=retry_after, host=host)
        raise AsanaDownloadError(
            f"Download of {self.label} failed: {host} answered HTTP {status}{said} for "
            f"{self.secrets.scrub(without_query(response.url))}. Nothing was stored at {self.uri}. Retry the "
            f"task. {self.source.advice}"
        )

    def _stream(self, response: requests.Response) -> None:
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
                raise Interrupted(
                    f"the transfer broke after {self.written - start} bytes ({self._describe(error)})"
                )
            if len(chunk) < want:
                if self.total is None:
                    return
                raise Interrupted(f"the body ended early, after {self.written - start} bytes")

    def _size_unknown(self) -> None:
        """
        Accept a body of unknown size only if the gzip check will run: it alone proves the file complete.

        Without ``Content-Length`` a body cut short by a clean close would look complete. With ``verify_gzip``
        the full decode proves the file complete (every member ends in its CRC-32 and length trailer; a file
        cut short fails). Without it nothing could, so the download is refused before any byte is stored.
        An ``ETag`` is no substitute: it is the MD5 of the bytes only for single-part objects without SSE-KMS
        or SSE-C encryption, and a client cannot tell which it has.
        """
        if not self.verify_gzip:
            raise AsanaDownloadError(
                f"Download of {self.label} refused: the download host sent no Content-Length, so a transfer "
                "cut short would look complete, and with verify_gzip=False nothing else can prove the file "
                f"whole. Nothing was stored at {self.uri}. Pass verify_gzip=True (a full gzip decode proves "
                "it complete), or find what strips Content-Length between the worker and the download host "
                "(a proxy)."
            )
        if not self.size_unknown:
            log.warning(
                "The download host sent no Content-Length: the gzip decode is what proves the file complete."
            )
        self.size_unknown = True

    def _restart(self) -> None:
        self.pipeline.restart()
        self.written = 0
        self.total = None
        self.etag = None

    def _describe(self, error: BaseException) -> str:
        return self.secrets.scrub(f"{type(error).__name__}: {error}")

    def _s3_error(self, response: requests.Response) -> str:
        """Return `` (Code: Message)`` from an S3 XML error body, scrubbed; empty if none."""
        try:
            body = response.raw.read(16 << 10, decode_content=True) or b""
        except Exception:
            return ""
        fields = dict(_S3_ERROR_FIELD.findall(body.decode("utf-8", "replace")))
        if not fields:
            return ""
        text = ": ".join(v.strip() for v in (fields.get("Code"), fields.get("Message")) if v)
        return f" ({self.secrets.scrub(text)})"


class StreamRetry(RetryRule):
    """
    The retry rule of a download: another request after :class:`Interrupted`, never after anything else.

    A request that got further into the file is progress and starts the count of ``max_download_stalls``
    again; an expired URL is renewed and retried at once the first time; :data:`MAX_REQUESTS` caps them all.
    """

    cap = MAX_REQUESTS

    def __init__(self, stream: ResumableStream) -> None:
        self.stream = stream

    def limit(self, policy: RetryPolicy) -> int:
        return policy.max_download_stalls

    def retryable(self, error: BaseException) -> bool:
        return isinstance(error, Interrupted)

    def progressed(self, error: BaseException) -> bool:
        return self.stream.progressed

    def fixed_by_next_attempt(self, error: BaseException) -> bool:
        return isinstance(error, Interrupted) and error.refresh

    def retrying(self, error: BaseException, status: RetryStatus) -> None:
        stream = self.stream
        if isinstance(error, Interrupted) and error.refresh:
            what = "getting a fresh download URL and resuming"
        else:
            what = "resuming"
        log.warning(
            "Download of %s: %s; %s %s in %.1f s (request %d, %d of %d allowed without progress).",
            stream.label,
            error,
            what,
            stream.position(),
            status.wait,
            status.attempts + 1,
            status.failures,
            status.limit,
        )

    def give_up(self, error: BaseException, status: RetryStatus) -> BaseException | None:
        stream = self.stream
        if not isinstance(error, Interrupted):
            return None
        if status.reason not in (LIMIT, CAP) and error.retry_after is not None:
            host = error.host or "the download host"
            return AsanaDownloadError(
                f"Download of {stream.label} failed: {error.reason}. {status.over_budget(host)} Nothing was "
                f"stored at {stream.uri}."
            )
        if status.reason == LIMIT:
            why = f"{status.failures} requests in a row made no progress"
        elif status.reason == CAP:
            why = f"{status.attempts} requests were made"
        else:
            why = f"the next wait would take it past the connection's max_retry_wait of {status.budget:g} s"
        total = stream.total if stream.total is not None else "?"
        return AsanaDownloadError(
            f"Download of {stream.label} to {stream.uri} failed: {why}; the last failure: {error.reason}. "
            f"Got {stream.written} of {total} bytes; nothing was stored. Retry the task; the connection's "
            "max_download_stalls extra sets how many requests in a row without progress are allowed."
        )


def _read_chunk(raw: Any, want: int) -> tuple[bytes, BaseException | None]:
    """
    Read up to ``want`` body bytes exactly as sent (no content decoding); return them and what cut them short.

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
