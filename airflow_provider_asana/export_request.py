"""
What a resource export may ask for, checked before any request: resource types, their filters, fields.

The rules are Asana's spec (``ResourceExportRequestParameter``, ``ResourceExportFilters`` and the text of
``POST /exports/resource``), written down here as :data:`FILTERS_BY_RESOURCE_TYPE`; a test holds them to the
spec. :func:`normalize_export_request_parameters` checks a request's parameters against them and returns them
as Asana takes them (date-times as UTC ISO 8601 text with ``Z``, gids as strings), or raises a
``ValueError`` that names the parameter at fault and the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow_provider_asana.gids import validate_gid

#: Filters on a date-time (``format: date-time`` in the spec).
DATE_TIME_FILTERS: tuple[str, ...] = (
    "created_at.after",
    "created_at.before",
    "modified_at.after",
    "modified_at.before",
)
#: Filters on a list of user gids that apply to tasks only (the spec: "only applicable to tasks").
TASK_USER_FILTERS: tuple[str, ...] = ("assigned_by.any", "assignee.any")
#: Filters on a list of user gids that apply to tasks and messages.
USER_FILTERS: tuple[str, ...] = ("commented_on_by.any", "created_by.any", "followers.any", "liked_by.any")

#: The filters each resource type takes. Teams take none ("Filtering is not supported for teams").
FILTERS_BY_RESOURCE_TYPE: dict[str, tuple[str, ...]] = {
    "task": DATE_TIME_FILTERS + TASK_USER_FILTERS + USER_FILTERS,
    "team": (),
    "message": DATE_TIME_FILTERS + USER_FILTERS,
}
#: The resource types a resource export may ask for.
RESOURCE_TYPES: tuple[str, ...] = tuple(FILTERS_BY_RESOURCE_TYPE)
#: The keys of one parameter.
PARAMETER_KEYS: tuple[str, ...] = ("resource_type", "filters", "fields")

_EXAMPLE = (
    "[{'resource_type': 'task', 'filters': {'modified_at.after': '2026-01-01T00:00:00Z'}, "
    "'fields': ['name', 'modified_at']}]"
)


def normalize_export_request_parameters(parameters: Any) -> list[dict[str, Any]]:
    """
    Check a resource export's ``export_request_parameters``; return them as Asana takes them.

    Each parameter is a dict with ``resource_type`` (``task``, ``team`` or ``message``), optional
    ``filters`` (only those its type takes: see :data:`FILTERS_BY_RESOURCE_TYPE`) and optional ``fields``
    (a list of field names). Date-time filters accept ISO 8601 text with a time zone or an aware
    ``datetime``, and become UTC text ending in ``Z``; user filters take a list of user gids. Several
    parameters for one type are a disjunction (Asana may then export an object twice).

    :param parameters: The list of parameters.
    :raises ValueError: A parameter is missing, unknown or malformed; the message names it and the fix.
    """
    where = "export_request_parameters"
    if isinstance(parameters, Mapping):
        raise ValueError(
            f"{where} must be a list of parameters, got one dict: wrap it in a list, e.g. [{dict(parameters)!r}]."
        )
    if isinstance(parameters, (str, bytes)) or not isinstance(parameters, Sequence) or not parameters:
        text = (
            " A template renders text: write the list in the Dag and template the values inside it, or give "
            "the Dag render_template_as_native_obj=True."
            if isinstance(parameters, str)
            else ""
        )
        raise ValueError(
            f"{where} must be a non-empty list of dicts, one per resource type to export, e.g. {_EXAMPLE}; "
            f"got {parameters!r}.{text}"
        )
    return [_parameter(parameter, f"{where}[{i}]") for i, parameter in enumerate(parameters)]


def _parameter(parameter: Any, where: str) -> dict[str, Any]:
    if not isinstance(parameter, Mapping):
        raise ValueError(
            f"{where} must be a dict with 'resource_type' and optional 'filters' and 'fields'; got {parameter!r}."
        )
    unknown = sorted(str(key) for key in parameter if key not in PARAMETER_KEYS)
    if unknown:
        raise ValueError(
            f"{where} has unknown keys {', '.join(map(repr, unknown))}: a parameter takes only "
            f"{', '.join(map(repr, PARAMETER_KEYS))}. Put filters such as 'modified_at.after' inside 'filters'."
        )
    resource_type = parameter.get("resource_type")
    if resource_type not in FILTERS_BY_RESOURCE_TYPE:
        raise ValueError(
            f"{where}['resource_type'] must be one of {', '.join(map(repr, RESOURCE_TYPES))} (the types "
            f"Asana's resource exports support); got {resource_type!r}."
        )
    normalized: dict[str, Any] = {"resource_type": resource_type}
    filters = _filters(parameter.get("filters"), resource_type, f"{where}['filters']")
    if filters:
        normalized["filters"] = filters
    if parameter.get("fields") is not None:
        normalized["fields"] = _fields(parameter["fields"], f"{where}['fields']")
    return normalized


def _filters(filters: Any, resource_type: str, where: str) -> dict[str, Any]:
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise ValueError(
            f"{where} must be a dict of filters, e.g. {{'modified_at.after': '2026-01-01T00:00:00Z'}}; "
            f"got {filters!r}."
        )
    allowed = FILTERS_BY_RESOURCE_TYPE[resource_type]
    if filters and not allowed:
        raise ValueError(
            f"{where}: {resource_type}s take no filters (Asana does not support filtering them); remove "
            f"'filters' from this parameter to export every {resource_type}."
        )
    refused = sorted(str(name) for name in filters if name not in allowed)
    if refused:
        why = (
            " (they apply to tasks only)"
            if all(name in FILTERS_BY_RESOURCE_TYPE["task"] for name in refused)
            else ""
        )
        raise ValueError(
            f"{where}: {resource_type}s cannot be filtered on {', '.join(map(repr, refused))}{why}. "
            f"The filters for {resource_type}s are {', '.join(allowed)}."
        )
    normalized = {
        name: _date_time(value, f"{where}[{name!r}]")
        if name in DATE_TIME_FILTERS
        else _user_gids(value, f"{where}[{name!r}]")
        for name, value in filters.items()
    }
    for field in ("created_at", "modified_at"):
        after, before = normalized.get(f"{field}.after"), normalized.get(f"{field}.before")
        if isinstance(after, str) and isinstance(before, str) and _parse(after) >= _parse(before):
            raise ValueError(
                f"{where}: {field}.after ({after}) is not earlier than {field}.before ({before}), so nothing "
                f"could match: swap them, or drop one."
            )
    return normalized


def _date_time(value: Any, where: str) -> str:
    """Return an aware date-time (a ``datetime`` or ISO 8601 text) as UTC ISO 8601 text ending in ``Z``."""
    fix = (
        "Pass an ISO 8601 date-time with a time zone, e.g. '2026-01-01T00:00:00Z', or an aware datetime "
        "(in a template: '{{ data_interval_start }}')"
    )
    when = value
    if isinstance(value, str):
        try:
            when = _parse(value)
        except ValueError:
            raise ValueError(f"{where} must be a date-time; got {value!r}. {fix}.") from None
    elif not isinstance(value, datetime):
        raise ValueError(f"{where} must be a date-time; got {value!r}. {fix}.")
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError(
            f"{where} has no time zone ({value!r}), so the moment it names is unknown. {fix}; for UTC, "
            "add 'Z' or tzinfo=timezone.utc."
        )
    return when.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def _parse(text: str) -> datetime:
    text = text.strip()
    if "T" not in text.upper() and " " not in text:
        raise ValueError("a date without a time")
    return datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text)


def _user_gids(value: Any, where: str) -> list[str]:
    if isinstance(value, (str, bytes, int)) or not isinstance(value, Sequence) or not value:
        raise ValueError(
            f"{where} must be a non-empty list of user gids, e.g. ['1200000000000042']; got {value!r}."
        )
    return [validate_gid(gid, f"{where}[{i}]") for i, gid in enumerate(value)]


def _fields(fields: Any, where: str) -> list[str]:
    if isinstance(fields, (str, bytes)) or not isinstance(fields, Sequence):
        raise ValueError(
            f"{where} must be a list of field names, one per item, e.g. ['name', 'modified_at']; got {fields!r}."
        )
    if not fields:
        raise ValueError(
            f"{where} is empty: list the fields to export, e.g. ['name', 'modified_at'], or leave 'fields' out "
            "for the resource type's default fields."
        )
    for i, name in enumerate(fields):
        if not isinstance(name, str) or not name.strip() or "," in name or name != name.strip():
            raise ValueError(
                f"{where}[{i}] must be one field name (non-empty, no commas or spaces around it), e.g. "
                f"'modified_at'; got {name!r}."
            )
    return list(fields)


def resource_types(parameters: Sequence[Mapping[str, Any]]) -> list[str]:
    """Return the resource types ``parameters`` ask for, each once, in the order they are first asked."""
    return list(dict.fromkeys(str(parameter["resource_type"]) for parameter in parameters))
