"""The Asana hook: authentication, requests and errors for Asana's API, and what the download engine needs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook

from airflow_provider_asana.connection import ConnectionSettings, token_forms
from airflow_provider_asana.download import Destination, DownloadSource, download_file, report_lineage
from airflow_provider_asana.download.secrets import mask_url, travels_encrypted
from airflow_provider_asana.exceptions import (
    AsanaAPIError,
    AsanaDownloadError,
    AsanaExportFailedError,
    AsanaTransportError,
)
from airflow_provider_asana.gids import validate_gid
from airflow_provider_asana.hooks._api import (
    EXPORT_FIELDS,
    ApiRetry,
    build_request,
    export_from_answer,
    export_params,
)
from airflow_provider_asana.hooks._http import asend, new_async_client, new_session, send, shared_tls_context
from airflow_provider_asana.retry import RetryPolicy
from airflow_provider_asana.states import OrganizationExportState, describe_failed_export

if TYPE_CHECKING:
    import os

    import httpx
    import requests
    from airflow.sdk import ObjectStoragePath

__all__ = ["EXPORT_FIELDS", "AsanaAPIError", "AsanaHook", "AsanaTransportError"]

#: The fields list_workspaces asks for by default.
WORKSPACE_FIELDS: tuple[str, ...] = ("name", "is_organization")
#: The file name suggested when a destination names a folder.
EXPORT_FILE_NAME = "organization_export.json.gz"


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
        """Return the parsed connection (looked up once, on first use)."""
        from airflow.sdk.log import mask_secret

        conn = self.get_connection(self.asana_conn_id)
        for secret in token_forms(conn.password):
            mask_secret(secret)
        return ConnectionSettings.from_connection(conn, conn.extra_dejson)

    async def aget_settings(self) -> ConnectionSettings:
        """Return the parsed connection, looked up without blocking the event loop."""
        if "settings" not in self.__dict__:
            from airflow.sdk.log import amask_secret

            conn = await self.aget_connection(self.asana_conn_id)
            for secret in token_forms(conn.password):
                await amask_secret(secret)
            settings = ConnectionSettings.from_connection(conn, await conn.aextra_dejson())
            self.__dict__["settings"] = settings
        return self.__dict__["settings"]

    @cached_property
    def retry_policy(self) -> RetryPolicy:
        """Return how this connection retries API calls and downloads: its :class:`RetryPolicy`."""
        return RetryPolicy.from_settings(self.settings)

    @cached_property
    def session(self) -> requests.Session:
        """
        Return the hook's one ``requests.Session``: pooled, reused connections.

        Proxies and CA bundles still come from the environment (``HTTPS_PROXY``, ``NO_PROXY``,
        ``REQUESTS_CA_BUNDLE``); credentials from ``~/.netrc`` never replace the connection's token.
        """
        return new_session()

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
        return self.retry_policy.call(ApiRetry(request), send, self.session, self.settings, request)

    async def arun(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, json: Any = None
    ) -> dict[str, Any]:
        """Async twin of :meth:`run`: same requests, errors and retries, without blocking the event loop."""
        settings = await self.aget_settings()
        request = build_request(settings, method, endpoint, params=params, json_body=json)
        client = await self._aclient(settings)
        return await self.retry_policy.call(ApiRetry(request), asend, client, settings, request)

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
            raise ValueError(
                f"limit must be an integer from 1 to 100 (Asana's page size bounds); got {limit!r}."
            )
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
            params=export_params(opt_fields, opt_pretty),
            json={"data": {"organization": organization_gid}},
        )
        return export_from_answer(body, opt_fields, "POST /organization_exports")

    def resolve_organization_gid(self, organization_gid: str | None = None) -> str:
        """
        Return the organization an export is asked for, checked, without any request to Asana.

        :param organization_gid: The organization's gid; defaults to the connection's ``workspace`` extra.
        :raises ValueError: neither is set, or the gid is not a gid.
        """
        if organization_gid is None:
            organization_gid = self.settings.workspace
            if organization_gid is None:
                raise ValueError(
                    f"organization_gid was not given and connection {self.asana_conn_id!r} has no "
                    "'workspace' extra: pass organization_gid='<digits>' or set the extra. "
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
        body = self.run("GET", endpoint, params=export_params(opt_fields, opt_pretty))
        return export_from_answer(body, opt_fields, f"GET {endpoint}")

    async def aget_organization_export(
        self, export_gid: str, *, opt_fields: Sequence[str] | str | None = EXPORT_FIELDS
    ) -> dict[str, Any]:
        """Async twin of :meth:`get_organization_export`, for triggers."""
        export_gid = validate_gid(export_gid, "export_gid")
        endpoint = f"/organization_exports/{export_gid}"
        body = await self.arun("GET", endpoint, params=export_params(opt_fields, False))
        return export_from_answer(body, opt_fields, f"GET {endpoint}")

    def organization_export_download_url(self, export_gid: str) -> str:
        """
        Return a fresh download URL of a finished export, checked: the download engine's ``fresh_url``.

        The URL is a bearer credential for the whole organization's data, valid for minutes: it is
        registered with the secrets masker here; never log it, return it from a task or store it.

        :param export_gid: The export's gid; its state must be ``finished``.
        :raises AsanaExportFailedError: The export ended in ``error``.
        :raises AsanaDownloadError: The export is not finished, has no URL, or its URL is not https.
        """
        export = self.get_organization_export(export_gid)
        state = export.get("state")
        organization = export.get("organization") or {}
        if state == OrganizationExportState.ERROR:
            raise AsanaExportFailedError(describe_failed_export(export))
        if state != OrganizationExportState.FINISHED:
            raise AsanaDownloadError(
                f"Asana organization export {export_gid} of organization {organization.get('gid', '?')} is "
                f"not finished yet (state {state!r}): there is nothing to download. Wait for it with "
                "AsanaOrganizationExportSensor (deferrable) before this task."
            )
        url = export.get("download_url")
        if not url or not isinstance(url, str):
            raise AsanaDownloadError(
                f"Asana organization export {export_gid} is finished but Asana gave no download_url. "
                "Retry later; if it persists, contact Asana support with the export gid."
            )
        mask_url(url)
        if not travels_encrypted(url, allow_plain_http=self.settings.is_local_plain_http):
            parts = urlsplit(url)
            raise AsanaDownloadError(
                f"Asana organization export {export_gid}'s download_url is not https (scheme "
                f"{parts.scheme or 'none'!r}, host {parts.hostname or '?'}): a presigned URL must not "
                "travel in clear text, so it was not fetched. Check that the connection's host is Asana's "
                "API (empty, or https://app.asana.com/api/1.0) and not a proxy rewriting URLs; plain http is "
                "accepted only from an API on this machine's loopback address (the emulator)."
            )
        return url

    def organization_export_source(self, export_gid: str) -> DownloadSource:
        """
        Describe a finished export's file to the download engine (:mod:`airflow_provider_asana.download`).

        :param export_gid: The export's gid.
        """
        export_gid = validate_gid(export_gid, "export_gid")
        settings = self.settings
        return DownloadSource(
            fresh_url=partial(self.organization_export_download_url, export_gid),
            label=f"Asana organization export {export_gid}",
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retry=self.retry_policy,
            allow_plain_http=settings.is_local_plain_http,
            advice="If it persists, start a new export or contact Asana support with the export gid.",
        )

    def download_organization_export(
        self,
        export_gid: str,
        destination: str | os.PathLike[str] | ObjectStoragePath,
        *,
        overwrite: bool = False,
        verify_gzip: bool = True,
    ) -> dict[str, Any]:
        """
        Stream a finished export's gzip into object storage, atomically, verified, resumable.

        A convenience for ``@task`` code that does what the transfer operator
        (``AsanaOrganizationExportToObjectStorageOperator``) does: :meth:`organization_export_source` and
        ``destination`` handed to the download engine, :func:`~airflow_provider_asana.download.download_file`.

        :param export_gid: The export's gid; its state must be ``finished``.
        :param destination: Where the file lands: a path or URI ``ObjectStoragePath`` understands.
        :param overwrite: Replace an object already at ``destination``; if False, refuse before downloading.
        :param verify_gzip: Decode the whole gzip (every member, CRC and length) while it streams, so a
            corrupt export fails the task instead of landing. On by default: it runs on a second thread,
            alongside the download, and costs little wall time.
        :return: ``{"uri", "bytes", "sha256", "export_gid"}``, never the download URL.
        """
        export_gid = validate_gid(export_gid, "export_gid")
        target = Destination(destination, overwrite=overwrite, example_name=EXPORT_FILE_NAME)
        landed = download_file(self.organization_export_source(export_gid), target, verify_gzip=verify_gzip)
        report_lineage(self, landed.uri)
        return {**landed.as_dict(), "export_gid": export_gid}

    def test_connection(self) -> tuple[bool, str]:
        """Check the token with ``GET /users/me``, and that it sees the workspace the connection names."""
        try:
            settings = self.settings
            me = self.run("GET", "/users/me", params={"opt_fields": "name,email,workspaces,workspaces.name"})[
                "data"
            ]
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
            name = workspaces[settings.workspace]
            return True, f"{message} The token can see workspace {settings.workspace} ({name})."
        return False, (
            f"{message} But the token cannot see workspace {settings.workspace} set in the connection's "
            f"extra: it sees {', '.join(sorted(map(str, workspaces))) or 'none'}. Fix the 'workspace' extra."
        )

    async def aclose(self) -> None:
        """Close the async HTTP client, if one was opened."""
        if self._async_client is not None:
            await self._async_client.aclose()
            self._async_client = None

    async def _aclient(self, settings: ConnectionSettings) -> httpx.AsyncClient:
        if self._async_client is None:
            context = await shared_tls_context()
            if self._async_client is None:  # another coroutine of this hook may have made it meanwhile
                self._async_client = new_async_client(settings, context)
        return self._async_client
