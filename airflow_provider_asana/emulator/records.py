"""The request log: what clients sent to both hosts, and how many API calls each token had in flight."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import Counter
from typing import Any


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """
    One request the emulator answered.

    :param host: ``"api"`` or ``"download"``.
    :param method: The HTTP method.
    :param path: The path, without the query string.
    :param query: The query string as ``urllib.parse.parse_qs`` gives it (blank values kept).
    :param authorization: Whether an ``Authorization`` header was sent.
    :param status: The status answered.
    :param time: When the request arrived (epoch seconds).
    :param connection_id: Which TCP connection carried it (a counter shared by both hosts).
    :param range: The ``Range`` header, if any.
    :param user_agent: The ``User-Agent`` header, if any.
    """

    host: str
    method: str
    path: str
    query: dict[str, list[str]]
    authorization: bool
    status: int
    time: float
    connection_id: int
    range: str | None = None
    user_agent: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready copy."""
        return dataclasses.asdict(self)


def token_label(token: str) -> str:
    """Label a token, short and non-reversible (for stats that leave the process)."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class RequestLog:
    """Thread-safe log of :class:`RequestRecord` plus per-token in-flight accounting for API calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._in_flight: Counter[str] = Counter()
        self._max_in_flight: Counter[str] = Counter()

    def add(self, record: RequestRecord) -> None:
        """Append a record."""
        with self._lock:
            self._records.append(record)

    def snapshot(self) -> list[RequestRecord]:
        """Return a copy of every record so far, oldest first."""
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        """Forget every record and the in-flight high-water marks."""
        with self._lock:
            self._records.clear()
            self._max_in_flight = Counter(self._in_flight)

    def enter(self, token: str) -> None:
        """Count an API request of ``token`` as started."""
        with self._lock:
            self._in_flight[token] += 1
            self._max_in_flight[token] = max(self._max_in_flight[token], self._in_flight[token])

    def leave(self, token: str) -> None:
        """Count an API request of ``token`` as ended."""
        with self._lock:
            self._in_flight[token] -= 1

    def max_in_flight(self, token: str | None = None) -> int:
        """Return the most API requests ``token`` had in flight at once (``None``: of any token)."""
        with self._lock:
            if token is None:
                return max(self._max_in_flight.values(), default=0)
            return self._max_in_flight.get(token, 0)

    def stats(self) -> dict[str, Any]:
        """High-water marks per token label and request counts by host and method."""
        with self._lock:
            records = list(self._records)
            peaks = {token_label(token): peak for token, peak in self._max_in_flight.items()}
        return {
            "max_in_flight": peaks,
            "by_host": dict(Counter(record.host for record in records)),
            "by_method": dict(Counter(f"{record.host} {record.method}" for record in records)),
            "total": len(records),
        }
