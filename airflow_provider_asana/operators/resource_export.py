"""Operator that asks Asana to start a resource export (tasks, teams, messages), and optionally waits for it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from airflow_provider_asana.export_request import normalize_export_request_parameters
from airflow_provider_asana.export_watch import EXPORT_JOB
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.operators.base import BaseAsanaCreateExportOperator
from airflow_provider_asana.triggers.export_job import AsanaExportJobTrigger


class AsanaCreateResourceExportOperator(BaseAsanaCreateExportOperator):
    """
    Start an Asana resource export of a workspace, optionally wait until its job ``succeeded``; return the job gid.

    A resource export is Asana's incremental bulk export: tasks, teams and messages of one workspace,
    filtered (e.g. ``modified_at.after``), with chosen fields, as a gzip of JSON Lines. Asana delivers it
    through a job (``GET /jobs/{gid}``), whose gid this operator returns: the
    :class:`~airflow_provider_asana.sensors.export_job.AsanaExportJobSensor` and the
    :class:`~airflow_provider_asana.transfers.export_job_to_object_storage.AsanaExportJobToObjectStorageOperator`
    take it.

    The parameters are checked against Asana's spec when the task runs, before any request
    (:func:`~airflow_provider_asana.export_request.normalize_export_request_parameters`): an unknown
    resource type or filter, a filter on teams, a date-time without a time zone or a ``fields`` that is not
    a list of names fails with a ``ValueError`` naming the parameter. Asana runs one export per workspace at
    a time: a create refused for that (403) is retried for up to the connection's
    ``max_busy_workspace_wait`` seconds; run the tasks that start exports of one workspace in an Airflow
    pool with one slot to avoid it. Submitting, re-attaching on retries, the "in doubt" rule and the wait
    are those of
    :class:`~airflow_provider_asana.operators.organization_export.AsanaCreateOrganizationExportOperator`
    (:class:`~airflow_provider_asana.operators.base.BaseAsanaCreateExportOperator`), on the job's
    ``status``: a ``failed`` job raises
    :class:`~airflow_provider_asana.exceptions.AsanaExportFailedError`, and a retry starts a new export.

    :param export_request_parameters: (templated) One dict per resource type to export: ``resource_type``
        (``task``, ``team`` or ``message``), optional ``filters`` (``modified_at.after``,
        ``modified_at.before``, ``created_at.after``, ``created_at.before``: ISO 8601 text with a time zone,
        or aware datetimes; ``assignee.any``, ``assigned_by.any`` (tasks only), ``created_by.any``,
        ``commented_on_by.any``, ``followers.any``, ``liked_by.any``: lists of user gids; teams take no
        filters) and optional ``fields`` (a list of field names; without it, the type's default fields).
        Values inside it may be templates, e.g. ``"{{ data_interval_start }}"``.
    :param workspace_gid: The workspace to export (templated); defaults to the connection's ``workspace``
        extra.
    :param asana_conn_id: The Airflow connection id (templated).
    :param kwargs: ``resubmit_if_in_doubt``, ``durable``, ``wait_for_completion``, ``deferrable``,
        ``poll_interval``, ``timeout`` as for the organization export operator, and BaseOperator's.
    """

    template_fields: Sequence[str] = ("export_request_parameters", "workspace_gid", "asana_conn_id")
    external_id_key = "asana_resource_export_job_gid"
    watch = EXPORT_JOB
    trigger_class = AsanaExportJobTrigger
    export_noun = "a resource export"

    def __init__(
        self,
        *,
        export_request_parameters: list[dict[str, Any]],
        workspace_gid: str | None = None,
        asana_conn_id: str = AsanaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(asana_conn_id=asana_conn_id, **kwargs)
        self.export_request_parameters = export_request_parameters
        self.workspace_gid = workspace_gid

    def submission(self) -> Callable[[], dict[str, Any]]:
        parameters = normalize_export_request_parameters(self.export_request_parameters)
        workspace_gid = self.hook.resolve_workspace_gid(self.workspace_gid or None)
        return partial(self.hook.create_resource_export, parameters, workspace_gid)
