"""The provider's rules for resource and graph exports agree with Asana's spec (the shipped extract)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from airflow_provider_asana.export_request import (
    DATE_TIME_FILTERS,
    FILTERS_BY_RESOURCE_TYPE,
    PARAMETER_KEYS,
    RESOURCE_TYPES,
    TASK_USER_FILTERS,
    USER_FILTERS,
)
from airflow_provider_asana.export_watch import JOB_STATUS_FIELDS
from airflow_provider_asana.hooks._api import EXPORT_JOB_ENDPOINTS, JOB_FIELDS
from airflow_provider_asana.states import EXPORT_JOB_FIELDS, JobStatus

from tests.asana_spec import load_extract


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_extract()


def _schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return spec["components"]["schemas"][name]


def test_every_filter_in_the_spec_is_in_the_table_and_no_other(spec):
    filters = _schema(spec, "ResourceExportFilters")["properties"]
    in_table = {name for allowed in FILTERS_BY_RESOURCE_TYPE.values() for name in allowed}
    assert set(filters) == in_table


def test_date_time_and_user_filters_are_the_specs(spec):
    filters = _schema(spec, "ResourceExportFilters")["properties"]
    date_times = {name for name, schema in filters.items() if schema.get("format") == "date-time"}
    gid_lists = {name for name, schema in filters.items() if schema.get("type") == "array"}
    assert date_times == set(DATE_TIME_FILTERS)
    assert gid_lists == set(TASK_USER_FILTERS + USER_FILTERS)


def test_task_only_filters_are_those_the_spec_says_apply_to_tasks_only(spec):
    filters = _schema(spec, "ResourceExportFilters")["properties"]
    task_only = {
        name for name, schema in filters.items() if "only applicable to tasks" in schema["description"]
    }
    assert task_only == set(TASK_USER_FILTERS)
    assert set(FILTERS_BY_RESOURCE_TYPE["task"]) == set(filters)
    assert set(FILTERS_BY_RESOURCE_TYPE["message"]) == set(filters) - task_only


def test_teams_take_no_filters_as_the_endpoint_says(spec):
    description = spec["paths"]["/exports/resource"]["post"]["description"]
    assert "Filtering is not supported for teams." in description
    assert FILTERS_BY_RESOURCE_TYPE["team"] == ()


def test_resource_types_and_parameter_keys_are_the_specs(spec):
    parameter = _schema(spec, "ResourceExportRequestParameter")["properties"]
    said = re.search(r"This can be (?:an? )?(.+)\.", parameter["resource_type"]["description"])
    assert said is not None  # "This can be a task, team, or message."
    assert set(re.split(r",\s*(?:or\s+)?|\s+or\s+", said[1])) == set(RESOURCE_TYPES)
    assert set(parameter) == set(PARAMETER_KEYS)


def test_job_status_is_the_specs_enum_everywhere(spec):
    for schema in ("JobCompact", "ResourceExportResponse", "GraphExportResponse"):
        assert _schema(spec, schema)["properties"]["status"]["enum"] == [s.value for s in JobStatus]
    assert JobStatus.active_states() | JobStatus.terminal_states() == set(JobStatus)


def test_job_fields_asked_for_are_fields_the_spec_offers(spec):
    (opt_fields,) = [
        p for p in spec["paths"]["/jobs/{job_gid}"]["get"]["parameters"] if p["name"] == "opt_fields"
    ]
    offered = set(opt_fields["schema"]["items"]["enum"])
    assert set(JOB_FIELDS) <= offered
    assert set(JOB_STATUS_FIELDS) <= offered
    assert {f for f in offered if f.endswith(".download_url")} <= set(JOB_FIELDS)  # the URL is asked for


def test_the_export_a_job_holds_is_where_the_spec_puts_it(spec):
    job = _schema(spec, "JobCompact")["properties"]
    for subtype, field in EXPORT_JOB_FIELDS.items():
        assert field in job
        response = "ResourceExportResponse" if field == "new_resource_export" else "GraphExportResponse"
        assert _schema(spec, response)["properties"]["resource_subtype"]["example"] == subtype


def test_the_create_endpoints_are_the_specs_posts(spec):
    assert {path for path in EXPORT_JOB_ENDPOINTS if "post" in spec["paths"][path]} == EXPORT_JOB_ENDPOINTS
    assert "one* in progress export" in spec["paths"]["/exports/resource"]["post"]["description"]
