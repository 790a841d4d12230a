"""
What an ``asana`` Airflow connection holds: its extras in one table, and their parsing.

:data:`EXTRAS` is the one place an extra's name, type, default, bounds, form label and meaning are written.
:class:`ConnectionSettings` takes its defaults and bounds from it, ``get_provider_info()`` builds the
connection form from it (:func:`form_fields`), and the README's configuration table is
:func:`markdown_table` (a test compares them). To add an extra: add a row here and a field of the same name
to :class:`ConnectionSettings`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow_provider_asana.gids import validate_gid

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"
#: What a token may hold: visible ASCII (Asana tokens look like ``2/1200000000000042/1207...:3f1e...``).
_TOKEN = re.compile(r"[\x21-\x7e]+")
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


@dataclass(frozen=True)
class ConnectionExtra:
    """
    One extra of an ``asana`` connection, as the form shows it and the hook reads it.

    :param name: The key in the connection's extra JSON.
    :param kind: Its JSON schema type: ``string``, ``number`` or ``integer``.
    :param default: The value used when the extra is absent or empty (``None``: no value).
    :param label: The form field's label.
    :param description: What it means, in plain text (the form's help text and the docs).
    :param minimum: The smallest value accepted, for numbers (unused for strings).
    :param pattern: A regular expression the form checks, for strings.
    :param placeholder: The form field's placeholder.
    """

    name: str
    kind: str
    default: float | None
    label: str
    description: str
    minimum: float = 0
    pattern: str | None = None
    placeholder: str | None = None

    def allowed(self) -> str:
        """Say which values are accepted, for the docs."""
        if self.kind == "string":
            return "digits" if self.pattern else "any text"
        number = "a whole number" if self.kind == "integer" else "a number"
        return f"{number} >= {self.minimum:g}"


#: Every extra an ``asana`` connection may set, all optional.
EXTRAS: tuple[ConnectionExtra, ...] = (
    ConnectionExtra(
        "workspace",
        "string",
        None,
        "Workspace",
        "Default organization (workspace) gid for exports (the official Asana provider's key). "
        "AsanaHook().list_workspaces() lists the ones the token sees.",
        pattern="^[0-9]*$",
        placeholder="Organization gid, e.g. 1200000000000001",
    ),
    ConnectionExtra(
        "project",
        "string",
        None,
        "Project",
        "Read by the official Asana provider's task operators; ignored by exports.",
    ),
    ConnectionExtra(
        "connect_timeout",
        "number",
        10.0,
        "Connect timeout (s)",
        "Seconds to establish a TCP/TLS connection.",
        minimum=0.001,
    ),
    ConnectionExtra(
        "read_timeout",
        "number",
        60.0,
        "Read timeout (s)",
        "Seconds to wait for an answer, or for the next bytes of a download.",
        minimum=0.001,
    ),
    ConnectionExtra(
        "max_attempts",
        "integer",
        6,
        "Max attempts per request",
        "Attempts per API request, the first included.",
        minimum=1,
    ),
    ConnectionExtra(
        "max_retry_wait",
        "number",
        300.0,
        "Max total retry wait (s)",
        "Seconds one API request, or a download between two moments of progress, may spend sleeping "
        "between attempts, in total. A Retry-After longer than what is left fails at once.",
        minimum=0,
    ),
    ConnectionExtra(
        "max_busy_workspace_wait",
        "number",
        600.0,
        "Max wait for a busy workspace (s)",
        "Seconds a resource or graph export's create request keeps being retried while Asana refuses it "
        "(403) because another export of the workspace is in progress; 0 fails at once.",
        minimum=0,
    ),
    ConnectionExtra(
        "retry_backoff",
        "number",
        1.0,
        "Retry backoff (s)",
        "Base of the jittered exponential backoff between attempts, doubled with each failure in a row.",
        minimum=0,
    ),
    ConnectionExtra(
        "max_concurrent_requests",
        "integer",
        40,
        "Max concurrent async requests",
        "Async requests in flight per token on one event loop (Asana allows 50 concurrent GETs).",
        minimum=1,
    ),
    ConnectionExtra(
        "max_download_stalls",
        "integer",
        6,
        "Max download requests without progress",
        "Download requests in a row that bring no new byte before the download fails; a request that "
        "gets further starts the count again.",
        minimum=1,
    ),
)
_EXTRAS = {extra.name: extra for extra in EXTRAS}


def form_fields() -> dict[str, dict[str, Any]]:
    """Return the connection form's extra fields, as ``get_provider_info()``'s ``conn-fields`` takes them."""
    fields = {}
    for extra in EXTRAS:
        schema: dict[str, Any] = {"type": [extra.kind, "null"]}
        if extra.default is not None:
            schema["default"] = extra.default
        if extra.pattern is not None:
            schema["pattern"] = extra.pattern
        fields[extra.name] = {"label": extra.label, "description": extra.description, "schema": schema}
    return fields


def form_placeholders() -> dict[str, str]:
    """Return the placeholders of the extra fields that have one, by field name."""
    return {extra.name: extra.placeholder for extra in EXTRAS if extra.placeholder is not None}


def markdown_table() -> str:
    """Return the docs' table of connection extras (Markdown), one row per :data:`EXTRAS` entry."""
    rows = ["| extra | default | accepts | meaning |", "|---|---|---|---|"]
    for extra in EXTRAS:
        default = "none" if extra.default is None else f"{extra.default:g}"
        rows.append(f"| `{extra.name}` | {default} | {extra.allowed()} | {extra.description} |")
    return "\n".join(rows) + "\n"


def _default(name: str) -> Any:
    return _EXTRAS[name].default


@dataclass(frozen=True)
class ConnectionSettings:
    """
    The parsed connection; the token is kept out of ``repr``.

    The numeric fields are the extras of the same name in :data:`EXTRAS`, with their defaults.
    """

    conn_id: str
    token: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL
    workspace: str | None = None
    connect_timeout: float = _default("connect_timeout")
    read_timeout: float = _default("read_timeout")
    max_attempts: int = _default("max_attempts")
    max_retry_wait: float = _default("max_retry_wait")
    max_busy_workspace_wait: float = _default("max_busy_workspace_wait")
    retry_backoff: float = _default("retry_backoff")
    max_concurrent_requests: int = _default("max_concurrent_requests")
    max_download_stalls: int = _default("max_download_stalls")

    @property
    def is_local_plain_http(self) -> bool:
        """
        Tell whether the API is plain ``http`` on a loopback address (the emulator).

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
        :raises ValueError: A field or extra is unusable; the message names it and the fix.
        """
        conn_id = conn.conn_id
        token = _token(conn_id, conn.password)
        workspace = _extra(extras, "workspace")
        if workspace is not None:
            workspace = validate_gid(str(workspace).strip(), f"Connection {conn_id!r} extra 'workspace'")
        numbers: dict[str, Any] = {
            extra.name: _number(extras, extra, conn_id) for extra in EXTRAS if extra.kind != "string"
        }
        return cls(
            conn_id=conn_id,
            token=token,
            base_url=_base_url(conn_id, conn.host, conn.port),
            workspace=workspace,
            **numbers,
        )


def token_forms(password: Any) -> list[str]:
    """Return the connection's password as stored and as sent (stripped): both are masked before any check."""
    if not isinstance(password, str):
        return []
    return [value for value in dict.fromkeys((password.strip(), password)) if value]


def _extra(extras: dict[str, Any], name: str) -> Any:
    value = extras.get(name)
    if value in (None, ""):
        value = extras.get(f"extra__asana__{name}")
    return None if value in (None, "") else value


def _number(extras: dict[str, Any], extra: ConnectionExtra, conn_id: str) -> float:
    raw = _extra(extras, extra.name)
    if raw is None:
        return _default(extra.name)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not value >= extra.minimum:
        raise ValueError(
            f"Connection {conn_id!r} extra {extra.name!r} must be a number >= {extra.minimum:g}; "
            f"got {raw!r}. Fix the extra or remove it to use the default ({_default(extra.name):g})."
        )
    return int(value) if extra.kind == "integer" else value


def _token(conn_id: str, raw: Any) -> str:
    """Return the token to send, ``raw`` without surrounding whitespace; refuse (unechoed) any other flaw."""
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
