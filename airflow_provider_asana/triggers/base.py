"""The wait every Asana export trigger runs on the triggerer's event loop: poll until the export ends."""

from __future__ import annotations

import asyncio
import math
import time
from abc import abstractmethod
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_asana.exceptions import AsanaAPIError
from airflow_provider_asana.export_watch import ERROR, TIMEOUT
from airflow_provider_asana.hooks.asana import AsanaHook

if TYPE_CHECKING:
    from airflow_provider_asana.export_watch import ExportWatch


class AsanaExportWaitTrigger(BaseTrigger):
    """
    Poll an export until it ends or ``end_time`` passes; yield one event. Subclasses say which kind.

    A subclass sets :attr:`watch` (how to read and judge its kind) and takes the gid under the watch's
    ``gid_key``; the loop, the events and their rules are this class's. It uses the hook's async path (async
    connection lookup, httpx, the shared retry policy), so it never blocks the event loop. The one event is
    ``{"status", <gid_key>, "message", "status_code"}`` where ``status`` is ``success`` (the export ended
    well), ``failed`` (the export itself failed), ``error`` (Asana could not be asked, or answered a state
    this provider does not know; ``status_code`` is the HTTP status if there was one; this never crashes
    the trigger) or ``timeout`` (still running at ``end_time``). The message never holds the token or a
    download URL, and the trigger never asks for one.

    :param asana_conn_id: The Airflow connection id (the token is looked up, never serialized).
    :param poll_interval: Seconds between polls.
    :param end_time: Deadline as wall-clock epoch seconds, so a trigger re-created on another triggerer
        keeps the same deadline; None for none of its own (a sensor started from the triggerer, whose
        kwargs are fixed when the Dag is parsed, is ended by the task's trigger timeout instead).
    """

    watch: ExportWatch

    def __init__(self, asana_conn_id: str, poll_interval: float, end_time: float | None = None) -> None:
        super().__init__()
        self.asana_conn_id = asana_conn_id
        self.poll_interval = float(poll_interval)
        self.end_time = None if end_time is None else float(end_time)

    @property
    @abstractmethod
    def gid(self) -> str:
        """The gid of the export (or job) waited for."""

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                self.watch.gid_key: self.gid,
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
        watch, gid = self.watch, self.gid
        while True:
            try:
                found = await watch.aread(hook, gid, watch.fields)
            except AsanaAPIError as e:
                return self._event(ERROR, str(e), status_code=e.status_code)
            except Exception as e:  # a missing or invalid connection must end the wait, not crash the trigger
                return self._event(
                    ERROR,
                    f"Could not ask about {watch.label(gid)} with connection {self.asana_conn_id!r}: "
                    f"{type(e).__name__}: {e}",
                )
            outcome = watch.outcome(gid, found)
            if outcome is not None:
                return self._event(*outcome)
            remaining = math.inf if self.end_time is None else self.end_time - time.time()
            if remaining <= 0:
                return self._event(TIMEOUT, watch.describe_still_running(gid, found))
            pause = min(self.poll_interval, remaining)
            self.log.info(
                "%s is %s; next check in %.0f s.", watch.label(gid, found), found.get(watch.status_key), pause
            )
            await asyncio.sleep(pause)

    def _event(self, status: str, message: str, *, status_code: int | None = None) -> dict[str, Any]:
        return {
            "status": status,
            self.watch.gid_key: self.gid,
            "message": message,
            "status_code": status_code,
        }
