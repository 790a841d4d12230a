"""Sensor that waits for an Asana organization export to finish, deferrable or not."""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import AirflowException, AirflowSensorTimeout, AirflowSkipException, TaskDeferralTimeout
from airflow_provider_asana.exceptions import AsanaExportFailedError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.states import OrganizationExportState, describe_failed_export, describe_unknown_state
from airflow_provider_asana.triggers.organization_export import STATE_FIELDS, AsanaOrganizationExportTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Asana suggests polling exports "every few minutes".
DEFAULT_POKE_INTERVAL = 120.0


class AsanaOrganizationExportSensor(BaseSensorOperator):
    """
    Wait until an Asana organization export is ``finished``; return its gid.

    Fails on ``error`` with a message naming the export and its organization; keeps waiting on
    ``pending`` and ``started``. In deferrable mode it pokes once, then hands the wait to
    :class:`~airflow_provider_asana.triggers.organization_export.AsanaOrganizationExportTrigger` and
    frees its worker slot. ``timeout`` and ``soft_fail`` behave the same in both modes: a timed-out
    soft-fail sensor is skipped; an Asana error always fails the task.

    :param export_gid: The export to wait for (templated), e.g. ``create.output``.
    :param asana_conn_id: The Airflow connection id (templated).
    :param deferrable: Wait on the triggerer instead of a worker.
    """

    template_fields: Sequence[str] = ("export_gid", "asana_conn_id")

    def __init__(
        self,
        *,
        export_gid: str,
        asana_conn_id: str = AsanaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", DEFAULT_POKE_INTERVAL)
        super().__init__(**kwargs)
        self.export_gid = export_gid
        self.asana_conn_id = asana_conn_id
        self.deferrable = deferrable

    @cached_property
    def hook(self) -> AsanaHook:
        return AsanaHook(asana_conn_id=self.asana_conn_id)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        export = self.hook.get_organization_export(self.export_gid, opt_fields=STATE_FIELDS)
        state = export.get("state")
        self.log.info("Asana organization export %s is %s.", self.export_gid, state)
        if state == OrganizationExportState.FINISHED:
            return PokeReturnValue(is_done=True, xcom_value=self.export_gid)
        if state == OrganizationExportState.ERROR:
            raise AsanaExportFailedError(describe_failed_export(export))
        if state not in OrganizationExportState.active_states():
            raise AirflowException(describe_unknown_state(self.export_gid, state))
        return False

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return self.export_gid
        self.defer(
            trigger=AsanaOrganizationExportTrigger(
                export_gid=self.export_gid,
                asana_conn_id=self.asana_conn_id,
                poll_interval=self.poke_interval,
                end_time=time.time() + self.timeout,
            ),
            method_name="execute_complete",
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: validate its event; return the export gid or raise."""
        if not isinstance(event, dict) or event.get("status") not in ("success", "error", "timeout"):
            raise AirflowException(
                f"{type(self).__name__} resumed with an invalid trigger event {event!r}; expected a dict with "
                "status 'success', 'error' or 'timeout'."
            )
        message = event.get("message") or ""
        if event["status"] == "timeout":
            raise self._timed_out(message)
        if event["status"] == "error":
            if self.never_fail:
                raise AirflowSkipException(f"Skipping due to never_fail: {message}")
            raise AsanaExportFailedError(message)
        self.log.info(message)
        return self.export_gid

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        # BaseSensorOperator turns every AirflowException into a skip under soft_fail; soft_fail is for
        # timeouts only, an Asana error must fail the task.
        try:
            return BaseOperator.resume_execution(self, next_method, next_kwargs, context)
        except TaskDeferralTimeout as e:
            raise self._timed_out(str(e)) from e

    def _timed_out(self, message: str) -> AirflowException:
        message = f"Sensor timed out after {self.timeout} s: {message}"
        return AirflowSkipException(message) if self.soft_fail else AirflowSensorTimeout(message)
