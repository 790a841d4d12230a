"""What every Asana export sensor does: poke, defer, resume, with Airflow's poke-mode failure rules."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
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
from airflow_provider_asana.export_watch import (
    DEFAULT_POLL_INTERVAL,
    TIMEOUT,
    raise_for_outcome,
    validate_event,
)
from airflow_provider_asana.hooks.asana import AsanaHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_asana.export_watch import ExportWatch
    from airflow_provider_asana.triggers.base import AsanaExportWaitTrigger

_TEMPLATE_MARKERS = ("{{", "{%", "{#")


class BaseAsanaExportSensor(BaseSensorOperator):
    """
    Wait until an export ends well; return its gid. Subclasses say which kind.

    A subclass sets :attr:`watch` (how to read and judge its kind) and :attr:`trigger_class` (the trigger
    it defers to), and takes the gid under the watch's ``gid_key`` (``export_gid``, ``job_gid``), which it
    templates. The rules are this class's:

    * the export itself failed: :class:`~airflow_provider_asana.exceptions.AsanaExportFailedError`;
    * Asana could not be asked (a missing or invalid connection, 401/403/404, 429 or 5xx past the retry
      budget, no answer) or answered a state this provider does not know:
      :class:`~airflow_provider_asana.exceptions.AsanaAPIError` with the hook's message (a retry may help).

    In deferrable mode the first check runs on the worker, exactly as a poke; while the export runs, the
    wait moves to the trigger and the worker slot is freed. With ``start_from_trigger=True`` there is no
    check on a worker: the scheduler hands the task straight to the triggerer, which needs the gid itself
    (a literal), not a template or an upstream XCom. All modes treat ``soft_fail`` and ``never_fail`` as
    Airflow 3.3's poke mode does: ``never_fail`` skips on either kind of failure; ``soft_fail`` skips on a
    timeout only; a timeout fails under ``never_fail``. ``silent_fail`` applies to the checks on the worker,
    not to a trigger's event.

    :param gid: The export (or job) to wait for, stored under the watch's ``gid_key``.
    :param asana_conn_id: The Airflow connection id (templated).
    :param deferrable: Wait on the triggerer instead of a worker.
    :param start_from_trigger: Start on the triggerer, skipping the first check on a worker.
    """

    watch: ExportWatch
    #: Builds the trigger: ``trigger_class(gid, asana_conn_id=..., poll_interval=..., end_time=...)``.
    trigger_class: Callable[..., AsanaExportWaitTrigger]
    template_fields: Sequence[str] = ("asana_conn_id",)

    def __init__(
        self,
        *,
        gid: str,
        asana_conn_id: str = AsanaHook.default_conn_name,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        start_from_trigger: bool = False,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", DEFAULT_POLL_INTERVAL)
        super().__init__(**kwargs)
        setattr(self, self.watch.gid_key, gid)
        self.asana_conn_id = asana_conn_id
        self.deferrable = deferrable
        self.start_from_trigger = start_from_trigger
        if start_from_trigger:
            self.start_trigger_args = self._start_trigger_args()
        self._deadline: float | None = None

    @property
    def gid(self) -> str:
        """The gid waited for, as rendered (the attribute named by the watch's ``gid_key``)."""
        return getattr(self, self.watch.gid_key)

    def _start_trigger_args(self) -> StartTriggerArgs:
        """Build the trigger the scheduler starts this task in: fixed at parse time, so only from literals."""
        where = f"{type(self).__name__}(task_id={self.task_id!r})"
        if not self.deferrable:
            raise ValueError(
                f"{where}: start_from_trigger=True needs deferrable=True (it starts the wait on the "
                "triggerer)."
            )
        for name in (self.watch.gid_key, "asana_conn_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or any(marker in value for marker in _TEMPLATE_MARKERS):
                raise ValueError(
                    f"{where}: start_from_trigger=True needs {name} as a literal string, got {value!r}. "
                    "Airflow takes a task's start-from-trigger arguments as they are when the Dag is parsed "
                    "(the scheduler renders no template and pulls no XCom for them). Pass the value itself, "
                    "or leave start_from_trigger=False: the first check then runs on a worker, which "
                    "renders it."
                )
        if not self.gid.isdigit():
            noun = self.watch.gid_key.removesuffix("_gid")
            article = "an" if noun[:1] in ("a", "e", "i", "o", "u") else "a"
            raise ValueError(
                f"{where}: {self.watch.gid_key} must be {article} {noun} gid (digits only), got {self.gid!r}."
            )
        classpath, trigger_kwargs = self._trigger(None).serialize()
        return StartTriggerArgs(
            trigger_cls=classpath,
            trigger_kwargs=trigger_kwargs,
            next_method="execute_complete",
            next_kwargs=None,
            timeout=timedelta(seconds=self.timeout),
        )

    def _trigger(self, end_time: float | None) -> AsanaExportWaitTrigger:
        return self.trigger_class(
            self.gid, asana_conn_id=self.asana_conn_id, poll_interval=self.poke_interval, end_time=end_time
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
        watch = self.watch
        found = watch.read(self.hook, self.gid, watch.fields)
        self.log.info("%s is %s.", watch.label(self.gid, found), found.get(watch.status_key))
        outcome = watch.outcome(self.gid, found)
        if outcome is not None:
            return PokeReturnValue(is_done=True, xcom_value=self._conclude(*outcome))
        if self.deferrable:
            self.defer(
                trigger=self._trigger(self._deadline or time.time() + self.timeout),
                method_name="execute_complete",
            )
        return False

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: validate its event; return the gid or raise."""
        event = validate_event(event, type(self).__name__, self.watch.gid_key)
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
        """Return the gid for an export that ended well, or raise for a failed one or a failure to ask."""
        raise_for_outcome(status, message, status_code)
        self.log.info(message)
        return self.gid

    def _skip_if_never_fail(self, error: Exception) -> None:
        """Skip a failed check under ``never_fail``, as BaseSensorOperator does for a poke."""
        if self.never_fail:
            raise AirflowSkipException(f"Skipping due to never_fail is set to True: {error}") from error

    def _timed_out(self, message: str) -> AirflowException:
        message = f"Sensor timed out after {self.timeout} s: {message}"
        return AirflowSkipException(message) if self.soft_fail else AirflowSensorTimeout(message)
