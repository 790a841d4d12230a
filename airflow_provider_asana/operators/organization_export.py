"""Operator that asks Asana to start an organization export, and optionally waits for it to finish."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from airflow.sdk import conf

from airflow_provider_asana.export_watch import DEFAULT_POLL_INTERVAL, ORGANIZATION_EXPORT
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.lineage import operator_lineage, organization_dataset
from airflow_provider_asana.operators.base import BaseAsanaCreateExportOperator
from airflow_provider_asana.triggers.organization_export import AsanaOrganizationExportTrigger

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage


class AsanaCreateOrganizationExportOperator(BaseAsanaCreateExportOperator):
    """
    Start an Asana organization export, optionally wait until it is ``finished``, and return its gid.

    With ``wait_for_completion=True`` one task starts the export and waits for it: with
    ``deferrable=True`` it defers at once to
    :class:`~airflow_provider_asana.triggers.organization_export.AsanaOrganizationExportTrigger` (the
    trigger the sensor waits in) and frees its worker slot; otherwise it polls on the worker. It returns
    the gid once the export is ``finished``. The wait follows the sensor's rules: an export that ends in
    ``error`` raises :class:`~airflow_provider_asana.exceptions.AsanaExportFailedError` (a retry starts a
    new export), a failure to ask Asana raises :class:`~airflow_provider_asana.exceptions.AsanaAPIError`
    (a retry re-attaches), and an export still running after ``timeout`` seconds raises
    :class:`~airflow_provider_asana.exceptions.AsanaExportTimeoutError`, which fails the task without
    retries, as a sensor's timeout does (clearing the task re-attaches to the export and waits again).
    Resuming from the trigger never asks Asana for another export. With ``wait_for_completion=False``
    (the default) it returns the gid at once, for
    :class:`~airflow_provider_asana.sensors.organization_export.AsanaOrganizationExportSensor` to wait.

    A retry of this task re-attaches to the export an earlier try started while that export is still
    ``pending`` or ``started`` (or reuses it once ``finished``) instead of starting another: Asana allows
    few concurrent exports and each can take hours. The gid is kept in the task's ``task_state_store``
    (the Task SDK's :class:`~airflow.sdk.ResumableJobMixin`); an export in ``error`` or unknown to Asana
    is replaced by a new one.

    **Never two exports where one was asked.** Right before the create request an "in doubt" marker
    (the try number and the time) is stored under the same key; the gid replaces it when Asana answers.
    A failure that proves Asana started nothing puts the store back as it was: the request never
    connected, or Asana answered 4xx (except 408) or 503. Any other failure (a read timeout, a dropped
    connection, 500/502/504, an unreadable answer, a worker killed mid-request) leaves the marker: Asana
    may have started an export, and it offers no way to find one without its gid. Such a try fails at
    once with :class:`~airflow.sdk.exceptions.AirflowFailException`, and so does a later try that finds
    the marker (after a worker crash), without asking Asana again. Clearing the task starts fresh: a
    marker left before the task was last cleared is ignored.

    The machinery (submit, marker, re-attach, wait) is
    :class:`~airflow_provider_asana.operators.base.BaseAsanaCreateExportOperator`'s, shared with the
    resource and graph export operators.

    OpenLineage (with the OpenLineage provider installed): the organization is the input
    (``asana://app.asana.com`` + ``organization/<gid>``, docs/lineage.md); the export stays in Asana, so
    there is no output: the transfer reports the file it lands.

    :param organization_gid: The organization to export (templated); defaults to the connection's
        ``workspace`` extra.
    :param asana_conn_id: The Airflow connection id (templated).
    :param resubmit_if_in_doubt: When the create request of an earlier try may have started an export,
        start another one anyway (logging a warning naming that try) instead of failing. Default False.
    :param durable: Re-attach on retries (default True); False starts a new export on every try and keeps
        no marker.
    :param wait_for_completion: Wait until the export is ``finished`` before returning (default False,
        the behaviour before this option: return at once and let a sensor wait).
    :param deferrable: Wait on the triggerer instead of a worker (with ``wait_for_completion``).
    :param poll_interval: Seconds (or a timedelta) between state checks while waiting; default 120, the
        sensor's (Asana suggests polling every few minutes).
    :param timeout: Seconds (or a timedelta) to wait for the export in one try before failing without
        retries; default ``[sensors] default_timeout``, the sensor's (7 days).
    """

    template_fields: Sequence[str] = ("organization_gid", "asana_conn_id")
    external_id_key = "asana_organization_export_gid"
    watch = ORGANIZATION_EXPORT
    trigger_class = AsanaOrganizationExportTrigger
    export_noun = "an organization export"

    def __init__(
        self,
        *,
        organization_gid: str | None = None,
        asana_conn_id: str = AsanaHook.default_conn_name,
        resubmit_if_in_doubt: bool = False,
        wait_for_completion: bool = False,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: timedelta | float = DEFAULT_POLL_INTERVAL,
        timeout: timedelta | float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            asana_conn_id=asana_conn_id,
            resubmit_if_in_doubt=resubmit_if_in_doubt,
            wait_for_completion=wait_for_completion,
            deferrable=deferrable,
            poll_interval=poll_interval,
            timeout=timeout,
            **kwargs,
        )
        self.organization_gid = organization_gid

    def submission(self) -> Callable[[], dict[str, Any]]:
        organization_gid = self.hook.resolve_organization_gid(self.organization_gid or None)
        return partial(self.hook.create_organization_export, organization_gid)

    def log_started(self, created: dict[str, Any]) -> None:
        organization = created.get("organization") or {}
        self.log.info(
            "Started Asana organization export %s of organization %s (%s); state %s.",
            created["gid"],
            organization.get("gid"),
            organization.get("name"),
            created.get("state"),
        )

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """Report the organization exported; known before the run, from the arguments and the connection."""
        organization_gid = self.hook.resolve_organization_gid(self.organization_gid or None)
        return operator_lineage([organization_dataset(self.hook.settings.base_url, organization_gid)], [])
