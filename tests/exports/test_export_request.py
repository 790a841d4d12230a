"""A resource export's parameters: checked before any request, normalized as Asana takes them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_asana.export_request import normalize_export_request_parameters, resource_types


def test_a_full_request_is_returned_as_asana_takes_it():
    paris = timezone(timedelta(hours=2))
    parameters = [
        {
            "resource_type": "task",
            "filters": {
                "modified_at.after": datetime(2026, 3, 1, 12, 0, tzinfo=paris),
                "modified_at.before": "2026-03-02T00:00:00.250+01:00",
                "assignee.any": ["1200000000000042", 1200000000000043],
            },
            "fields": ["name", "modified_at"],
        },
        {"resource_type": "team"},
        {"resource_type": "message", "filters": {"created_at.after": "2026-03-01T00:00:00Z"}, "fields": None},
    ]
    assert normalize_export_request_parameters(parameters) == [
        {
            "resource_type": "task",
            "filters": {
                "modified_at.after": "2026-03-01T10:00:00Z",
                "modified_at.before": "2026-03-01T23:00:00.250000Z",
                "assignee.any": ["1200000000000042", "1200000000000043"],
            },
            "fields": ["name", "modified_at"],
        },
        {"resource_type": "team"},
        {"resource_type": "message", "filters": {"created_at.after": "2026-03-01T00:00:00Z"}},
    ]


def test_what_a_template_renders_is_accepted():
    """``{{ data_interval_start }}`` renders pendulum's str(): ISO 8601 with a space or a T and an offset."""
    rendered = [{"resource_type": "task", "filters": {"modified_at.after": "2026-03-01 00:00:00+00:00"}}]
    (parameter,) = normalize_export_request_parameters(rendered)
    assert parameter["filters"] == {"modified_at.after": "2026-03-01T00:00:00Z"}


def test_the_input_is_not_changed_and_tuples_are_lists():
    filters = {"modified_at.after": datetime(2026, 3, 1, tzinfo=timezone.utc)}
    parameters = ({"resource_type": "task", "filters": filters, "fields": ("name",)},)
    (parameter,) = normalize_export_request_parameters(parameters)
    assert parameter["fields"] == ["name"]
    assert isinstance(filters["modified_at.after"], datetime)


def test_several_parameters_for_one_type_are_kept_a_disjunction():
    parameters = [
        {"resource_type": "task", "filters": {"assignee.any": ["1"]}},
        {"resource_type": "task", "filters": {"followers.any": ["1"]}},
    ]
    assert len(normalize_export_request_parameters(parameters)) == 2
    assert resource_types(normalize_export_request_parameters(parameters)) == ["task"]


def test_resource_types_each_once_in_order():
    parameters = [{"resource_type": "message"}, {"resource_type": "task"}, {"resource_type": "message"}]
    assert resource_types(parameters) == ["message", "task"]


