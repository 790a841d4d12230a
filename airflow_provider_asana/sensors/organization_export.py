"""Sensor that waits for an Asana organization export to finish, deferrable or not."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import conf

from airflow_provider_asana.export_watch import ORGANIZATION_EXPORT
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.sensors.base import BaseAsanaExportSensor
from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger


class AsanaOrganizationExportSensor(BaseAsanaExportSensor):
    """
    Wait until an Asana organization export is ``finished``; return its gid.

    Use it for an export started elsewhere (another Dag, a script). To start an export and wait for it in
    one task, use ``AsanaCreateOrganizationExportOperator(wait_for_completion=True)``
    (:mod:`airflow_provider_asana.operators.organization_export`).

    Keeps waiting on ``pending`` and ``started``. Two kinds of failure are told apart:

    * the export itself ended in ``error``: :class:`~airflow_provider_asana.exceptions.AsanaExportFailedError`,
      naming the export and its organization (a new export is needed);
    * Asana could not be asked (a missing or invalid connection, 401/403/404, 429 or 5xx past the retry
      budget, no answer) or answered a state this provider does not know:
      :class:`~airflow_provider_asana.exceptions.AsanaAPIError` with the hook's message (a retry may help).

    In deferrable mode the first check runs on the worker, exactly as a poke; while the export runs, the
    wait moves to :class:`~airflow_provider_asana.triggers.organization_export.AsanaOrganizationExportTrigger`
    and the worker slot is freed. With ``start_from_trigger=True`` there is no check on a worker: the
    scheduler hands the task straight to the triggerer. Airflow fixes a task's start-from-trigger arguments
    when the Dag is parsed, so that needs the gid itself (a literal), not a template or an upstream XCom.

    All modes treat ``soft_fail`` and ``never_fail`` as Airflow 3.3's poke mode does: ``never_fail`` skips
    on either kind of failure; ``soft_fail`` skips on a timeout only, so a failed export or a failure to
    ask still fails the task; a timeout fails under ``never_fail``. ``silent_fail`` (keep going after a
    failure to ask) applies to the checks on the worker, not to a trigger's event.

    :param export_gid: The export to wait for (templated), e.g. an upstream task's XCom.
    :param asana_conn_id: The Airflow connection id (templated).
    :param deferrable: Wait on the triggerer instead of a worker.
    :param start_from_trigger: Start on the triggerer, skipping the first check on a worker. Needs
        ``deferrable=True`` and a literal ``export_gid`` and ``asana_conn_id``; ``timeout`` becomes the
        trigger timeout. Default False.
    """

    watch = ORGANIZATION_EXPORT
    trigger_class = AsanaOrganizationExportTrigger
    template_fields: Sequence[str] = ("export_gid", "asana_conn_id")

    def __init__(
        self,
        *,
        export_gid: str,
        asana_conn_id: str = AsanaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            gid=export_gid,
            asana_conn_id=asana_conn_id,
            deferrable=deferrable,
            start_from_trigger=start_from_trigger,
            **kwargs,
        )
