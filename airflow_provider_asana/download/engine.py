"""
The download engine's entry point: a remote file into a destination, streamed, resumable, verified, atomic.

:func:`download_file` opens the destination's writer (so an unwritable one fails before any request), then
lets the retry policy run the stream's requests until the whole file has arrived, and commits only then: a
failure at any point aborts the writer, which leaves the destination as it was.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from airflow_provider_asana.download.gzip_check import GzipError, StreamChecker
from airflow_provider_asana.download.pipeline import Pipeline
from airflow_provider_asana.download.secrets import UrlSecrets
from airflow_provider_asana.download.stream import ResumableStream, StreamRetry

if TYPE_CHECKING:
    from airflow_provider_asana.download.destination import Destination
    from airflow_provider_asana.download.source import DownloadSource
    from airflow_provider_asana.download.writers import AtomicWriter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Downloaded:
    """
    A file that landed: where, how big, and its SHA-256 (never the URL it came from).

    :param uri: The destination.
    :param bytes: Its size.
    :param sha256: The hex SHA-256 of its bytes.
    """

    uri: str
    bytes: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        """Return ``{"uri", "bytes", "sha256"}``, e.g. for XCom."""
        return asdict(self)


def download_file(
    source: DownloadSource, destination: Destination, *, verify_gzip: bool = True
) -> Downloaded:
    """
    Stream ``source``'s file to ``destination``: resumed where a request broke, checked, atomic.

    :param source: The file: a function giving fresh URLs, its label, timeouts and retry policy.
    :param destination: Where it lands, checked (a
        :class:`~airflow_provider_asana.download.destination.Destination`).
    :param verify_gzip: Decode the whole gzip (every member, CRC-32 and length) while it streams, so a
        damaged file fails instead of landing.
    :raises AsanaDownloadError: The destination is refused or unwritable, the host refuses the file, the
        retries ran out, or the file is damaged; nothing was stored.
    """
    destination.check()
    writer = destination.writer()
    writer.open()  # fails now, before any request, if the destination cannot be written
    try:
        with UrlSecrets() as secrets:
            landed = _transfer(source, destination.uri, writer, secrets, verify_gzip)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    log.info("%s is at %s: %d bytes, sha256 %s.", source.label, landed.uri, landed.bytes, landed.sha256)
    return landed


def _transfer(
    source: DownloadSource, uri: str, writer: AtomicWriter, secrets: UrlSecrets, verify_gzip: bool
) -> Downloaded:
    started = time.monotonic()
    pipeline = Pipeline(writer, StreamChecker(verify_gzip), uri)
    try:
        with ResumableStream(source, uri, secrets, pipeline, verify_gzip=verify_gzip) as stream:
            try:
                source.retry.call(StreamRetry(stream), stream.fetch)
                sha256 = pipeline.finish()
            except GzipError as e:
                raise stream.invalid_gzip(e) from None
    except BaseException:
        pipeline.cancel()
        raise
    elapsed = max(time.monotonic() - started, 1e-9)
    log.info(
        "Downloaded %s: %d bytes in %.1f s (%.1f MB/s)%s.",
        source.label,
        stream.written,
        elapsed,
        stream.written / elapsed / 1e6,
        ", gzip verified" if verify_gzip else "",
    )
    return Downloaded(uri, stream.written, sha256)
