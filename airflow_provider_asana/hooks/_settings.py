"""What an ``asana`` Airflow connection says, parsed and checked once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

DEFAULT_BASE_URL = "https://app.asana.com/api/1.0"
_GID = re.compile(r"^[0-9]+$")


def validate_gid(value: Any, argument: str) -> str:
    """
    Return ``value`` if it is an Asana gid (a non-empty string of digits), else raise.

    :param value: The candidate gid.
    :param argument: The argument name to put in the error.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _GID.match(value):
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

    @classmethod
    def from_connection(cls, conn: Any, extras: dict[str, Any]) -> ConnectionSettings:
        """
        Build settings from an Airflow ``Connection`` and its already decoded extras.

        :param conn: The connection (``conn_id``, ``host``, ``password`` are read).
        :param extras: ``conn.extra_dejson`` (or its async twin's result).
        """
        conn_id = conn.conn_id
        token = conn.password
        if not token:
            raise ValueError(
                f"Connection {conn_id!r} has no token: put an Asana personal access token, "
                "service-account token or OAuth access token in the connection's password field."
            )
        workspace = _extra(extras, "workspace")
        if workspace is not None:
            workspace = validate_gid(str(workspace).strip(), f"Connection {conn_id!r} extra 'workspace'")
        return cls(
            conn_id=conn_id,
            token=token,
            base_url=_base_url(conn_id, conn.host),
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


def _base_url(conn_id: str, host: str | None) -> str:
    if not host:
        return DEFAULT_BASE_URL
    host = host.strip().rstrip("/")
    parts = urlsplit(host)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(
            f"Connection {conn_id!r} field host must be an API base URL with its scheme, such as "
            f"'https://app.asana.com/api/1.0', or empty for Asana itself; got {host!r}."
        )
    return host
