"""What the download engine is told about a file: where to get a fresh URL for it, and how to fetch it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_asana.retry import RetryPolicy


@dataclass(frozen=True)
class DownloadSource:
    """
    A remote file behind short-lived URLs, as whoever knows it (a hook) describes it to the download engine.

    The engine knows nothing else about the file's origin: any export kind (an organization export, a
    resource or graph export's job) is a source like any other.

    :param fresh_url: Return a download URL for the file, fetched anew on each call: the engine calls it
        before the first request and again whenever the download host refuses the URL (expired). It may
        raise to stop the download (the file is gone, not ready, or its URL is refused); the engine passes
        that on. The URL is a bearer credential: the engine masks it and never logs or returns it.
    :param label: Names the file in messages and logs, e.g. ``"Asana organization export 1300000000000001"``.
    :param connect_timeout: Seconds to establish a connection to the download host.
    :param read_timeout: Seconds to wait for the next bytes.
    :param retry: When and how long to retry (its ``max_download_stalls`` and ``max_retry_wait``).
    :param allow_plain_http: Accept plain ``http`` URLs and redirects (only for an emulator on loopback).
    :param advice: What to do when the file served is damaged or refused, as a sentence, e.g.
        ``"If it persists, start a new export or contact Asana support with the export gid."``
    """

    fresh_url: Callable[[], str]
    label: str
    connect_timeout: float
    read_timeout: float
    retry: RetryPolicy
    allow_plain_http: bool = False
    advice: str = "If it persists, ask whoever serves the file."
