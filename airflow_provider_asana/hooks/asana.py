"""The Asana hook: authentication, HTTP, errors and retries for the organization-export API."""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import threading
import weakref
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx
import requests
import tenacity
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from airflow.sdk import BaseHook
from airflow_provider_asana.exceptions import AsanaAPIError, AsanaTransportError
from airflow_provider_asana.hooks._api import (
    NOT_ASANA_ADVICE,
    ApiRequest,
    build_request,
    json_type,
    parse_response,
    retry_kwargs,
    transport_error,
)
from airflow_provider_asana.hooks._settings import ConnectionSettings, is_gid, validate_gid

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

__all__ = ["AsanaAPIError", "AsanaHook", "AsanaTransportError", "EXPORT_FIELDS"]

#: The fields asked for by default: the OrganizationExport resource omits some unless asked.
EXPORT_FIELDS: tuple[str, ...] = ("created_at", "download_url", "organization", "organization.name", "state")
_EXPORT_KEYS = ("gid", "resource_type", "created_at", "state", "download_url", "organization")
#: The fields list_workspaces asks for by default.
WORKSPACE_FIELDS: tuple[str, ...] = ("name", "is_organization")

# One semaphore per (event loop, token): caps requests in flight per token below Asana's 50 concurrent GETs,
# however many triggers share the loop.
_INFLIGHT: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Semaphore]] = (
    weakref.WeakKeyDictionary()
)

# httpx's default TLS context, built once per process (per CA-bundle environment): building one parses the
# whole CA bundle, about 25 ms of CPU, and an SSLContext is safe to share between clients.
_SSL_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_SSL_CONTEXTS_LOCK = threading.Lock()


