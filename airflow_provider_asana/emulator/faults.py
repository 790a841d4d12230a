"""
Fault switches: misbehaviour the emulator can be told to show, changeable while it runs.

Each fault is declared once, as a field of :class:`Faults` made with :func:`counter`, :func:`switch` or
:func:`value`: its name, default, kind, the values it accepts and its help. The ``asana-emulator``
flags (``cli``) and the control API (``PUT /_emulator/faults``) are built from these declarations, so
adding a fault is one field here plus its behaviour where it acts (``api``, ``download`` or ``app``).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Callable, Mapping
from typing import Any, Literal

Kind = Literal["counter", "switch", "value"]


@dataclasses.dataclass(frozen=True)
class Values:
    """
    The values a fault accepts, and how they are read from JSON and from the command line.

    :param expected: What a valid value is, for error messages (``"fault X must be <expected>"``).
    :param accepts: Whether a normalized value is valid.
    :param normalize: Brings a spelling to the stored form (``2.0`` -> ``2``, ``"get"`` -> ``("GET",)``).
    :param parse: Reads a command-line word.
    :param metavar: The word's placeholder in ``--help``.
    :param choices: The only words the command line takes, if limited.
    :param example: A valid command-line word that differs from every default (documentation and tests).
    """

    expected: str
    accepts: Callable[[Any], bool]
    normalize: Callable[[Any], Any] = lambda value: value
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    choices: tuple[Any, ...] | None = None
    example: str = ""


@dataclasses.dataclass(frozen=True)
class Declaration:
    """
    One fault, as declared on :class:`Faults`.

    :param name: The field name, also the control API's key.
    :param default: Its value when off.
    :param kind: ``counter`` (consumed one per matching request), ``switch`` (on/off) or ``value``.
    :param values: What it accepts.
    :param help: What it does, for ``--help``.
    :param flag: Its command-line flag.
    """

    name: str
    default: Any
    kind: Kind
    values: Values
    help: str
    flag: str


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integral(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _methods(value: Any) -> Any:
    if isinstance(value, str):
        value = value.split(",")
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(item, str) for item in value):
        return tuple(item.strip().upper() for item in value if item.strip())
    return value


HTTP_5XX = (500, 502, 503, 504)

COUNT = Values(
    "a count >= 0", lambda v: _is_int(v) and v >= 0, normalize=_integral, parse=int, metavar="N", example="2"
)
SWITCH = Values("True or False", lambda v: isinstance(v, bool))
SECONDS = Values("seconds >= 0", lambda v: _is_number(v) and v >= 0, parse=float, metavar="S", example="0.5")
STATUS_5XX = Values(
    "500/502/503/504", lambda v: v in HTTP_5XX, normalize=_integral, parse=int, choices=HTTP_5XX,
    example="503",
)  # fmt: skip
METHODS = Values(
    "HTTP methods, e.g. 'GET,POST' or ['GET']", lambda v: isinstance(v, tuple), normalize=_methods,
    metavar="M,M", example="POST",
)  # fmt: skip
BYTES = Values(
    "None or an int >= 0", lambda v: v is None or (_is_int(v) and v >= 0), normalize=_integral, parse=int,
    metavar="B", example="10",
)  # fmt: skip
BYTES_PER_SECOND = Values(
    "None or an int > 0", lambda v: v is None or (_is_int(v) and v > 0), normalize=_integral, parse=int,
    metavar="B", example="1000",
)  # fmt: skip
EXPORT_STATE = Values("'error' or None", lambda v: v in ("error", None), choices=("error",), example="error")


def _declare(default: Any, kind: Kind, values: Values, help: str, flag: str | None) -> Any:
    # The keys are Declaration's fields: Faults.declarations() adds the name and default.
    metadata = {"kind": kind, "values": values, "help": help, "flag": flag}
    return dataclasses.field(default=default, metadata=metadata)


def counter(help: str) -> Any:  # `help`: argparse's name
    """Declare a fault that misbehaves on the next N matching requests, counting down; off at 0."""
    return _declare(0, "counter", COUNT, help, None)


def switch(help: str) -> Any:
    """Declare a fault that is on or off (a command-line flag without a value)."""
    return _declare(False, "switch", SWITCH, help, None)


def value(default: Any, values: Values, help: str, *, flag: str | None = None) -> Any:
    """
    Declare a setting of another fault, or a fault with a value.

    ``flag`` overrides its command-line flag, ``--<name-with-dashes>``.
    """
    return _declare(default, "value", values, help, flag)


@dataclasses.dataclass
class Faults:
    """
    Every fault the emulator can inject; all off by default. Each field's declaration says what it does.

    Counters count down as requests consume them (:meth:`take`). Change fields with :meth:`update`
    (atomic, validated); reading a single attribute is always safe.
    """

    rate_limit: int = counter("answer the next N API requests whose method is in rate_limit_methods with 429")
    rate_limit_retry_after: float = value(
        1, SECONDS, "Retry-After seconds sent with each 429", flag="--retry-after"
    )
    rate_limit_methods: tuple[str, ...] = value(("GET", "POST"), METHODS, "methods the rate limit applies to")
    server_error: int = counter(
        "answer the next N API requests whose method is in server_error_methods with a 5xx"
    )
    server_error_status: int = value(500, STATUS_5XX, "the status of those server errors")
    server_error_methods: tuple[str, ...] = value(
        ("GET", "POST"), METHODS, "methods the server errors apply to"
    )
    html_error: int = counter("answer the next N API requests with a proxy's HTML page instead of JSON")
    html_error_status: int = value(502, STATUS_5XX, "the status of those HTML pages")
    latency: float = value(0.0, SECONDS, "seconds added to every API request")
    forbidden: bool = switch("answer every organization-export call with 403")
    non_enterprise: bool = switch(
        "treat every organization as non-Enterprise (creating an export answers 402)"
    )
    export_state: str | None = value(None, EXPORT_STATE, "exports end in this state instead of finished")
    drop_download: int = counter("cut the next N download GETs short and close the connection")
    drop_after_bytes: int | None = value(
        None, BYTES, "body bytes sent before cutting (default: half of what was asked for)"
    )
    drop_stall: float = value(0.0, SECONDS, "seconds to stall after the partial body, before closing")
    truncate_gzip: bool = switch("serve a truncated copy of the export file, as if it were whole")
    bad_lines: bool = switch("now and then write a line that is not a JSON object with a __type into exports")
    expire_urls: int = counter("the next N minted download URLs are already expired")
    ignore_range: bool = switch("the download host ignores Range and always sends the whole file")
    slow_download_bps: int | None = value(
        None, BYTES_PER_SECOND, "throttle download bodies to B bytes per second"
    )
    omit_content_length: bool = switch(
        "send download bodies without Content-Length (the end is marked by closing the connection)"
    )
    _lock: threading.Lock = dataclasses.field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        values = {name: self._normalize(name, getattr(self, name)) for name in self.names()}
        self._check(values)
        for name, normalized in values.items():
            setattr(self, name, normalized)

    @classmethod
    @functools.cache
    def declarations(cls) -> tuple[Declaration, ...]:
        """Every fault's declaration, in field order."""
        found = []
        for field in dataclasses.fields(cls):
            meta = field.metadata
            if "kind" not in meta:
                continue
            flag = meta["flag"] or "--" + field.name.replace("_", "-")
            found.append(Declaration(**{**meta, "name": field.name, "default": field.default, "flag": flag}))
        return tuple(found)

    @classmethod
    def names(cls, kind: Kind | None = None) -> tuple[str, ...]:
        """Return the fault names (field names), of one ``kind`` if given."""
        return tuple(d.name for d in cls.declarations() if kind is None or d.kind == kind)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-ready snapshot of every field."""
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
        normalized = {name: self._normalize(name, value) for name, value in changes.items()}
        with self._lock:
            self._check(normalized)
            for name, value in normalized.items():
                setattr(self, name, value)

    def reset(self) -> None:
        """Turn every fault off."""
        self.update(**{d.name: d.default for d in self.declarations()})

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

    @classmethod
    @functools.cache
    def _accepted(cls) -> dict[str, Values]:
        return {declaration.name: declaration.values for declaration in cls.declarations()}

    @classmethod
    def _normalize(cls, name: str, value: Any) -> Any:
        return cls._accepted()[name].normalize(value)

    @classmethod
    def _check(cls, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            accepted = cls._accepted()[name]
            if not accepted.accepts(value):
                raise ValueError(f"fault {name} must be {accepted.expected}; got {value!r}")


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
