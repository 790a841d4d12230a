"""
Download URLs are bearer credentials: masked in Airflow's task logs, scrubbed from any text, never in clear.

A presigned URL lets whoever holds it read the file until it expires. It is registered with Airflow's
secrets masker as soon as it is known, scrubbed (query and signature) from every message the engine writes
and from what ``urllib3`` and ``requests`` log while it is in use, and fetched only over https (or plain
http where the caller allows it: an emulator on this machine's loopback address).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

#: A query string inside any text: what a URL's secret part looks like once the URL is unknown.
_QUERY = re.compile(r"\?[^\s'\"<>)\]]+")
#: Loggers that write request lines, query string included (urllib3 at DEBUG).
_REDACTED_LOGGERS = ("urllib3.connectionpool", "urllib3.connection", "urllib3.response", "requests")
#: Query parameters that are the signature itself.
_SIGNATURE_KEYS = ("x-amz-signature", "signature")


def secret_parts(url: str) -> list[str]:
    """Return the parts of ``url`` that must never be shown: the URL, its query and its signature."""
    query = urlsplit(url).query
    values = [url]
    if query:
        values.append(query)
        values.extend(v for k, v in parse_qsl(query) if k.lower() in _SIGNATURE_KEYS and v)
    return values


def mask_url(url: str) -> list[str]:
    """Register ``url``'s secret parts with Airflow's secrets masker (task logs); return them."""
    values = secret_parts(url)
    try:
        from airflow.sdk.log import mask_secret

        for value in values:
            mask_secret(value)
    except Exception:
        log.debug("Could not register the download URL with the secrets masker.", exc_info=True)
    return values


def without_query(url: str) -> str:
    """Return ``url`` without its query: scheme, host and path, safe to show."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}" if parts.scheme else parts.path


def travels_encrypted(url: str, *, allow_plain_http: bool) -> bool:
    """
    Tell whether fetching ``url`` keeps it off the wire in clear text.

    :param url: A download URL, or a redirect's target.
    :param allow_plain_http: Accept plain ``http`` too (the caller's API is an emulator on loopback).
    """
    scheme = urlsplit(url).scheme
    return scheme == "https" or (scheme == "http" and allow_plain_http)


class UrlSecrets:
    """
    The download URLs of one download: masked as they come, scrubbed from any text.

    Use as a context manager: while inside, the records of ``urllib3`` and ``requests`` are scrubbed too.
    """

    def __init__(self) -> None:
        self._values: list[str] = []
        self._filter = _RedactingFilter(self)

    def add(self, url: str) -> None:
        """Remember ``url``'s secret parts, and register them with Airflow's secrets masker."""
        self._values.extend(v for v in mask_url(url) if v not in self._values)

    def scrub(self, text: str) -> str:
        """Return ``text`` without any URL seen so far, nor any query string."""
        for value in sorted(self._values, key=len, reverse=True):
            text = text.replace(value, "<redacted>")
        return _QUERY.sub("?<redacted>", text)

    def __enter__(self) -> UrlSecrets:
        for name in _REDACTED_LOGGERS:
            logging.getLogger(name).addFilter(self._filter)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in _REDACTED_LOGGERS:
            logging.getLogger(name).removeFilter(self._filter)


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: UrlSecrets) -> None:
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
