"""
How a wait reads and judges each kind of Asana export, and the events a wait ends with.

The create operators' waits, the sensors and the triggers all poll an export until it ends. What differs
between an organization export (``GET /organization_exports/{gid}``, its ``state``) and a resource or graph
export's job (``GET /jobs/{gid}``, its ``status``) is an :class:`ExportWatch`: :data:`ORGANIZATION_EXPORT`
and :data:`EXPORT_JOB`. The rest (the polling loops, the events, their checks) is written once, against it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from airflow.sdk.exceptions import AirflowException

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaExportFailedError
from airflow_provider_asana.states import (
    JobStatus,
    OrganizationExportState,
    describe_failed_export,
    describe_failed_job,
    describe_job_still_running,
    describe_still_running,
    describe_unknown_job_status,
    describe_unknown_state,
    job_label,
)

if TYPE_CHECKING:
    from airflow_provider_asana.hooks.asana import AsanaHook

#: Wait event statuses. ``failed`` is the export's own failure (an organization export's ``error``, a job's
#: ``failed``); ``error`` is a failure to ask Asana (connection missing or invalid, 401/403/404, 429 or 5xx
#: past the retry budget, no answer, or a state this provider does not know).
SUCCESS, FAILED, ERROR, TIMEOUT = "success", "failed", "error", "timeout"
EVENT_STATUSES = (SUCCESS, FAILED, ERROR, TIMEOUT)

#: Seconds between state checks, for the sensors and the operators alike: Asana suggests polling exports
#: "every few minutes".
DEFAULT_POLL_INTERVAL = 120.0

#: What a wait asks an organization export for: the state and who it belongs to, never the download URL.
STATE_FIELDS = ("state", "organization", "organization.name")
#: What a wait asks a job for: its status and kind, never the download URL.
JOB_STATUS_FIELDS = ("status", "resource_subtype")


class ExportWatch(ABC):
    """
    One kind of export as a wait sees it: how to read where it stands, and what that means.

    :cvar gid_key: The name of its gid in arguments, trigger kwargs and events: ``export_gid``, ``job_gid``.
    :cvar status_key: The field that says where it stands: ``state``, ``status``.
    :cvar fields: What a wait asks for (``opt_fields``): never the download URL.
    :cvar succeeded_phrase: How a message says it ended well: ``is finished``, ``succeeded``.
    """

    gid_key: str
    status_key: str
    fields: tuple[str, ...]
    succeeded_phrase: str = "succeeded"

    @abstractmethod
    def read(self, hook: AsanaHook, gid: str, fields: tuple[str, ...]) -> dict[str, Any]:
        """Read the export (or job) with ``fields``."""

    @abstractmethod
    async def aread(self, hook: AsanaHook, gid: str, fields: tuple[str, ...]) -> dict[str, Any]:
        """Read the export (or job) with ``fields``, without blocking the event loop."""

    @abstractmethod
    def label(self, gid: str, found: dict[str, Any] | None = None) -> str:
        """Name it in messages, e.g. ``Asana organization export 123``; ``found`` is what Asana said of it."""

    @abstractmethod
    def is_active(self, status: Any) -> bool:
        """Tell whether it is still running (a retry re-attaches to it)."""

    @abstractmethod
    def is_succeeded(self, status: Any) -> bool:
        """Tell whether it ended well (its file can be downloaded)."""

    @abstractmethod
    def is_known(self, status: Any) -> bool:
        """Tell whether ``status`` is one this provider knows."""

    @abstractmethod
    def describe_failed(self, gid: str, found: dict[str, Any]) -> str:
        """Describe an export that failed (a new one is needed)."""

    @abstractmethod
    def describe_unknown(self, gid: str, found: dict[str, Any]) -> str:
        """Describe a missing or unknown state."""

    @abstractmethod
    def describe_still_running(self, gid: str, found: dict[str, Any]) -> str:
        """Describe an export still running at a wait's deadline."""

    def outcome(self, gid: str, found: dict[str, Any]) -> tuple[str, str] | None:
        """
        Judge where it stands: ``None`` while it runs, else an event status and its message.

        Shared by the sensors' pokes, the operators' polling waits and the triggers, so all judge alike.
        """
        status = found.get(self.status_key)
        if self.is_succeeded(status):
            return SUCCESS, f"{self.label(gid, found)} {self.succeeded_phrase}."
        if self.is_known(status) and not self.is_active(status):
            return FAILED, self.describe_failed(gid, found)
        if not self.is_active(status):
            return ERROR, self.describe_unknown(gid, found)
        return None


