"""Trigger that waits, on the triggerer's event loop, for an organization export to end."""

from __future__ import annotations

from typing import Any

from airflow_provider_asana.export_watch import (
    DEFAULT_POLL_INTERVAL,
    ERROR,
    EVENT_STATUSES,
    FAILED,
    ORGANIZATION_EXPORT,
    STATE_FIELDS,
    SUCCESS,
    TIMEOUT,
    raise_for_outcome,
    validate_event,
)
from airflow_provider_asana.triggers.base import AsanaExportWaitTrigger

__all__ = [
    "DEFAULT_POLL_INTERVAL",
    "ERROR",
    "EVENT_STATUSES",
    "FAILED",
    "STATE_FIELDS",
    "SUCCESS",
    "TIMEOUT",
    "AsanaOrganizationExportTrigger",
    "export_outcome",
    "raise_for_outcome",
    "validate_event",
]


def export_outcome(export_gid: str, export: dict[str, Any]) -> tuple[str, str] | None:
    """
    Judge an export's state: ``None`` while it runs, else an event status and its message.

    Shared by the sensor's poke, the operator's polling wait and the trigger, so all judge a state alike.
    """
    return ORGANIZATION_EXPORT.outcome(export_gid, export)


class AsanaOrganizationExportTrigger(AsanaExportWaitTrigger):
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

    watch = ORGANIZATION_EXPORT

    def __init__(
        self, export_gid: str, asana_conn_id: str, poll_interval: float, end_time: float | None = None
    ) -> None:
        super().__init__(asana_conn_id, poll_interval, end_time)
        self.export_gid = export_gid

    @property
    def gid(self) -> str:
        return self.export_gid
