"""
The hook's two HTTP transports: ``requests`` for tasks, ``httpx`` for triggers on an event loop.

Both send an :class:`~airflow_provider_asana.hooks._api.ApiRequest` as it is, follow no redirects, and turn
what comes back into the same answer or the same error (``_api``), so the sync and async paths behave alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import threading
import weakref
from typing import TYPE_CHECKING, Any

import httpx
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow_provider_asana.hooks._api import parse_response, transport_error

if TYPE_CHECKING:
    from airflow_provider_asana.connection import ConnectionSettings
    from airflow_provider_asana.hooks._api import ApiRequest

# One semaphore per (event loop, token): caps requests in flight per token below Asana's 50 concurrent GETs,
# however many triggers share the loop.
_INFLIGHT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)

# httpx's default TLS context, built once per process (per CA-bundle environment): building one parses the
# whole CA bundle, about 25 ms of CPU, and an SSLContext is safe to share between clients.
_SSL_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_SSL_CONTEXTS_LOCK = threading.Lock()


def new_session() -> requests.Session:
    """
    Return a ``requests.Session`` for the API: pooled connections, and only the connection's token.

    Proxies and CA bundles still come from the environment (``HTTPS_PROXY``, ``NO_PROXY``,
    ``REQUESTS_CA_BUNDLE``); credentials from ``~/.netrc`` never replace the connection's token.
    """
    session = requests.Session()
    session.auth = _connection_token_only
    return session


def send(session: requests.Session, settings: ConnectionSettings, request: ApiRequest) -> dict[str, Any]:
    """Send ``request`` once with ``requests``; return Asana's JSON answer or raise the mapped error."""
    try:
        response = session.request(
            request.method,
            request.url,
            params=request.params,
            json=request.json,
            headers=dict(request.headers),
            timeout=(settings.connect_timeout, settings.read_timeout),
            allow_redirects=False,
        )
    except requests.ConnectTimeout as e:
        raise transport_error(request, "connect", e) from e
    except requests.Timeout as e:
        raise transport_error(request, "timeout", e) from e
    except requests.ConnectionError as e:
        raise transport_error(request, "connect" if _never_connected(e) else "disconnect", e) from e
    return parse_response(request, response.status_code, response.headers, response.content)


async def asend(
    client: httpx.AsyncClient, settings: ConnectionSettings, request: ApiRequest
) -> dict[str, Any]:
    """Send ``request`` once with ``httpx``, within the token's cap on requests in flight; as :func:`send`."""
    try:
        async with _inflight_limit(settings):
            response = await client.request(
                request.method, request.url, params=request.params, json=request.json, headers=request.headers
            )
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as e:
        raise transport_error(request, "connect", e) from e
    except httpx.TimeoutException as e:
        raise transport_error(request, "timeout", e) from e
    except httpx.TransportError as e:
        raise transport_error(request, "disconnect", e) from e
    return parse_response(request, response.status_code, response.headers, response.content)


async def shared_tls_context() -> ssl.SSLContext:
    """
    Return the process's TLS context for ``httpx``, building it on a worker thread the first time.

    Built per client, on the loop, 500 triggers starting together stalled the triggerer's event loop for
    seconds (25 ms each).
    """
    context = _SSL_CONTEXTS.get(_ssl_key())
    if context is None:
        context = await asyncio.to_thread(_ssl_context)
    return context


def new_async_client(settings: ConnectionSettings, context: ssl.SSLContext) -> httpx.AsyncClient:
    """Return an ``httpx.AsyncClient`` with the connection's timeouts, following no redirects."""
    return httpx.AsyncClient(
        verify=context,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
        follow_redirects=False,
    )


def _ssl_key() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


def _ssl_context() -> ssl.SSLContext:
    """Return httpx's default TLS context (certifi's, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built once."""
    key = _ssl_key()
    context = _SSL_CONTEXTS.get(key)
    if context is None:
        with _SSL_CONTEXTS_LOCK:
            context = _SSL_CONTEXTS.get(key)
            if context is None:
                context = _SSL_CONTEXTS[key] = httpx.create_ssl_context()
    return context


def _inflight_limit(settings: ConnectionSettings) -> asyncio.Semaphore:
    per_loop = _INFLIGHT.setdefault(asyncio.get_running_loop(), {})
    key = hashlib.sha256(f"{settings.base_url} {settings.token}".encode()).hexdigest()
    if key not in per_loop:
        per_loop[key] = asyncio.Semaphore(settings.max_concurrent_requests)
    return per_loop[key]


def _never_connected(error: requests.ConnectionError) -> bool:
    """Tell whether urllib3 failed before a connection existed, i.e. nothing was sent."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _connection_token_only(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """
    Leave the request's own ``Authorization`` header (the connection's token) alone: the session's ``auth``.

    A session without ``auth`` lets ``requests`` put ``~/.netrc`` credentials for the API host in its place
    (``Session.prepare_request`` calls ``get_netrc_auth`` when ``trust_env`` is on and no auth is set).
    Setting an auth turns off only that; ``trust_env`` stays on for proxies and CA bundles.
    """
    return request
