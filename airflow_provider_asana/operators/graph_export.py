"""Operator that asks Asana to start a graph export (a goal, project, portfolio or team), and optionally waits."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from airflow_provider_asana.export_watch import EXPORT_JOB
from airflow_provider_asana.gids import validate_gid
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.operators.base import BaseAsanaCreateExportOperator
from airflow_provider_asana.triggers.export_job import AsanaExportJobTrigger


class AsanaCreateGraphExportOperator(BaseAsanaCreateExportOperator):
    """
    Start an Asana graph export of a parent object, optionally wait until its job ``succeeded``; return the job gid.

    A graph export holds a goal, project, portfolio or team and what hangs below it, as a gzip of JSON.
    Asana delivers it through a job, whose gid this operator returns (for
    :class:`~airflow_provider_asana.sensors.export_job.AsanaExportJobSensor` and
    :class:`~airflow_provider_asana.transfers.export_job_to_object_storage.AsanaExportJobToObjectStorageOperator`).
    Submitting, re-attaching on retries, the "in doubt" rule and the wait are
    :class:`~airflow_provider_asana.operators.resource_export.AsanaCreateResourceExportOperator`'s.

    :param parent_gid: The gid of the goal, project, portfolio or team to export (templated).
    :param asana_conn_id: The Airflow connection id (templated).
    :param kwargs: ``resubmit_if_in_doubt``, ``durable``, ``wait_for_completion``, ``deferrable``,
        ``poll_interval``, ``timeout`` as for the organization export operator, and BaseOperator's.
    """

    template_fields: Sequence[str] = ("parent_gid", "asana_conn_id")
    external_id_key = "asana_graph_export_job_gid"
    watch = EXPORT_JOB
    trigger_class = AsanaExportJobTrigger
    export_noun = "a graph export"

    def __init__(
        self, *, parent_gid: str, asana_conn_id: str = AsanaHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(asana_conn_id=asana_conn_id, **kwargs)
        self.parent_gid = parent_gid

    def submission(self) -> Callable[[], dict[str, Any]]:
        parent_gid = validate_gid(self.parent_gid, "parent_gid")
        return partial(self.hook.create_graph_export, parent_gid)
