"""Trigger that waits, on the triggerer's event loop, for an organization export to end."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaExportFailedError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.states import (
    OrganizationExportState,
    describe_failed_export,
    describe_still_running,
    describe_unknown_state,
)

#: What the trigger asks for: the state and who the export belongs to, never the download URL.
STATE_FIELDS = ("state", "organization", "organization.name")

#: Trigger event statuses. ``failed`` is the export's own ``error`` state; ``error`` is a failure to ask
#: Asana (connection missing or invalid, 401/403/404, 429 or 5xx past the retry budget, no answer, or a
#: state this provider does not know).
SUCCESS, FAILED, ERROR, TIMEOUT = "success", "failed", "error", "timeout"
EVENT_STATUSES = (SUCCESS, FAILED, ERROR, TIMEOUT)

#: Seconds between state checks, for the sensor and the operator alike: Asana suggests polling exports
#: "every few minutes".
DEFAULT_POLL_INTERVAL = 120.0


def export_outcome(export_gid: str, export: dict[str, Any]) -> tuple[str, str] | None:
    """
    Judge an export's state: ``None`` while it runs, else an event status and its message.

    Shared by the sensor's poke, the operator's polling wait and the trigger, so all judge a state alike.
    """
    state = export.get("state")
    if state == OrganizationExportState.FINISHED:
        return SUCCESS, f"Asana organization export {export_gid} is finished."
    if state == OrganizationExportState.ERROR:
        return FAILED, describe_failed_export(export)
    if state not in OrganizationExportState.active_states():
        return ERROR, describe_unknown_state(export_gid, state)
    return None


def validate_event(event: Any, resumed: str) -> dict[str, Any]:
    """
    Check the event a task resumed with; return it with ``message`` a str and ``status_code`` an int or None.

    :param resumed: The class of the task that resumed, for the message.
    :raises AirflowException: the event is not one this trigger yields.
    """
    if (
        not isinstance(event, dict)
        or event.get("status") not in EVENT_STATUSES
        or not isinstance(event.get("export_gid"), str)
    ):
        raise AirflowException(
            f"{resumed} resumed with an invalid trigger event {event!r}; expected a dict with an export_gid "
            f"and status {', '.join(map(repr, EVENT_STATUSES))}."
        )
    status_code = event.get("status_code")
    return {
        **event,
        "message": str(event.get("message") or ""),
        "status_code": status_code if isinstance(status_code, int) else None,
    }


def raise_for_outcome(status: str, message: str, status_code: int | None = None) -> None:
    """
    Return for a ``finished`` export (``success``); raise for a failed export or a failure to ask Asana.

    ``timeout`` is the caller's to judge (a sensor and an operator end a wait differently).

    :raises AsanaExportFailedError: the export itself ended in ``error``.
    :raises AsanaAPIError: Asana could not be asked, or answered a state this provider does not know.
    """
    if status == FAILED:
        raise AsanaExportFailedError(message)
    if status == ERROR:
        raise AsanaAPIError(message, status_code=status_code)
    if status != SUCCESS:
        raise AssertionError(f"unhandled export status {status!r}")


class AsanaOrganizationExportTrigger(BaseTrigger):
    """
    Poll an organization export until it is ``finished`` or ``error``, or ``end_time`` passes.

    Uses the hook's async path (async connection lookup, httpx, the shared retry policy), so it never
    blocks the event loop. It yields exactly one event and returns:
    ``{"status": ..., "export_gid": ..., "message": ..., "status_code": ...}`` where ``status`` is

    * ``"success"``: the export is ``finished``;
    * ``"failed"``: the export itself ended in ``error``;
    * ``"error"``: Asana could not be asked (the connection is missing or invalid, 401/403/404, 429 or 5xx
      past the retry budget, no answer) or answered a state this provider does not know; ``status_code``
      is the HTTP status if there was one. This never crashes the trigger;
    * ``"timeout"``: the export was still running at ``end_time``.

    The message never holds the token or a download URL.

    :param export_gid: The export to wait for.
    :param asana_conn_id: The Airflow connection id (the token is looked up, never serialized).
    :param poll_interval: Seconds between polls.
    :param end_time: Deadline as wall-clock epoch seconds, so a trigger re-created on another triggerer
        keeps the same deadline; None for none of its own (a sensor started from the triggerer, whose
        kwargs are fixed when the Dag is parsed, is ended by the task's trigger timeout instead).
    """

    def __init__(
        self, export_gid: str, asana_conn_id: str, poll_interval: float, end_time: float | None = None
    ) -> None:
        super().__init__()
        self.export_gid = export_gid
        self.asana_conn_id = asana_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "export_gid": self.export_gid,
                "asana_conn_id": self.asana_conn_id,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = AsanaHook(asana_conn_id=self.asana_conn_id)
        try:
            yield TriggerEvent(await self._wait(hook))
        finally:
            await hook.aclose()

    async def _wait(self, hook: AsanaHook) -> dict[str, Any]:
        while True:
            try:
                export = await hook.aget_organization_export(self.export_gid, opt_fields=STATE_FIELDS)
            except AsanaAPIError as e:
                return self._event(ERROR, str(e), status_code=e.status_code)
            except Exception as e:  # a missing or invalid connection must end the wait, not crash the trigger
                return self._event(
                    ERROR,
                    f"Could not ask Asana about organization export {self.export_gid} with connection "
                    f"{self.asana_conn_id!r}: {type(e).__name__}: {e}",
                )
            outcome = export_outcome(self.export_gid, export)
            if outcome is not None:
                return self._event(*outcome)
            state = export.get("state")
            remaining = math.inf if self.end_time is None else self.end_time - time.time()
            if remaining <= 0:
                return self._event(TIMEOUT, describe_still_running(self.export_gid, state))
            pause = min(self.poll_interval, remaining)
            self.log.info(
                "Asana organization export %s is %s; next check in %.0f s.", self.export_gid, state, pause
            )
            await asyncio.sleep(pause)

    def _event(self, status: str, message: str, *, status_code: int | None = None) -> dict[str, Any]:
        return {
            "status": status,
            "export_gid": self.export_gid,
            "message": message,
            "status_code": status_code,
        }