class OrganizationExportWatch(ExportWatch):
    """An organization export: ``GET /organization_exports/{gid}``, its ``state``."""

    gid_key = "export_gid"
    status_key = "state"
    fields = STATE_FIELDS
    succeeded_phrase = "is finished"

    def read(self, hook: AsanaHook, gid: str, fields: tuple[str, ...]) -> dict[str, Any]:
        return hook.get_organization_export(gid, opt_fields=fields)

    async def aread(self, hook: AsanaHook, gid: str, fields: tuple[str, ...]) -> dict[str, Any]:
        return await hook.aget_organization_export(gid, opt_fields=fields)

    def label(self, gid: str, found: dict[str, Any] | None = None) -> str:
        return f"Asana organization export {gid}"

    def is_active(self, status: Any) -> bool:
        return status in OrganizationExportState.active_states()

    def is_succeeded(self, status: Any) -> bool:
        return status == OrganizationExportState.FINISHED

    def is_known(self, status: Any) -> bool:
        return status in {state.value for state in OrganizationExportState}

    def describe_failed(self, gid: str, found: dict[str, Any]) -> str:
        return describe_failed_export(found)

    def describe_unknown(self, gid: str, found: dict[str, Any]) -> str:
        return describe_unknown_state(gid, found.get("state"))

    def describe_still_running(self, gid: str, found: dict[str, Any]) -> str:
        return describe_still_running(gid, found.get("state"))


class ExportJobWatch(ExportWatch):
    """A resource or graph export's job: ``GET /jobs/{gid}``, its ``status``."""

    gid_key = "job_gid"
    status_key = "status"
    fields = JOB_STATUS_FIELDS

    def read(self, hook: AsanaHook, gid: str, fields: tuple[str, ...]) -> dict[str, Any]:
        return hook.get_job(gid, opt_fields=fields)

    async def aread(self, hook: AsanaHook, gid: str, fields: tuple[str, ...]) -> dict[str, Any]:
        return await hook.aget_job(gid, opt_fields=fields)

    def label(self, gid: str, found: dict[str, Any] | None = None) -> str:
        return job_label(gid, found)

    def is_active(self, status: Any) -> bool:
        return status in JobStatus.active_states()

    def is_succeeded(self, status: Any) -> bool:
        return status == JobStatus.SUCCEEDED

    def is_known(self, status: Any) -> bool:
        return status in {member.value for member in JobStatus}

    def describe_failed(self, gid: str, found: dict[str, Any]) -> str:
        return describe_failed_job(gid, found)

    def describe_unknown(self, gid: str, found: dict[str, Any]) -> str:
        return describe_unknown_job_status(gid, found)

    def describe_still_running(self, gid: str, found: dict[str, Any]) -> str:
        return describe_job_still_running(gid, found)


ORGANIZATION_EXPORT = OrganizationExportWatch()
EXPORT_JOB = ExportJobWatch()


def validate_event(event: Any, resumed: str, gid_key: str = "export_gid") -> dict[str, Any]:
    """
    Check the event a task resumed with; return it with ``message`` a str and ``status_code`` an int or None.

    :param resumed: The class of the task that resumed, for the message.
    :param gid_key: The key of the gid in the event: ``export_gid`` or ``job_gid``.
    :raises AirflowException: the event is not one the trigger yields.
    """
    if (
        not isinstance(event, dict)
        or event.get("status") not in EVENT_STATUSES
        or not isinstance(event.get(gid_key), str)
    ):
        raise AirflowException(
            f"{resumed} resumed with an invalid trigger event {event!r}; expected a dict with a {gid_key} "
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
    Return for an export that ended well (``success``); raise for a failed one or a failure to ask Asana.

    ``timeout`` is the caller's to judge (a sensor and an operator end a wait differently).

    :raises AsanaExportFailedError: the export itself failed.
    :raises AsanaAPIError: Asana could not be asked, or answered a state this provider does not know.
    """
    if status == FAILED:
        raise AsanaExportFailedError(message)
    if status == ERROR:
        raise AsanaAPIError(message, status_code=status_code)
    if status != SUCCESS:
        raise AssertionError(f"unhandled export status {status!r}")
