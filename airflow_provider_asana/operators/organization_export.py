"""Operator that asks Asana to start an organization export."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ResumableJobMixin
from airflow_provider_asana.exceptions import AsanaAPIError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.states import OrganizationExportState

if TYPE_CHECKING:
    from airflow.sdk import Context


class AsanaCreateOrganizationExportOperator(ResumableJobMixin, BaseOperator):
    """
    Start an Asana organization export and return its gid (the XCom that feeds the sensor and transfer).

    A retry of this task re-attaches to the export an earlier try started while that export is still
    ``pending`` or ``started`` (or reuses it once ``finished``) instead of starting another: Asana allows
    few concurrent exports and each can take hours. The gid is kept in the task's ``task_state_store``
    (the Task SDK's :class:`~airflow.sdk.ResumableJobMixin`); an export in ``error`` or unknown to Asana
    is replaced by a new one.

    :param organization_gid: The organization to export (templated); defaults to the connection's
        ``workspace`` extra.
    :param asana_conn_id: The Airflow connection id (templated).
    :param durable: Re-attach on retries (default True); False starts a new export on every try.
    """

    template_fields: Sequence[str] = ("organization_gid", "asana_conn_id")
    external_id_key = "asana_organization_export_gid"

    def __init__(
        self,
        *,
        organization_gid: str | None = None,
        asana_conn_id: str = AsanaHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.organization_gid = organization_gid
        self.asana_conn_id = asana_conn_id

    @cached_property
    def hook(self) -> AsanaHook:
        return AsanaHook(asana_conn_id=self.asana_conn_id)

    def execute(self, context: Context) -> str:
        return self.execute_resumable(context)

    def submit_job(self, context: Context) -> str:
        export = self.hook.create_organization_export(self.organization_gid or None)
        organization = export.get("organization") or {}
        self.log.info(
            "Started Asana organization export %s of organization %s (%s); state %s.",
            export["gid"],
            organization.get("gid"),
            organization.get("name"),
            export.get("state"),
        )
        return export["gid"]

    def get_job_status(self, external_id: Any, context: Context) -> str:
        try:
            return self.hook.get_organization_export(str(external_id), opt_fields=["state"])["state"] or ""
        except AsanaAPIError as e:
            if e.status_code == 404:
                self.log.warning("The export %s an earlier try started is unknown to Asana.", external_id)
                return "unknown"
            raise

    def is_job_active(self, status: str) -> bool:
        return status in OrganizationExportState.active_states()

    def is_job_succeeded(self, status: str) -> bool:
        return status == OrganizationExportState.FINISHED

    def poll_until_complete(self, external_id: Any, context: Context) -> str:
        # Waiting is the sensor's job, on the triggerer; this operator only submits (or re-attaches).
        return str(external_id)

    def get_job_result(self, external_id: Any, context: Context) -> str:
        return str(external_id)
