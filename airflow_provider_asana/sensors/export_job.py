"""Sensor that waits for a resource or graph export's job to succeed, deferrable or not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import conf

from airflow_provider_asana.export_watch import EXPORT_JOB
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.sensors.base import BaseAsanaExportSensor
from airflow_provider_asana.triggers.export_job import AsanaExportJobTrigger


class AsanaExportJobSensor(BaseAsanaExportSensor):
    """
    Wait until a resource or graph export's job has ``succeeded``; return the job gid.

    Use it for a job started elsewhere; to start an export and wait for it in one task, use
    :class:`~airflow_provider_asana.operators.resource_export.AsanaCreateResourceExportOperator` or
    :class:`~airflow_provider_asana.operators.graph_export.AsanaCreateGraphExportOperator` with
    ``wait_for_completion=True``. The organization
    export sensor's rules, on the job's ``status``: it keeps waiting on ``not_started`` and ``in_progress``;
    a ``failed`` job raises :class:`~airflow_provider_asana.exceptions.AsanaExportFailedError` (start a new
    export); a failure to ask Asana, or a status this provider does not know, raises
    :class:`~airflow_provider_asana.exceptions.AsanaAPIError`. Deferrable, it waits in
    :class:`~airflow_provider_asana.triggers.export_job.AsanaExportJobTrigger`; ``start_from_trigger``,
    ``soft_fail``, ``never_fail`` and ``silent_fail`` behave as for
    :class:`~airflow_provider_asana.sensors.organization_export.AsanaOrganizationExportSensor`.

    :param job_gid: The job to wait for (templated), e.g. an upstream create task's XCom.
    :param asana_conn_id: The Airflow connection id (templated).
    :param deferrable: Wait on the triggerer instead of a worker.
    :param start_from_trigger: Start on the triggerer, skipping the first check on a worker. Needs
        ``deferrable=True`` and a literal ``job_gid`` and ``asana_conn_id``. Default False.
    """

    watch = EXPORT_JOB
    trigger_class = AsanaExportJobTrigger
    template_fields: Sequence[str] = ("job_gid", "asana_conn_id")

    def __init__(
        self,
        *,
        job_gid: str,
        asana_conn_id: str = AsanaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            gid=job_gid,
            asana_conn_id=asana_conn_id,
            deferrable=deferrable,
            start_from_trigger=start_from_trigger,
            **kwargs,
        )
