"""Fault switches: misbehaviour the emulator can be told to show, changeable while it runs."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Mapping
from typing import Any

#: Counter faults: "answer the next N matching requests this way".
COUNTERS = ("rate_limit", "server_error", "html_error", "drop_download", "expire_urls")
SERVER_ERROR_STATUSES = frozenset({500, 502, 503, 504})
HTML_ERROR_STATUSES = frozenset({500, 502, 503, 504})
EXPORT_STATES = frozenset({"error"})


@dataclasses.dataclass
class Faults:
    """
    Every fault the emulator can inject; all off by default.

    Counters (``rate_limit``, ``server_error``, ``html_error``, ``drop_download``, ``expire_urls``) count
    down as requests consume them. Change fields with :meth:`update` (atomic, validated); reading a single
    attribute is always safe.

    :param rate_limit: Answer the next N API requests whose method is in ``rate_limit_methods`` with 429.
    :param rate_limit_retry_after: ``Retry-After`` seconds sent with each 429.
    :param rate_limit_methods: Methods the rate limit applies to.
    :param server_error: Answer the next N matching API requests with ``server_error_status``.
    :param server_error_status: 500, 502, 503 or 504.
    :param server_error_methods: Methods the server errors apply to.
    :param html_error: Answer the next N API requests with a proxy's HTML page.
    :param html_error_status: Status of those HTML pages.
    :param latency: Seconds added to every API request.
    :param forbidden: Answer every organization-export call with 403.
    :param non_enterprise: Treat every organization as non-Enterprise (creating an export answers 402).
    :param export_state: ``"error"``: exports end in ``error`` instead of ``finished``.
    :param drop_download: Cut the next N download GETs short and close the connection.
    :param drop_after_bytes: Body bytes sent before cutting (default: half of what was asked for).
    :param drop_stall: Seconds to stall after the partial body, before closing.
    :param truncate_gzip: Serve a truncated copy of the export, as if it were whole.
    :param expire_urls: The next N minted download URLs are already expired.
    :param ignore_range: The download host ignores ``Range`` and always sends the whole file.
    :param slow_download_bps: Throttle download bodies to this many bytes per second.
    :param omit_content_length: The download host sends no ``Content-Length`` (the body ends when the
        connection closes), so a body cut short looks complete.
    """

    rate_limit: int = 0
    rate_limit_retry_after: float = 1
    rate_limit_methods: tuple[str, ...] = ("GET", "POST")
    server_error: int = 0
    server_error_status: int = 500
    server_error_methods: tuple[str, ...] = ("GET", "POST")
    html_error: int = 0
    html_error_status: int = 502
    latency: float = 0.0
    forbidden: bool = False
    non_enterprise: bool = False
    export_state: str | None = None
    drop_download: int = 0
    drop_after_bytes: int | None = None
    drop_stall: float = 0.0
    truncate_gzip: bool = False
    expire_urls: int = 0
    ignore_range: bool = False
    slow_download_bps: int | None = None
    omit_content_length: bool = False
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name in self.names():
            setattr(self, name, _normalize(name, getattr(self, name)))
        self._check({name: getattr(self, name) for name in self.names()})

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The public field names."""
        return tuple(f.name for f in dataclasses.fields(cls) if not f.name.startswith("_"))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot of every field."""
        with self._lock:
            return {name: _jsonable(getattr(self, name)) for name in self.names()}

    def update(self, **changes: Any) -> None:
        """
        Set several fields at once, atomically; nothing changes if any value is invalid.

        :raises ValueError: an unknown field or an invalid value.
        """
        unknown = sorted(set(changes) - set(self.names()))
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(unknown)}; known: {', '.join(self.names())}")
        normalized = {name: _normalize(name, value) for name, value in changes.items()}
        with self._lock:
            merged = {name: getattr(self, name) for name in self.names()} | normalized
            self._check(merged)
            for name, value in normalized.items():
                setattr(self, name, value)

    def reset(self) -> None:
        """Turn every fault off."""
        defaults = Faults()
        self.update(**{name: getattr(defaults, name) for name in self.names()})

    def take(self, name: str, method: str | None = None) -> bool:
        """
        Consume one unit of counter fault ``name`` if it is armed (and applies to ``method``).

        :return: True if the caller should misbehave now.
        """
        with self._lock:
            if getattr(self, name) <= 0:
                return False
            methods = getattr(self, f"{name}_methods", None)
            if method is not None and methods is not None and method.upper() not in methods:
                return False
            setattr(self, name, getattr(self, name) - 1)
            return True

    @staticmethod
    def _check(values: Mapping[str, Any]) -> None:
        for name in COUNTERS:
            _require(_is_int(values[name]) and values[name] >= 0, name, "a count >= 0")
        for name in ("forbidden", "non_enterprise", "truncate_gzip", "ignore_range", "omit_content_length"):
            _require(isinstance(values[name], bool), name, "True or False")
        for name in ("rate_limit_retry_after", "latency", "drop_stall"):
            value = values[name]
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            _require(number and value >= 0, name, "seconds >= 0")
        _require(values["server_error_status"] in SERVER_ERROR_STATUSES, "server_error_status", "500/502/503/504")
        _require(values["html_error_status"] in HTML_ERROR_STATUSES, "html_error_status", "500/502/503/504")
        _require(values["export_state"] in EXPORT_STATES | {None}, "export_state", "'error' or None")
        for name in ("drop_after_bytes", "slow_download_bps"):
            value = values[name]
            _require(value is None or (_is_int(value) and value >= 0), name, "None or an int >= 0")
        _require(values["slow_download_bps"] != 0, "slow_download_bps", "None or an int > 0")


def _normalize(name: str, value: Any) -> Any:
    if name.endswith("_methods"):
        items: Iterable[str] = value.split(",") if isinstance(value, str) else value
        return tuple(item.strip().upper() for item in items if item.strip())
    if isinstance(value, bool) or value is None:
        return value
    integral = (*COUNTERS, "server_error_status", "html_error_status", "drop_after_bytes", "slow_download_bps")
    if name in integral and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _require(condition: bool, name: str, expected: str) -> None:
    if not condition:
        raise ValueError(f"fault {name} must be {expected}")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
