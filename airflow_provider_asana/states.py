"""The states of Asana's exports: an organization export's ``state``, a resource or graph export job's ``status``."""

from __future__ import annotations

from enum import Enum
from typing import Any


class OrganizationExportState(str, Enum):
    """An organization export's ``state``: ``finished`` and ``error`` are terminal."""

    PENDING = "pending"
    STARTED = "started"
    FINISHED = "finished"
    ERROR = "error"

    def __str__(self) -> str:
        # As enum.StrEnum (3.11+) does. A plain (str, Enum) formats as "pending" in f-strings on 3.10 but as
        # "OrganizationExportState.PENDING" from 3.11 on: this gives the value on every Python.
        return self.value

    @classmethod
    def active_states(cls) -> frozenset[OrganizationExportState]:
        return frozenset({cls.PENDING, cls.STARTED})

    @classmethod
    def terminal_states(cls) -> frozenset[OrganizationExportState]:
        return frozenset({cls.FINISHED, cls.ERROR})


class JobStatus(str, Enum):
    """
    A job's ``status`` (``GET /jobs/{job_gid}``): how a resource or graph export stands.

    ``succeeded`` and ``failed`` are terminal.
    """

    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value  # as OrganizationExportState's

    @classmethod
    def active_states(cls) -> frozenset[JobStatus]:
        return frozenset({cls.NOT_STARTED, cls.IN_PROGRESS})

    @classmethod
    def terminal_states(cls) -> frozenset[JobStatus]:
        return frozenset({cls.SUCCEEDED, cls.FAILED})


#: The job field holding the export a job delivers, by the job's ``resource_subtype``.
EXPORT_JOB_FIELDS: dict[str, str] = {
    "export_request": "new_resource_export",
    "graph_export_request": "new_graph_export",
}


def describe_failed_export(export: dict) -> str:
    """Describe an export Asana reports in ``error``, naming the export and its organization."""
    organization = export.get("organization") or {}
    name = f" ({organization['name']})" if organization.get("name") else ""
    return (
        f"Asana organization export {export.get('gid')} of organization {organization.get('gid', '?')}{name} "
        "ended in state 'error'. Asana does not say why: start a new export (re-run the create task), and "
        "if it fails again contact Asana support with the export gid."
    )


def describe_unknown_state(export_gid: str, state: object) -> str:
    """Describe a state this provider does not know (Asana added one, or the field was missing)."""
    if state is None:
        return f"Asana organization export {export_gid} was returned without a state."
    known = ", ".join(s.value for s in OrganizationExportState)
    return f"Asana organization export {export_gid} reported an unknown state {state!r} (known: {known})."


def describe_still_running(export_gid: str, state: object) -> str:
    """Describe an export still running when a wait for it reached its deadline."""
    return f"Asana organization export {export_gid} was still {state!r} at the deadline."


def job_label(job_gid: str, job: dict[str, Any] | None = None) -> str:
    """
    Name a job in messages: ``Asana resource export job 123``, ``Asana graph export job 123``.

    :param job: The job as Asana returned it, if read: its ``resource_subtype`` (or the export field it
        holds) says the kind; without it, ``Asana export job 123``.
    """
    kind = export_job_kind(job or {})
    return f"Asana {kind.replace('_', ' ') if kind else 'export'} job {job_gid}"


def export_job_field(job: dict[str, Any]) -> str | None:
    """Return the field that holds an export job's export, ``new_resource_export`` or ``new_graph_export``."""
    field = EXPORT_JOB_FIELDS.get(str(job.get("resource_subtype")))
    if field is None:
        field = next((f for f in EXPORT_JOB_FIELDS.values() if isinstance(job.get(f), dict)), None)
    return field


def export_job_kind(job: dict[str, Any]) -> str | None:
    """Return ``"resource_export"`` or ``"graph_export"`` for an export job; None if the job does not say."""
    field = export_job_field(job)
    return field.removeprefix("new_") if field else None


def describe_failed_job(job_gid: str, job: dict[str, Any]) -> str:
    """Describe an export job Asana reports ``failed``."""
    return (
        f"{job_label(job_gid, job)} ended in status 'failed'. Asana does not say why: start a new export "
        "(re-run the create task), and if it fails again contact Asana support with the job gid."
    )


def describe_unknown_job_status(job_gid: str, job: dict[str, Any]) -> str:
    """Describe a job status this provider does not know (Asana added one, or the field was missing)."""
    status = job.get("status")
    if status is None:
        return f"{job_label(job_gid, job)} was returned without a status."
    known = ", ".join(s.value for s in JobStatus)
    return f"{job_label(job_gid, job)} reported an unknown status {status!r} (known: {known})."


def describe_job_still_running(job_gid: str, job: dict[str, Any]) -> str:
    """Describe an export job still running when a wait for it reached its deadline."""
    return f"{job_label(job_gid, job)} was still {job.get('status')!r} at the deadline."