REFUSED = {
    "one dict, not a list": (
        {"resource_type": "task"},
        r"export_request_parameters must be a list of parameters, got one dict: wrap it in a list",
    ),
    "empty list": ([], r"export_request_parameters must be a non-empty list of dicts"),
    "a rendered template": (
        "[{'resource_type': 'task'}]",
        r"export_request_parameters must be a non-empty list of dicts.*render_template_as_native_obj",
    ),
    "not a dict": (["task"], r"export_request_parameters\[0\] must be a dict with 'resource_type'"),
    "unknown key": (
        [{"resource_type": "task", "modified_at.after": "2026-01-01T00:00:00Z"}],
        r"export_request_parameters\[0\] has unknown keys 'modified_at.after'.*inside 'filters'",
    ),
    "unknown resource type": (
        [{"resource_type": "task"}, {"resource_type": "project"}],
        r"export_request_parameters\[1\]\['resource_type'\] must be one of 'task', 'team', 'message'.*'project'",
    ),
    "no resource type": ([{"fields": ["name"]}], r"\[0\]\['resource_type'\] must be one of.*got None"),
    "teams take no filters": (
        [{"resource_type": "team", "filters": {"created_at.after": "2026-01-01T00:00:00Z"}}],
        r"\[0\]\['filters'\]: teams take no filters.*remove 'filters'",
    ),
    "task-only filter on messages": (
        [{"resource_type": "message", "filters": {"assignee.any": ["1"]}}],
        r"\[0\]\['filters'\]: messages cannot be filtered on 'assignee.any' \(they apply to tasks only\)",
    ),
    "unknown filter": (
        [{"resource_type": "task", "filters": {"completed": True}}],
        r"\[0\]\['filters'\]: tasks cannot be filtered on 'completed'\. The filters for tasks are "
        r"created_at.after, ",
    ),
    "filters not a dict": (
        [{"resource_type": "task", "filters": ["modified_at.after"]}],
        r"\[0\]\['filters'\] must be a dict of filters",
    ),
    "date without a time": (
        [{"resource_type": "task", "filters": {"modified_at.after": "2026-03-01"}}],
        r"\[0\]\['filters'\]\['modified_at.after'\] must be a date-time; got '2026-03-01'\. Pass an ISO 8601",
    ),
    "not a date": (
        [{"resource_type": "task", "filters": {"modified_at.after": "None"}}],
        r"\['modified_at.after'\] must be a date-time; got 'None'",
    ),
    "a number": (
        [{"resource_type": "task", "filters": {"created_at.before": 1767225600}}],
        r"\['created_at.before'\] must be a date-time; got 1767225600",
    ),
    "naive datetime": (
        [{"resource_type": "task", "filters": {"modified_at.after": datetime(2026, 3, 1)}}],
        r"\['modified_at.after'\] has no time zone.*add 'Z' or tzinfo=timezone.utc",
    ),
    "naive text": (
        [{"resource_type": "task", "filters": {"modified_at.after": "2026-03-01T00:00:00"}}],
        r"\['modified_at.after'\] has no time zone",
    ),
    "after not before before": (
        [
            {
                "resource_type": "task",
                "filters": {
                    "modified_at.after": "2026-03-02T00:00:00Z",
                    "modified_at.before": "2026-03-01T00:00:00Z",
                },
            }
        ],
        r"\[0\]\['filters'\]: modified_at.after \(2026-03-02T00:00:00Z\) is not earlier than modified_at.before",
    ),
    "a user gid, not a list": (
        [{"resource_type": "task", "filters": {"assignee.any": "1200000000000042"}}],
        r"\['assignee.any'\] must be a non-empty list of user gids, e.g\.",
    ),
    "a bad user gid": (
        [{"resource_type": "task", "filters": {"followers.any": ["1", "me"]}}],
        r"\['followers.any'\]\[1\] must be an Asana gid.*'me'",
    ),
    "fields as text": (
        [{"resource_type": "task", "fields": "name,notes"}],
        r"\[0\]\['fields'\] must be a list of field names, one per item",
    ),
    "empty fields": (
        [{"resource_type": "task", "fields": []}],
        r"\[0\]\['fields'\] is empty.*leave 'fields' out",
    ),
    "a field with a comma": (
        [{"resource_type": "task", "fields": ["name", "name,notes"]}],
        r"\[0\]\['fields'\]\[1\] must be one field name",
    ),
    "an empty field": (
        [{"resource_type": "task", "fields": [""]}],
        r"\['fields'\]\[0\] must be one field name",
    ),
    "a field that is not text": (
        [{"resource_type": "task", "fields": [3]}],
        r"\['fields'\]\[0\] must be one",
    ),
}


@pytest.mark.parametrize(("parameters", "said"), REFUSED.values(), ids=REFUSED.keys())
def test_bad_parameters_are_refused_naming_the_parameter_and_the_fix(parameters, said):
    with pytest.raises(ValueError, match=said):
        normalize_export_request_parameters(parameters)
