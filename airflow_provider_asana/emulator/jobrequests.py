"""
What a resource or graph export asks for: the request bodies of ``POST /exports/resource`` and ``/exports/graph``.

Each is read into a frozen value (its canonical JSON names its cached file) or refused with an Asana-style
``400`` message that names the field, e.g. ``export_request_parameters[1].filters: Filtering is not supported
for teams``. The spec gives the shapes; how strictly Asana checks them is **unverified**, and the emulator is
strict: unknown filters, filters a resource type does not take, malformed date-times and user gids, and
``fields`` that are not strings are refused, not ignored.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass
from typing import Any

RESOURCE_TYPES = ("task", "team", "message")
TIME_FILTERS = ("modified_at.after", "modified_at.before", "created_at.after", "created_at.before")
PEOPLE_FILTERS = (
    "assignee.any", "assigned_by.any", "created_by.any", "commented_on_by.any", "followers.any", "liked_by.any",
)  # fmt: skip
#: Filters the spec documents as "only applicable to tasks".
TASK_ONLY = frozenset({"assignee.any", "assigned_by.any"})
PARAMETERS = "export_request_parameters"
_GID = re.compile(r"^[0-9]+$")


class RequestError(ValueError):
    """A request Asana answers with 400; the message names the field."""


@dataclass(frozen=True)
class ExportParameter:
    """
    One entry of ``export_request_parameters``.

    :param resource_type: ``task``, ``team`` or ``message``.
    :param times: Time filters present, name -> epoch seconds (``after`` is exclusive, ``before`` too).
    :param people: People filters present, name -> user gids (an object matches one of them).
    :param fields: The ``fields`` asked for; None for the type's default fields.
    """

    resource_type: str
    times: tuple[tuple[str, float], ...] = ()
    people: tuple[tuple[str, frozenset[str]], ...] = ()
    fields: tuple[str, ...] | None = None

    def matches(self, created: int, modified: int, people: dict[str, set[str]]) -> bool:
        """Whether an object created and last modified at these times, with these users, passes every filter."""
        at = {"created_at": created, "modified_at": modified}
        for name, bound in self.times:
            moment, _, side = name.partition(".")
            if (at[moment] <= bound) if side == "after" else (at[moment] >= bound):
                return False
        return all(people.get(name, set()) & gids for name, gids in self.people)

    def as_dict(self) -> dict[str, Any]:
        """Return the parameter as canonical JSON: what it asks for, in a fixed order."""
        filters: dict[str, Any] = {name: _iso(bound) for name, bound in self.times}
        filters.update({name: sorted(gids) for name, gids in self.people})
        result: dict[str, Any] = {"resource_type": self.resource_type, "filters": filters}
        if self.fields is not None:
            result["fields"] = list(self.fields)
        return result


def export_parameters(data: dict[str, Any]) -> tuple[ExportParameter, ...]:
    """Read ``export_request_parameters``; :raises RequestError: naming the first field at fault."""
    value = data.get(PARAMETERS)
    if value is None or value == []:
        raise RequestError(f"{PARAMETERS}: Missing input")
    if not isinstance(value, list):
        raise RequestError(f"{PARAMETERS}: Must be an array of objects with a resource_type")
    return tuple(_parameter(item, f"{PARAMETERS}[{index}]") for index, item in enumerate(value))


def _parameter(item: Any, where: str) -> ExportParameter:
    if not isinstance(item, dict):
        raise RequestError(f"{where}: Must be an object with a resource_type")
    unknown = sorted(set(item) - {"resource_type", "filters", "fields"})
    if unknown:
        raise RequestError(
            f"{where}: Unknown parameter {unknown[0]!r}; known: resource_type, filters, fields"
        )
    resource_type = item.get("resource_type")
    if resource_type is None:
        raise RequestError(f"{where}.resource_type: Missing input")
    if resource_type not in RESOURCE_TYPES:
        raise RequestError(
            f"{where}.resource_type: Must be one of {', '.join(RESOURCE_TYPES)}; got {resource_type!r}"
        )
    times, people = _filters(item.get("filters"), resource_type, f"{where}.filters")
    return ExportParameter(resource_type, times, people, _fields(item.get("fields"), f"{where}.fields"))


def _filters(
    value: Any, resource_type: str, where: str
) -> tuple[tuple[tuple[str, float], ...], tuple[tuple[str, frozenset[str]], ...]]:
    if value is None or value == {}:
        return (), ()
    if not isinstance(value, dict):
        raise RequestError(f"{where}: Must be an object of filters")
    if resource_type == "team":
        raise RequestError(f"{where}: Filtering is not supported for teams")
    times: list[tuple[str, float]] = []
    people: list[tuple[str, frozenset[str]]] = []
    for name in sorted(value):
        field = f"{where}.{name}"
        if name in TIME_FILTERS:
            times.append((name, _date_time(value[name], field)))
        elif name in PEOPLE_FILTERS:
            if name in TASK_ONLY and resource_type != "task":
                raise RequestError(f"{field}: Only applicable to tasks")
            people.append((name, _user_gids(value[name], field)))
        else:
            known = ", ".join(TIME_FILTERS + PEOPLE_FILTERS)
            raise RequestError(f"{where}: Unknown filter {name!r}; known: {known}")
    return tuple(times), tuple(people)


def _fields(value: Any, where: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise RequestError(f'{where}: Must be an array of field names, e.g. ["name", "assignee.name"]')
    return tuple(item.strip() for item in value)


def _date_time(value: Any, where: str) -> float:
    try:
        if not isinstance(value, str):
            raise ValueError
        # Python 3.10's fromisoformat does not read a trailing Z, the form Asana documents.
        moment = datetime.datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in ("Z", "z") else value)
    except ValueError:
        raise RequestError(
            f"{where}: Not a valid date-time, e.g. 2023-01-01T00:00:00Z; got {value!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.timestamp()


def _user_gids(value: Any, where: str) -> frozenset[str]:
    if not isinstance(value, list) or not value:
        raise RequestError(f"{where}: Must be a non-empty array of user gids")
    if not all(isinstance(gid, str) and _GID.match(gid) for gid in value):
        raise RequestError(f"{where}: Not a valid gid in {value!r}")
    return frozenset(value)


def required_gid(value: Any, name: str) -> str:
    """Return ``value`` as a gid (digits; a number is taken too); :raises RequestError: if missing or not one."""
    if value is None or value == "":
        raise RequestError(f"{name}: Missing input")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _GID.match(value):
        raise RequestError(f"{name}: Not a valid gid")
    return value


def _iso(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, datetime.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
