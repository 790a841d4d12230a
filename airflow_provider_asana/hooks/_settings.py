"""What an ``asana`` Airflow connection says, parsed and checked once."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"
_GID = re.compile(r"[0-9]+")
#: What a token may hold: visible ASCII (Asana tokens look like ``2/1200000000000042/1207...:3f1e...``).
_TOKEN = re.compile(r"[\x21-\x7e]+")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_gid(value: Any) -> bool:
    """True for an Asana gid as Asana sends it: a non-empty string of ASCII digits, nothing else."""
    return isinstance(value, str) and _GID.fullmatch(value) is not None


def validate_gid(value: Any, argument: str) -> str:
    """
    Return ``value`` if it is an Asana gid (a non-empty string of digits), else raise.

    :param value: The candidate gid.
    :param argument: The argument name to put in the error.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not is_gid(value):
        raise ValueError(
            f"{argument} must be an Asana gid, a non-empty string of digits such as '1200000000000001'; "
            f"got {value!r}."
        )
    return value


@dataclass(frozen=True)
class ConnectionSettings:
    """
    The parsed connection. The token is kept out of ``repr``.

    Extras (all optional): ``workspace`` (or the older ``extra__asana__workspace``), ``connect_timeout``,
    ``read_timeout``, ``max_attempts``, ``max_retry_wait``, ``retry_backoff``, ``max_concurrent_requests``.
    """

    conn_id: str
    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    workspace: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 6
    max_retry_wait: float = 300.0
    retry_backoff: float = 1.0
    max_concurrent_requests: int = 40

    @property
    def is_local_plain_http(self) -> bool:
        """
        True when the API is plain ``http`` on a loopback address (the emulator).

        Only then may a download URL be plain ``http`` too: a presigned URL must not travel in clear text.
        """
        parts = urlsplit(self.base_url)
        return parts.scheme == "http" and _is_loopback(parts.hostname)

    @classmethod
    def from_connection(cls, conn: Any, extras: dict[str, Any]) -> ConnectionSettings:
        """
        Build settings from an Airflow ``Connection`` and its already decoded extras.

        :param conn: The connection (``conn_id``, ``host``, ``port``, ``password`` are read). The token is
            stripped of surrounding whitespace; ``port`` must be empty (a port goes inside ``host``).
        :param extras: ``conn.extra_dejson`` (or its async twin's result).
        """
        conn_id = conn.conn_id
        token = _token(conn_id, conn.password)
        workspace = _extra(extras, "workspace")
        if workspace is not None:
            workspace = validate_gid(str(workspace).strip(), f"Connection {conn_id!r} extra 'workspace'")
        return cls(
            conn_id=conn_id,
            token=token,
            base_url=_base_url(conn_id, conn.host, conn.port),
            workspace=workspace,
            connect_timeout=_number(extras, "connect_timeout", 10.0, conn_id),
            read_timeout=_number(extras, "read_timeout", 60.0, conn_id),
            max_attempts=int(_number(extras, "max_attempts", 6, conn_id, minimum=1)),
            max_retry_wait=_number(extras, "max_retry_wait", 300.0, conn_id, minimum=0),
            retry_backoff=_number(extras, "retry_backoff", 1.0, conn_id, minimum=0),
            max_concurrent_requests=int(_number(extras, "max_concurrent_requests", 40, conn_id, minimum=1)),
        )


def _extra(extras: dict[str, Any], name: str) -> Any:
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__asana__{name}")
    return None if value in (None, "") else value


def _number(extras: dict[str, Any], name: str, default: float, conn_id: str, *, minimum: float = 0.001) -> float:
    raw = _extra(extras, name)
    if raw is None:
        return float(default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= minimum:
        raise ValueError(
            f"Connection {conn_id!r} extra {name!r} must be a number >= {minimum:g}; got {raw!r}. "
            f"Fix the extra or remove it to use the default ({default:g})."
        )
    return value


def _token(conn_id: str, raw: Any) -> str:
    """The token to send: ``raw`` without surrounding whitespace; refused (never echoed) if off otherwise."""
    token = raw.strip() if isinstance(raw, str) else raw
    if not token or not isinstance(token, str):
        raise ValueError(
            f"Connection {conn_id!r} has no token: put an Asana personal access token, "
            "service-account token or OAuth access token in the connection's password field."
        )
    if not _TOKEN.fullmatch(token):
        bad = next(c for c in token if not _TOKEN.fullmatch(c))
        raise ValueError(
            f"Connection {conn_id!r} field password (the token) contains {_describe_character(bad)} inside "
            "it, which no Asana token has (a copy-paste accident?). Paste the token again as one line of "
            "visible characters; spaces and line breaks around it are removed automatically."
        )
    return token


def _describe_character(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
        return f"a line break ({code})"
    if char == "\t":
        return "a tab (U+0009)"
    if char.isspace():
        return f"a space ({code})"
    if not char.isprintable():
        return f"a control or invisible character ({code})"
    return "a non-ASCII character"


def _is_loopback(hostname: str | None) -> bool:
    if not hostname:
        return False
    if hostname.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _base_url(conn_id: str, host: str | None, port: Any = None) -> str:
    field_host = f"Connection {conn_id!r} field host"
    if port not in (None, ""):
        example = _with_port(host or DEFAULT_BASE_URL, port)
        raise ValueError(
            f"Connection {conn_id!r} field port is set ({port!r}), but an asana connection takes its port "
            f"inside the host URL: set host to {example!r} and clear port."
        )
    if not host:
        return DEFAULT_BASE_URL
    host = host.strip().rstrip("/")
    if "@" in host:
        raise ValueError(
            f"{field_host} must not carry credentials (user:password@): the token goes in the password "
            "field. Remove them from the host."
        )
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"{field_host} must be an API base URL with its scheme, such as "
            f"'https://app.asana.com/api/1.0', or empty for Asana itself; got {host!r}."
        )
    if parts.query or parts.fragment:
        raise ValueError(
            f"{field_host} must be an API base URL without '?' or '#' parts, such as "
            f"'https://app.asana.com/api/1.0'; got {host!r}."
        )
    try:
        parts.port
    except ValueError:
        raise ValueError(
            f"{field_host} has an invalid port (a number from 1 to 65535 after the host name); got {host!r}."
        ) from None
    return host


def _with_port(url: str, port: Any) -> str:
    parts = urlsplit(url.strip())
    if not parts.netloc:
        return url
    try:
        has_port = parts.port is not None
    except ValueError:
        has_port = True
    netloc = parts.netloc.rsplit(":", 1)[0] if has_port else parts.netloc
    return urlunsplit(parts._replace(netloc=f"{netloc}:{port}"))
