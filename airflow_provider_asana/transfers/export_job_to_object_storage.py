"""Transfer a succeeded Asana resource or graph export into object storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_asana.export_request import normalize_export_request_parameters, resource_types
from airflow_provider_asana.gids import validate_gid
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.transfers.landing import announce, as_bool

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath


class AsanaExportJobToObjectStorageOperator(BaseOperator):
    """
    Stream a succeeded resource or graph export (a gzip of JSON Lines, or of JSON) to a file or object store.

    The organization export transfer's guarantees, for an export job
    (:meth:`AsanaHook.download_job_export`): the job is read first (nothing is written unless it
    ``succeeded``), a fresh download URL is asked of the job right before the download and again whenever it
    expires, the download resumes where a connection broke, the gzip is verified while it streams, and the
    file appears at ``destination`` only once complete and checked. Each :class:`~airflow.sdk.Asset` in
    ``outlets``, or reference to one, gets an event whose extra is the task's result.

    The result says what the file is, for a loader that reads it next: ``created_at`` and ``completed_at``
    are Asana's (every object in the file is as it was somewhere between the two: the next incremental
    export can ask for ``modified_at.after`` this ``created_at``), and, when ``export_request_parameters``
    is given, which resource types and filters it was asked with (Asana's job does not say).

    :param job_gid: The job's gid (templated), e.g. the XCom of
        :class:`~airflow_provider_asana.operators.resource_export.AsanaCreateResourceExportOperator` or
        :class:`~airflow_provider_asana.operators.graph_export.AsanaCreateGraphExportOperator`; the job must
        have ``succeeded``.
    :param destination: Where the file lands (templated): an absolute path or a URI that
        :class:`~airflow.sdk.ObjectStoragePath` understands, such as
        ``s3://aws_conn_id@bucket/asana/tasks.jsonl.gz``.
    :param asana_conn_id: The Asana connection id (templated).
    :param overwrite: (templated: a bool or ``"true"``/``"false"``) Replace an object already at
        ``destination``; if False (the default) the task fails before downloading when something is there.
    :param verify_gzip: (templated like ``overwrite``) Decode the whole gzip while it streams (default on).
    :param export_request_parameters: (templated) The parameters the resource export was created with (the
        create operator's), to record in the result; checked as the create operator checks them. None (the
        default) records None.
    :return: ``{"uri", "bytes", "sha256", "job_gid", "export_gid", "kind", "created_at", "completed_at",
        "resource_types", "export_request_parameters"}``: :meth:`AsanaHook.download_job_export`'s result,
        with the resource types asked for (each once) and the parameters as sent to Asana (never the
        download URL).
    """

    template_fields: Sequence[str] = (
        "job_gid",
        "destination",
        "asana_conn_id",
        "overwrite",
        "verify_gzip",
        "export_request_parameters",
    )

    def __init__(
        self,
        *,
        job_gid: str,
        destination: str | ObjectStoragePath,
        asana_conn_id: str = AsanaHook.default_conn_name,
        overwrite: bool | str = False,
        verify_gzip: bool | str = True,
        export_request_parameters: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.job_gid = job_gid
        self.destination = destination
        self.asana_conn_id = asana_conn_id
        self.overwrite = overwrite
        self.verify_gzip = verify_gzip
        self.export_request_parameters = export_request_parameters

    def execute(self, context: Context) -> dict[str, Any]:
        overwrite = as_bool(self.overwrite, "overwrite")
        verify_gzip = as_bool(self.verify_gzip, "verify_gzip")
        job_gid = validate_gid(self.job_gid, "job_gid")
        parameters = (
            None
            if self.export_request_parameters is None
            else normalize_export_request_parameters(self.export_request_parameters)
        )
        hook = AsanaHook(asana_conn_id=self.asana_conn_id)
        landed = hook.download_job_export(
            job_gid, self.destination, overwrite=overwrite, verify_gzip=verify_gzip
        )
        result = {
            **landed,
            "resource_types": None if parameters is None else resource_types(parameters),
            "export_request_parameters": parameters,
        }
        announce(context, self.outlets, result)
        return result
