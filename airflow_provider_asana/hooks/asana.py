"""The Asana hook: authentication, requests and errors for Asana's API, and what the download engine needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
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
from airflow_provider_asana.export_request import normalize_export_request_parameters
from airflow_provider_asana.gids import validate_gid
from airflow_provider_asana.hooks._api import (
    EXPORT_FIELDS,
    JOB_FIELDS,
    ApiRetry,
    BusyWorkspaceRetry,
    build_request,
    export_from_answer,
    export_params,
    job_from_answer,
)
from airflow_provider_asana.hooks._http import asend, new_async_client, new_session, send, shared_tls_context
from airflow_provider_asana.retry import RetryPolicy
from airflow_provider_asana.states import (
    JobStatus,
    OrganizationExportState,
    describe_failed_export,
    describe_failed_job,
    export_job_field,
    export_job_kind,
    job_label,
)

if TYPE_CHECKING:
    import os

    import httpx
    import requests
    from airflow.sdk import ObjectStoragePath

__all__ = ["EXPORT_FIELDS", "JOB_FIELDS", "AsanaAPIError", "AsanaHook", "AsanaTransportError"]

#: The fields list_workspaces asks for by default.
WORKSPACE_FIELDS: tuple[str, ...] = ("name", "is_organization")
#: The file name suggested when a destination names a folder.
EXPORT_FILE_NAME = "organization_export.json.gz"
#: The file name suggested when an export job's destination names a folder.
EXPORT_JOB_FILE_NAME = "export.json.gz"
#: What a download of an export job reads from the job first: what the file is, never its URL.
JOB_DESCRIPTION_FIELDS: tuple[str, ...] = tuple(f for f in JOB_FIELDS if not f.endswith(".download_url"))


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
        return self._workspace_or_default(organization_gid, "organization_gid")

    def resolve_workspace_gid(self, workspace_gid: str | None = None) -> str:
        """
        Return the workspace a resource export is asked for, checked, without any request to Asana.

        :param workspace_gid: The workspace's gid; defaults to the connection's ``workspace`` extra.
        :raises ValueError: neither is set, or the gid is not a gid.
        """
        return self._workspace_or_default(workspace_gid, "workspace_gid")

    def _workspace_or_default(self, gid: str | None, argument: str) -> str:
        if gid is None:
            gid = self.settings.workspace
            if gid is None:
                raise ValueError(
                    f"{argument} was not given and connection {self.asana_conn_id!r} has no "
                    f"'workspace' extra: pass {argument}='<digits>' or set the extra. "
                    "AsanaHook().list_workspaces() lists the organizations the token sees."
                )
        return validate_gid(gid, argument)

    def create_resource_export(
        self, export_request_parameters: list[dict], workspace_gid: str | None = None
    ) -> dict[str, Any]:
        """
        Ask Asana to start a resource export: tasks, teams or messages of a workspace, filtered, as JSON Lines.

        The parameters are checked against Asana's spec before any request
        (:func:`~airflow_provider_asana.export_request.normalize_export_request_parameters`). Retries are
        the organization export's (a read timeout is not retried: Asana may have started the export), and
        a 403 because another export of the workspace is in progress is retried for up to the connection's
        ``max_busy_workspace_wait`` seconds.

        :param export_request_parameters: One dict per resource type: ``resource_type`` (``task``, ``team``
            or ``message``), optional ``filters`` (e.g. ``{"modified_at.after": "2026-01-01T00:00:00Z"}``;
            teams take none) and optional ``fields`` (a list of field names).
        :param workspace_gid: The workspace's gid; defaults to the connection's ``workspace`` extra.
        :return: The Job: gid, resource_type, resource_subtype, status, new_resource_export.
        :raises ValueError: A parameter or the gid is malformed (before any request).
        :raises AsanaExportAlreadyRunningError: Another export of the workspace outlasted the wait.
        :raises AsanaAPIError: Asana refused, or answered without a job and its gid.
        """
        parameters = normalize_export_request_parameters(export_request_parameters)
        workspace_gid = self.resolve_workspace_gid(workspace_gid)
        data = {"workspace": workspace_gid, "export_request_parameters": parameters}
        return self._create_export_job("/exports/resource", data, f"workspace {workspace_gid}")

    def create_graph_export(self, parent_gid: str) -> dict[str, Any]:
        """
        Ask Asana to start a graph export: a goal, project, portfolio or team and what hangs below it, as JSON.

        Retries as :meth:`create_resource_export`.

        :param parent_gid: The gid of the goal, project, portfolio or team to export.
        :return: The Job: gid, resource_type, resource_subtype, status, new_graph_export.
        :raises ValueError: The gid is malformed (before any request).
        :raises AsanaAPIError: Asana refused, or answered without a job and its gid.
        """
        parent_gid = validate_gid(parent_gid, "parent_gid")
        return self._create_export_job("/exports/graph", {"parent": parent_gid}, "the workspace")

    def _create_export_job(self, endpoint: str, data: dict[str, Any], scope: str) -> dict[str, Any]:
        """POST an export job's request; retry it while the workspace is busy with another export."""
        rule = BusyWorkspaceRetry(f"Asana POST {endpoint}", scope, self.settings.max_busy_workspace_wait)
        body = self.retry_policy.call(rule, self.run, "POST", endpoint, json={"data": data})
        return job_from_answer(body, f"POST {endpoint}")

    def get_job(self, job_gid: str, *, opt_fields: Sequence[str] | str | None = JOB_FIELDS) -> dict[str, Any]:
        """
        Read a job: a resource or graph export's status (and, once ``succeeded``, a fresh download URL).

        :param job_gid: The gid the create call returned.
        :param opt_fields: Fields to return; by default (also for ``None``) the status, the subtype and the
            export's gid, created_at, completed_at and download_url.
        :raises AsanaAPIError: Asana refused, or answered without a job and its gid.
        """
        job_gid = validate_gid(job_gid, "job_gid")
        endpoint = f"/jobs/{job_gid}"
        body = self.run("GET", endpoint, params=export_params(opt_fields, False, JOB_FIELDS))
        return job_from_answer(body, f"GET {endpoint}")

    async def aget_job(
        self, job_gid: str, *, opt_fields: Sequence[str] | str | None = JOB_FIELDS
    ) -> dict[str, Any]:
        """Async twin of :meth:`get_job`, for triggers."""
        job_gid = validate_gid(job_gid, "job_gid")
        endpoint = f"/jobs/{job_gid}"
        body = await self.arun("GET", endpoint, params=export_params(opt_fields, False, JOB_FIELDS))
        return job_from_answer(body, f"GET {endpoint}")

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
        return self._checked_download_url(
            export.get("download_url"), f"Asana organization export {export_gid}", "is finished", "export gid"
        )

    def export_job_download_url(self, job_gid: str) -> str:
        """
        Return a fresh download URL of a succeeded export job, checked: the download engine's ``fresh_url``.

        The URL is a bearer credential, valid for minutes: it is registered with the secrets masker here;
        never log it, return it from a task or store it.

        :param job_gid: The job's gid; its status must be ``succeeded``.
        :raises AsanaExportFailedError: The job ended ``failed``.
        :raises AsanaDownloadError: The job has not succeeded, is not an export job, has no URL, or its URL
            is not https.
        """
        job_gid = validate_gid(job_gid, "job_gid")
        job = self.get_job(job_gid)
        export = self._succeeded_export(job_gid, job)
        return self._checked_download_url(
            export.get("download_url"), job_label(job_gid, job), "succeeded", "job gid"
        )

    def _succeeded_export(self, job_gid: str, job: dict[str, Any]) -> dict[str, Any]:
        """Return the export a succeeded export job holds; raise if the job failed, runs, or is no export."""
        status = job.get("status")
        if status == JobStatus.FAILED:
            raise AsanaExportFailedError(describe_failed_job(job_gid, job))
        if status != JobStatus.SUCCEEDED:
            raise AsanaDownloadError(
                f"{job_label(job_gid, job)} has not succeeded yet (status {status!r}): there is nothing to "
                "download. Wait for it with AsanaExportJobSensor (deferrable), or create it with "
                "wait_for_completion=True, before this task."
            )
        field = export_job_field(job)
        export = job.get(field) if field else None
        if not isinstance(export, dict):
            raise AsanaDownloadError(
                f"Asana job {job_gid} (resource_subtype {job.get('resource_subtype')!r}) holds no resource "
                "or graph export, so there is no file to download. Pass the job gid that "
                "AsanaCreateResourceExportOperator or AsanaCreateGraphExportOperator returned."
            )
        return export

    def _checked_download_url(self, url: Any, label: str, done: str, handle: str) -> str:
        """
        Return an export's download URL once checked and masked; refuse a missing or clear-text one.

        :param label: Names the export in messages, e.g. ``"Asana organization export 123"``.
        :param done: Says it ended well, e.g. ``"is finished"``.
        :param handle: What to quote to Asana support, e.g. ``"export gid"``.
        """
        if not url or not isinstance(url, str):
            raise AsanaDownloadError(
                f"{label} {done} but Asana gave no download_url. Retry later; if it persists, contact Asana "
                f"support with the {handle}."
            )
        mask_url(url)
        if not travels_encrypted(url, allow_plain_http=self.settings.is_local_plain_http):
            parts = urlsplit(url)
            raise AsanaDownloadError(
                f"{label}'s download_url is not https (scheme "
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
        return self._download_source(
            partial(self.organization_export_download_url, export_gid),
            f"Asana organization export {export_gid}",
            "If it persists, start a new export or contact Asana support with the export gid.",
        )

    def export_job_source(self, job_gid: str) -> DownloadSource:
        """
        Describe a succeeded export job's file to the download engine: its URL re-read from the job each time.

        :param job_gid: The job's gid.
        """
        job_gid = validate_gid(job_gid, "job_gid")
        return self._download_source(
            partial(self.export_job_download_url, job_gid),
            f"Asana export job {job_gid}",
            "If it persists, start a new export or contact Asana support with the job gid.",
        )

    def _download_source(self, fresh_url: Callable[[], str], label: str, advice: str) -> DownloadSource:
        settings = self.settings
        return DownloadSource(
            fresh_url=fresh_url,
            label=label,
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retry=self.retry_policy,
            allow_plain_http=settings.is_local_plain_http,
            advice=advice,
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

    def download_job_export(
        self,
        job_gid: str,
        destination: str | os.PathLike[str] | ObjectStoragePath,
        *,
        overwrite: bool = False,
        verify_gzip: bool = True,
    ) -> dict[str, Any]:
        """
        Stream a succeeded resource or graph export's gzip into object storage, atomically, verified, resumable.

        What :meth:`download_organization_export` does, for an export job: the job is read first (what the
        file is; nothing is written if it has not succeeded), then :meth:`export_job_source` and
        ``destination`` go to the download engine, which asks the job for a fresh URL right before the
        download and whenever the URL expires.

        :param job_gid: The job's gid (what the create call returned); its status must be ``succeeded``.
        :param destination: Where the file lands: a path or URI ``ObjectStoragePath`` understands.
        :param overwrite: Replace an object already at ``destination``; if False, refuse before downloading.
        :param verify_gzip: Decode the whole gzip (every member, CRC and length) while it streams.
        :return: ``{"uri", "bytes", "sha256", "job_gid", "export_gid", "kind", "created_at",
            "completed_at"}``: where the file landed, its size and SHA-256, the job, the export it delivered
            (its gid; ``kind`` ``"resource_export"`` or ``"graph_export"``; Asana's ``created_at`` and
            ``completed_at``, ISO 8601 text: every object in the file is as it was somewhere between the
            two). Never the download URL.
        """
        job_gid = validate_gid(job_gid, "job_gid")
        target = Destination(destination, overwrite=overwrite, example_name=EXPORT_JOB_FILE_NAME)
        job = self.get_job(job_gid, opt_fields=JOB_DESCRIPTION_FIELDS)
        export = self._succeeded_export(job_gid, job)
        landed = download_file(self.export_job_source(job_gid), target, verify_gzip=verify_gzip)
        report_lineage(self, landed.uri)
        return {
            **landed.as_dict(),
            "job_gid": job_gid,
            "export_gid": export.get("gid"),
            "kind": export_job_kind(job),
            "created_at": export.get("created_at"),
            "completed_at": export.get("completed_at"),
        }

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
