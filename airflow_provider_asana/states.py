"""The states of an Asana organization export."""

from __future__ import annotations

from enum import Enum


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
