"""Sensor that waits for an Asana organization export to finish, deferrable or not."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, BaseSensorOperator, PokeReturnValue, conf
from airflow.sdk.exceptions import (
    AirflowException,
    AirflowSensorTimeout,
    AirflowSkipException,
    TaskDeferralError,
    TaskDeferralTimeout,
)
from airflow.triggers.base import StartTriggerArgs

from airflow_provider_asana.exceptions import AsanaAPIError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.triggers.organization_export import (
    DEFAULT_POLL_INTERVAL,
    STATE_FIELDS,
    TIMEOUT,
    AsanaOrganizationExportTrigger,
    export_outcome,
    raise_for_outcome,
    validate_event,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

_TEMPLATE_MARKERS = ("{{", "{%", "{#")


class AsanaOrganizationExportSensor(BaseSensorOperator):
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
        kwargs.setdefault("poke_interval", DEFAULT_POLL_INTERVAL)
        super().__init__(**kwargs)
        self.export_gid = export_gid
        self.asana_conn_id = asana_conn_id
        self.deferrable = deferrable
        self.start_from_trigger = start_from_trigger
        if start_from_trigger:
            self.start_trigger_args = self._start_trigger_args()
        self._deadline: float | None = None

    def _start_trigger_args(self) -> StartTriggerArgs:
        """Build the trigger the scheduler starts this task in: fixed at parse time, so only from literals."""
        where = f"{type(self).__name__}(task_id={self.task_id!r})"
        if not self.deferrable:
            raise ValueError(
                f"{where}: start_from_trigger=True needs deferrable=True (it starts the wait on the "
                "triggerer)."
            )
        for name in ("export_gid", "asana_conn_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or any(marker in value for marker in _TEMPLATE_MARKERS):
                raise ValueError(
                    f"{where}: start_from_trigger=True needs {name} as a literal string, got {value!r}. "
                    "Airflow takes a task's start-from-trigger arguments as they are when the Dag is parsed "
                    "(the scheduler renders no template and pulls no XCom for them). Pass the value itself, "
                    "or leave start_from_trigger=False: the first check then runs on a worker, which "
                    "renders it."
                )
        if not self.export_gid.isdigit():
            raise ValueError(
                f"{where}: export_gid must be an export gid (digits only), got {self.export_gid!r}."
            )
        trigger = AsanaOrganizationExportTrigger(
            export_gid=self.export_gid, asana_conn_id=self.asana_conn_id, poll_interval=self.poke_interval
        )
        classpath, trigger_kwargs = trigger.serialize()
        return StartTriggerArgs(
            trigger_cls=classpath,
            trigger_kwargs=trigger_kwargs,
            next_method="execute_complete",
            next_kwargs=None,
            timeout=timedelta(seconds=self.timeout),
        )

    @cached_property
    def hook(self) -> AsanaHook:
        return AsanaHook(asana_conn_id=self.asana_conn_id)

    def execute(self, context: Context) -> Any:
        # Both modes run BaseSensorOperator's loop, so the first check's failures are handled as a poke's;
        # in deferrable mode, poke() defers instead of returning False.
        self._deadline = time.time() + self.timeout
        return super().execute(context)

    def poke(self, context: Context) -> PokeReturnValue | bool:
        export = self.hook.get_organization_export(self.export_gid, opt_fields=STATE_FIELDS)
        self.log.info("Asana organization export %s is %s.", self.export_gid, export.get("state"))
        outcome = export_outcome(self.export_gid, export)
        if outcome is not None:
            return PokeReturnValue(is_done=True, xcom_value=self._conclude(*outcome))
        if self.deferrable:
            self.defer(
                trigger=AsanaOrganizationExportTrigger(
                    export_gid=self.export_gid,
                    asana_conn_id=self.asana_conn_id,
                    poll_interval=self.poke_interval,
                    end_time=self._deadline or time.time() + self.timeout,
                ),
                method_name="execute_complete",
            )
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: validate its event; return the export gid or raise."""
        event = validate_event(event, type(self).__name__)
        if event["status"] == TIMEOUT:
            raise self._timed_out(event["message"])
        try:
            return self._conclude(event["status"], event["message"], event["status_code"])
        except AsanaAPIError as e:
            self._skip_if_never_fail(e)
            raise

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Context) -> Any:
        # BaseSensorOperator would skip on any AirflowException under soft_fail, unlike its own poke mode;
        # execute_complete applies the poke-mode rules instead. A trigger timeout (start_from_trigger's
        # timeout, or execution_timeout) is the sensor's timeout.
        try:
            return BaseOperator.resume_execution(self, next_method, next_kwargs, context)
        except TaskDeferralTimeout as e:
            raise self._timed_out(str(e)) from e
        except TaskDeferralError as e:  # the trigger crashed: as a poke that raised
            self._skip_if_never_fail(e)
            raise

    def _conclude(self, status: str, message: str, status_code: int | None = None) -> str:
        """Return the gid for a finished export, or raise for a failed one or a failure to ask."""
        raise_for_outcome(status, message, status_code)
        self.log.info(message)
        return self.export_gid

    def _skip_if_never_fail(self, error: Exception) -> None:
        """Skip a failed check under ``never_fail``, as BaseSensorOperator does for a poke."""
        if self.never_fail:
            raise AirflowSkipException(f"Skipping due to never_fail is set to True: {error}") from error

    def _timed_out(self, message: str) -> AirflowException:
        message = f"Sensor timed out after {self.timeout} s: {message}"
        return AirflowSkipException(message) if self.soft_fail else AirflowSensorTimeout(message)
