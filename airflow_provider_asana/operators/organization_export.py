"""Operator that asks Asana to start an organization export, and optionally waits for it to finish."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ResumableJobMixin, conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaExportTimeoutError, AsanaTransportError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.retry import RETRYABLE_POST_STATUSES
from airflow_provider_asana.states import (
    OrganizationExportState,
    describe_still_running,
    describe_unknown_state,
)
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

#: The statuses :meth:`AsanaCreateOrganizationExportOperator.get_job_status` gives an in-doubt marker: neither
#: active nor succeeded, so the mixin submits a new export.
IN_DOUBT = "in doubt"
IN_DOUBT_BEFORE_CLEAR = "in doubt before the task was cleared"
UNKNOWN_TO_ASANA = "unknown"


class AsanaCreateOrganizationExportOperator(ResumableJobMixin, BaseOperator):
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
        super().__init__(**kwargs)
        self.organization_gid = organization_gid
        self.asana_conn_id = asana_conn_id
        self.resubmit_if_in_doubt = resubmit_if_in_doubt
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.poll_interval = _seconds(self, "poll_interval", poll_interval, positive=True)
        if timeout is None:
            timeout = conf.getfloat("sensors", "default_timeout")
        self.timeout = _seconds(self, "timeout", timeout, positive=False)

    @cached_property
    def hook(self) -> AsanaHook:
        return AsanaHook(asana_conn_id=self.asana_conn_id)

    def execute(self, context: Context) -> str:
        return self.execute_resumable(context)

    def submit_job(self, context: Context) -> str:
        # Everything that can fail without a request fails here, before the marker is written.
        organization_gid = self.hook.resolve_organization_gid(self.organization_gid or None)
        store = context.get("task_state_store") if self.durable else None
        previous = store.get(self.external_id_key) if store is not None else None
        marker = _in_doubt_marker(context)
        if store is not None:
            store.set(self.external_id_key, marker)
        try:
            export = self.hook.create_organization_export(organization_gid)
        except Exception as e:
            if _started_nothing(e):
                if store is not None:
                    _restore(store, self.external_id_key, previous)
                raise
            marker["error"] = str(e)
            if store is not None:
                store.set(self.external_id_key, marker)
            if self.resubmit_if_in_doubt or not self.durable:
                raise
            raise AirflowFailException(_describe_in_doubt(marker)) from e
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
        """
        Return the state of the export an earlier try stored, or what to do about an in-doubt marker.

        :raises AirflowFailException: an earlier try of this run may have started an export whose gid
            never came back, and ``resubmit_if_in_doubt`` is False.
        :raises AsanaAPIError: Asana could not be asked, or gave no state this operator knows.
        """
        if _is_marker(external_id):
            return self._judge_in_doubt(external_id, context)
        try:
            export = self.hook.get_organization_export(str(external_id), opt_fields=["state"])
        except AsanaAPIError as e:
            if e.status_code == 404:
                self.log.warning("The export %s an earlier try started is unknown to Asana.", external_id)
                return UNKNOWN_TO_ASANA
            raise
        state = export.get("state")
        if state not in {s.value for s in OrganizationExportState}:
            raise AsanaAPIError(
                f"{describe_unknown_state(str(external_id), state)} An earlier try started it, so this try "
                "neither re-attaches to it nor starts another. Retry the task later; if it persists, "
                "upgrade the provider or report the state."
            )
        return state

    def _judge_in_doubt(self, marker: dict[str, Any], context: Context) -> str:
        if _before_last_clear(marker, context, self.retries or 0):
            self.log.info(
                "Try %s may have started an export, but the task has been cleared since: starting a new one.",
                marker.get("try_number"),
            )
            return IN_DOUBT_BEFORE_CLEAR
        if not self.resubmit_if_in_doubt:
            raise AirflowFailException(_describe_in_doubt(marker))
        self.log.warning(
            "Try %s asked Asana for an export at %s and got no clear answer, so an export may be running "
            "already; starting another because resubmit_if_in_doubt=True.",
            marker.get("try_number"),
            marker.get("in_doubt_since"),
        )
        return IN_DOUBT

    def is_job_active(self, status: str) -> bool:
        return status in OrganizationExportState.active_states()

    def is_job_succeeded(self, status: str) -> bool:
        return status == OrganizationExportState.FINISHED

    # ResumableJobMixin declares None, but on a re-attach execute_resumable returns this method's value as the
    # task's result (`return self.poll_until_complete(reconnect_to, context)`, Task SDK 1.3), so it returns
    # the gid: the XCom the sensor and the transfer read. test_retry_reattaches_to_the_running_export pins it.
    def poll_until_complete(self, external_id: Any, context: Context) -> str:  # type: ignore[override]
        """
        Wait for the export (started or re-attached to) if asked to; return its gid.

        Deferrable, this defers and the task resumes in :meth:`execute_complete`, which asks Asana for no
        other export. The mixin has stored the gid before this is called, so a retry re-attaches.
        """
        export_gid = str(external_id)
        if not self.wait_for_completion:
            return export_gid
        if self.deferrable:
            self.log.info("Waiting on the triggerer for Asana organization export %s.", export_gid)
            self.defer(
                trigger=AsanaOrganizationExportTrigger(
                    export_gid=export_gid,
                    asana_conn_id=self.asana_conn_id,
                    poll_interval=self.poll_interval,
                    end_time=time.time() + self.timeout,
                ),
                method_name="execute_complete",
            )
        return self._poll(export_gid)

    def get_job_result(self, external_id: Any, context: Context) -> str:
        return str(external_id)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> str:
        """Resume after the trigger fired: validate its event; return the export gid or raise."""
        event = validate_event(event, type(self).__name__)
        if event["status"] == TIMEOUT:
            raise self._timed_out(event["message"])
        return self._conclude(event["export_gid"], event["status"], event["message"], event["status_code"])

    def _poll(self, export_gid: str) -> str:
        """Poll on the worker until the export ends or ``timeout`` passes."""
        deadline = time.monotonic() + self.timeout
        while True:
            export = self.hook.get_organization_export(export_gid, opt_fields=STATE_FIELDS)
            outcome = export_outcome(export_gid, export)
            if outcome is not None:
                return self._conclude(export_gid, *outcome)
            state, remaining = export.get("state"), deadline - time.monotonic()
            if remaining <= 0:
                raise self._timed_out(describe_still_running(export_gid, state))
            pause = min(self.poll_interval, remaining)
            self.log.info(
                "Asana organization export %s is %s; next check in %.0f s.", export_gid, state, pause
            )
            time.sleep(pause)

    def _conclude(self, export_gid: str, status: str, message: str, status_code: int | None = None) -> str:
        raise_for_outcome(status, message, status_code)
        self.log.info(message)
        return export_gid

    def _timed_out(self, message: str) -> AsanaExportTimeoutError:
        return AsanaExportTimeoutError(
            f"{message} This task waited for it up to timeout={self.timeout:g} s and fails without retries, "
            "as a sensor's timeout does. The export may still finish in Asana: clear this task to re-attach "
            "to it and wait again (no new export is started), or raise timeout."
        )


def _seconds(task: BaseOperator, name: str, value: Any, *, positive: bool) -> float:
    """Read a duration argument given in seconds or as a timedelta; raise naming it if it is not one."""
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not (seconds > 0 if positive else seconds >= 0)
    ):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(
            f"{type(task).__name__}(task_id={task.task_id!r}): {name} must be seconds {bound} or a "
            f"timedelta, got {value!r}."
        )
    return float(seconds)


def _started_nothing(error: BaseException) -> bool:
    """
    Tell whether a failed create request provably started no export.

    The request never connected, or Asana refused it: a 4xx other than 408 (whose request may have
    been cut short after it was acted on), or 503 (Asana did not take it). Everything else (no answer,
    a dropped connection, 500/502/504, an answer that could not be read, an unexpected error) may have
    come after Asana started the export.
    """
    if isinstance(error, AsanaTransportError):
        return error.kind == "connect"
    if isinstance(error, AsanaAPIError) and error.status_code is not None:
        status = error.status_code
        return status in RETRYABLE_POST_STATUSES or (400 <= status < 500 and status != 408)
    return False


def _in_doubt_marker(context: Context) -> dict[str, Any]:
    ti = context.get("ti")
    return {
        "in_doubt_since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "try_number": getattr(ti, "try_number", None),
    }


def _is_marker(value: Any) -> bool:
    return isinstance(value, dict) and "in_doubt_since" in value


def _before_last_clear(marker: dict[str, Any], context: Context, retries: int) -> bool:
    """
    Tell whether the marker was left by a try before the task was last cleared.

    Clearing does not empty the task state store (Airflow 3.3), but it sets ``max_tries`` to the try
    number at the clear plus ``retries``, so the first try since the clear is ``max_tries - retries + 1``,
    as Airflow computes it for sensor reschedules.
    """
    ti = context.get("ti")
    try_number, max_tries = marker.get("try_number"), getattr(ti, "max_tries", None)
    if not isinstance(try_number, int) or not isinstance(max_tries, int):
        return False
    return try_number < max_tries - retries + 1


def _describe_in_doubt(marker: dict[str, Any]) -> str:
    which = f"Try {marker['try_number']}" if marker.get("try_number") is not None else "An earlier try"
    error = f" ({marker['error']})" if marker.get("error") else ""
    return (
        f"{which} of this task asked Asana to start an organization export at {marker.get('in_doubt_since')} "
        f"and got no clear answer{error}, so Asana may have started one. Asana offers no way to find an "
        "export without its gid (no endpoint lists exports), so this task does not ask for another, which "
        "could run beside the first. To start a new export, clear this task (a cleared task starts fresh); "
        "to have retries start one on their own, set resubmit_if_in_doubt=True."
    )


def _restore(store: Any, key: str, previous: Any) -> None:
    if previous is None:
        store.delete(key)
    else:
        store.set(key, previous)