class AsanaHook(BaseHook):
    """
    Talk to Asana's REST API with an ``asana`` connection.

    The connection's password holds the token (personal access, service-account or OAuth access token),
    its host an optional API base URL (empty means ``https://app.asana.com/api/1.0``), and its extra
    ``workspace`` the default organization gid. Connections made for the official
    ``apache-airflow-providers-asana`` work unchanged. The connection is looked up on first use, never in
    ``__init__``.

    :param asana_conn_id: The Airflow connection id.
    """

    conn_name_attr = "asana_conn_id"
    default_conn_name = "asana_default"
    conn_type = "asana"
    hook_name = "Asana"

    def __init__(self, asana_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asana_conn_id = asana_conn_id
        self._async_client: httpx.AsyncClient | None = None

    # -- connection ---------------------------------------------------------------------------------

    @cached_property
    def settings(self) -> ConnectionSettings:
        """The parsed connection (looked up once, on first use)."""
        from airflow.sdk.log import mask_secret

        conn = self.get_connection(self.asana_conn_id)
        for secret in _token_forms(conn.password):
            mask_secret(secret)
        return ConnectionSettings.from_connection(conn, conn.extra_dejson)

    async def aget_settings(self) -> ConnectionSettings:
        """The parsed connection, looked up without blocking the event loop."""
        if "settings" not in self.__dict__:
            from airflow.sdk.log import amask_secret

            conn = await self.aget_connection(self.asana_conn_id)
            for secret in _token_forms(conn.password):
                await amask_secret(secret)
            settings = ConnectionSettings.from_connection(conn, await conn.aextra_dejson())
            self.__dict__["settings"] = settings
        return self.__dict__["settings"]

    @cached_property
    def session(self) -> requests.Session:
        """
        The hook's one ``requests.Session``: pooled, reused connections.

        Proxies and CA bundles still come from the environment (``HTTPS_PROXY``, ``NO_PROXY``,
        ``REQUESTS_CA_BUNDLE``); credentials from ``~/.netrc`` never replace the connection's token.
        """
        session = requests.Session()
        session.auth = _connection_token_only
        return session

    def get_conn(self) -> requests.Session:
        """Return the hook's HTTP session."""
        return self.session

    # -- generic calls ------------------------------------------------------------------------------

    def run(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        """
        Call any Asana endpoint with the hook's authentication, error mapping and retry policy.

        :param method: HTTP method.
        :param endpoint: Path below the API base URL, e.g. ``/users/me``.
        :param params: Query parameters (lists are joined with commas, booleans sent as true/false).
        :param json: JSON request body, e.g. ``{"data": {...}}``.
        :return: The decoded JSON answer (``{"data": ...}``).
        :raises AsanaAPIError: Asana answered an error, or no answer came after the retries.
        """
        request = build_request(self.settings, method, endpoint, params=params, json_body=json)
        for attempt in tenacity.Retrying(**retry_kwargs(self.settings, request)):
            with attempt:
                return self._send(request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    async def arun(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        """Async twin of :meth:`run`: same requests, errors and retries, without blocking the event loop."""
        settings = await self.aget_settings()
        request = build_request(settings, method, endpoint, params=params, json_body=json)
        async for attempt in tenacity.AsyncRetrying(**retry_kwargs(settings, request)):
            with attempt:
                return await self._asend(settings, request)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def paginate(
        self, endpoint: str, *, params: dict[str, Any] | None = None, limit: int = 100
    ) -> Iterator[dict[str, Any]]:
        """
        Iterate over every item of a paginated Asana list, following ``next_page`` offsets.

        :param endpoint: A list endpoint, e.g. ``/workspaces``.
        :param params: Extra query parameters.
        :param limit: Page size, 1 to 100.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
            raise ValueError(f"limit must be an integer from 1 to 100 (Asana's page size bounds); got {limit!r}.")
        query: dict[str, Any] = {**(params or {}), "limit": limit}
        while True:
            body = self.run("GET", endpoint, params=query)
            yield from body.get("data") or []
            offset = (body.get("next_page") or {}).get("offset")
            if not offset:
                return
            query["offset"] = offset

    # -- Asana resources ----------------------------------------------------------------------------

    def list_workspaces(self, *, opt_fields: Sequence[str] | str | None = WORKSPACE_FIELDS) -> list[dict]:
        """
        List the workspaces and organizations the token sees: where to find an export's organization gid.

        :param opt_fields: Fields to return; ``None`` means the default, name and is_organization.
        """
        fields = WORKSPACE_FIELDS if opt_fields is None else opt_fields
        return list(self.paginate("/workspaces", params={"opt_fields": fields}))

    def create_organization_export(
        self,
        organization_gid: str | None = None,
        *,
        opt_fields: Sequence[str] | str | None = EXPORT_FIELDS,
        opt_pretty: bool = False,
    ) -> dict[str, Any]:
        """
        Ask Asana to start an export of the whole organization.

        A read timeout is not retried (Asana may have started the export); 429, 503 and connection
        failures are.

        :param organization_gid: The organization's gid; defaults to the connection's ``workspace`` extra.
        :param opt_fields: Fields to return; every OrganizationExport field by default (also for ``None``).
        :param opt_pretty: Ask Asana for pretty-printed JSON.
        :return: The OrganizationExport: gid, resource_type, created_at, state, download_url, organization.
        :raises AsanaAPIError: Asana refused, or answered without an export and its gid.
        """
        organization_gid = self.resolve_organization_gid(organization_gid)
        body = self.run(
            "POST",
            "/organization_exports",
            params=_export_params(opt_fields, opt_pretty),
            json={"data": {"organization": organization_gid}},
        )
        return _export(body, opt_fields, "POST /organization_exports")

    def resolve_organization_gid(self, organization_gid: str | None = None) -> str:
        """
        The organization an export is asked for, checked, without any request to Asana.

        :param organization_gid: The organization's gid; defaults to the connection's ``workspace`` extra.
        :raises ValueError: neither is set, or the gid is not a gid.
        """
        if organization_gid is None:
            organization_gid = self.settings.workspace
            if organization_gid is None:
                raise ValueError(
                    f"organization_gid was not given and connection {self.asana_conn_id!r} has no 'workspace' "
                    "extra: pass organization_gid='<digits>' or set the extra. "
                    "AsanaHook().list_workspaces() lists the organizations the token sees."
                )
        return validate_gid(organization_gid, "organization_gid")

    def get_organization_export(
        self,
        export_gid: str,
        *,
        opt_fields: Sequence[str] | str | None = EXPORT_FIELDS,
        opt_pretty: bool = False,
    ) -> dict[str, Any]:
        """
        Read an organization export's state (and, once ``finished``, a fresh download URL).

        :param export_gid: The gid the create call returned.
        :param opt_fields: Fields to return; every OrganizationExport field by default (also for ``None``).
        :param opt_pretty: Ask Asana for pretty-printed JSON.
        :raises AsanaAPIError: Asana refused, or answered without an export and its gid.
        """
        export_gid = validate_gid(export_gid, "export_gid")
        endpoint = f"/organization_exports/{export_gid}"
        body = self.run("GET", endpoint, params=_export_params(opt_fields, opt_pretty))
        return _export(body, opt_fields, f"GET {endpoint}")

    async def aget_organization_export(
        self, export_gid: str, *, opt_fields: Sequence[str] | str | None = EXPORT_FIELDS
    ) -> dict[str, Any]:
        """Async twin of :meth:`get_organization_export`, for triggers."""
        export_gid = validate_gid(export_gid, "export_gid")
        endpoint = f"/organization_exports/{export_gid}"
        body = await self.arun("GET", endpoint, params=_export_params(opt_fields, False))
        return _export(body, opt_fields, f"GET {endpoint}")

    def download_organization_export(
        self,
        export_gid: str,
        destination: str | ObjectStoragePath,
        *,
        overwrite: bool = False,
        verify_gzip: bool = True,
    ) -> dict[str, Any]:
        """
        Stream a finished export's gzip into object storage, atomically, verified, resumable.

        :param export_gid: The export's gid; its state must be ``finished``.
        :param destination: Where the file lands: a path or URI ``ObjectStoragePath`` understands.
        :param overwrite: Replace an object already at ``destination``; if False, refuse before downloading.
        :param verify_gzip: Decode the whole gzip (every member, CRC and length) while it streams, so a
            corrupt export fails the task instead of landing. On by default: it runs on a second thread,
            alongside the download, and costs little wall time.
        :return: ``{"uri", "bytes", "sha256", "export_gid"}``, never the download URL.
        """
        from airflow_provider_asana.hooks._download import download_export

        return download_export(
            self, validate_gid(export_gid, "export_gid"), destination, overwrite=overwrite, verify_gzip=verify_gzip
        )

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with ``GET /users/me`` and, if the connection names a workspace, that the token sees it."""
        try:
            settings = self.settings
            me = self.run("GET", "/users/me", params={"opt_fields": "name,email,workspaces,workspaces.name"})["data"]
        except Exception as e:
            return False, str(e)
        who = me.get("name") or me.get("gid")
        if me.get("email"):
            who = f"{who} <{me['email']}>"
        message = f"Connected to {settings.base_url} as {who}."
        if settings.workspace is None:
            return True, message
        workspaces = {w.get("gid"): w.get("name") for w in me.get("workspaces") or []}
        if settings.workspace in workspaces:
            return True, f"{message} The token can see workspace {settings.workspace} ({workspaces[settings.workspace]})."
        return False, (
            f"{message} But the token cannot see workspace {settings.workspace} set in the connection's extra: "
            f"it sees {', '.join(sorted(map(str, workspaces))) or 'none'}. Fix the 'workspace' extra."
        )

    async def aclose(self) -> None:
        """Close the async HTTP client, if one was opened."""
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    # -- transports -------------------------------------------------------------------------------

    def _send(self, request: ApiRequest) -> dict[str, Any]:
        settings = self.settings
        try:
            response = self.session.request(
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

    async def _asend(self, settings: ConnectionSettings, request: ApiRequest) -> dict[str, Any]:
        client = self._async_client or await self._aget_async_client(settings)
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

    async def _aget_async_client(self, settings: ConnectionSettings) -> httpx.AsyncClient:
        # The TLS context is shared, and the first one is built on a worker thread: per client, on the loop,
        # 500 triggers starting together stalled the triggerer's event loop for seconds (25 ms each).
        context = _SSL_CONTEXTS.get(_ssl_key()) or await asyncio.to_thread(_ssl_context)
        if self._async_client is None:  # another coroutine of this hook may have made it meanwhile
            self._async_client = httpx.AsyncClient(
                verify=context,
                timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
                follow_redirects=False,
            )
        return self._async_client


def _ssl_key() -> tuple[str | None, str | None]:
    return os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")


def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context (certifi's bundle, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built once."""
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
    """True when urllib3 failed before a connection existed, i.e. nothing was sent."""
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))


def _connection_token_only(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """
    The session's ``auth``: leaves the request's own ``Authorization`` header (the connection's token) alone.

    A session without ``auth`` lets ``requests`` put ``~/.netrc`` credentials for the API host in its place
    (``Session.prepare_request`` calls ``get_netrc_auth`` when ``trust_env`` is on and no auth is set).
    Setting an auth turns off only that; ``trust_env`` stays on for proxies and CA bundles.
    """
    return request


def _token_forms(password: Any) -> list[str]:
    """The connection's password as stored and as sent (stripped): both are masked before any check."""
    if not isinstance(password, str):
        return []
    return [value for value in dict.fromkeys((password.strip(), password)) if value]


def _export_params(opt_fields: Sequence[str] | str | None, opt_pretty: bool) -> dict[str, Any]:
    if opt_fields is None:
        opt_fields = EXPORT_FIELDS
    fields = opt_fields if isinstance(opt_fields, str) else ",".join(opt_fields)
    return {"opt_fields": fields or None, "opt_pretty": True if opt_pretty else None}


def _export(body: dict[str, Any], opt_fields: Sequence[str] | str | None, call: str) -> dict[str, Any]:
    """The OrganizationExport in ``body``; :class:`AsanaAPIError` if there is none (a wrong host, a proxy)."""
    data = body.get("data")
    problem = _not_an_export(data)
    if problem:
        raise AsanaAPIError(
            f"Asana {call} answered with {problem}: there is no organization export gid. {NOT_ASANA_ADVICE}"
        )
    export = dict(data)
    if opt_fields is None or opt_fields == EXPORT_FIELDS:
        for key in _EXPORT_KEYS:
            export.setdefault(key, None)
    return export


def _not_an_export(data: Any) -> str | None:
    """What keeps an answer's ``data`` from being an OrganizationExport, or None if it is one."""
    if data is None:
        return "no 'data'"
    if not isinstance(data, dict):
        return f"a JSON {json_type(data)} as its 'data', not an object"
    gid = data.get("gid")
    if gid is None:
        return "an export without a 'gid'"
    if not is_gid(gid):
        return f"an export whose gid {gid!r:.40} is not a digit string"
    return None
