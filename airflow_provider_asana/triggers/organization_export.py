"""Trigger that waits, on the triggerer's event loop, for an organization export to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from airflow_provider_asana.exceptions import AsanaAPIError
from airflow_provider_asana.hooks.asana import AsanaHook
from airflow_provider_asana.states import OrganizationExportState, describe_failed_export, describe_unknown_state

#: What the trigger asks for: the state and who the export belongs to, never the download URL.
STATE_FIELDS = ("state", "organization", "organization.name")


class AsanaOrganizationExportTrigger(BaseTrigger):
    """
    Poll an organization export until it is ``finished`` or ``error``, or ``end_time`` passes.

    Uses the hook's async path (async connection lookup, httpx, the shared retry policy), so it never
    blocks the event loop. It yields exactly one event,
    ``{"status": "success" | "error" | "timeout", "export_gid": ..., "message": ...}``, and returns.

    :param export_gid: The export to wait for.
    :param asana_conn_id: The Airflow connection id (the token is looked up, never serialized).
    :param poll_interval: Seconds between polls.
    :param end_time: Deadline as wall-clock epoch seconds, so a trigger re-created on another triggerer
        keeps the same deadline.
    """

    def __init__(self, export_gid: str, asana_conn_id: str, poll_interval: float, end_time: float) -> None:
        super().__init__()
        self.export_gid = export_gid
        self.asana_conn_id = asana_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = float(end_time)

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
            except (AsanaAPIError, ValueError) as e:
                return self._event("error", str(e))
            state = export.get("state")
            if state == OrganizationExportState.FINISHED:
                return self._event("success", f"Asana organization export {self.export_gid} is finished.")
            if state == OrganizationExportState.ERROR:
                return self._event("error", describe_failed_export(export))
            if state not in OrganizationExportState.active_states():
                return self._event("error", describe_unknown_state(self.export_gid, state))
            remaining = self.end_time - time.time()
            if remaining <= 0:
                return self._event(
                    "timeout",
                    f"Asana organization export {self.export_gid} was still {state!r} at the sensor's deadline.",
                )
            self.log.info("Asana organization export %s is %s; next check in %.0f s.", self.export_gid, state,
                          min(self.poll_interval, remaining))
            await asyncio.sleep(min(self.poll_interval, remaining))

    def _event(self, status: str, message: str) -> dict[str, Any]:
        return {"status": status, "export_gid": self.export_gid, "message": message}
