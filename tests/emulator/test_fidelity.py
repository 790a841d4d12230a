"""The emulator against independent references: Asana's OpenAPI spec and the official ``asana`` SDK."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import requests
from openapi_schema_validator import OAS30ReadValidator, oas30_format_checker

from tests.asana_spec import load_extract
from tests.emulator.helpers import FULL_FIELDS, Api


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    """Asana's spec, trimmed to what the emulator serves (tests/asana_spec/asana_oas_extract.yaml)."""
    return load_extract()


@pytest.fixture(scope="module")
def object_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """
    The spec with its nullable references read as Asana means them, to check the objects of export files.

    OAS 3.0 can only write a reference that may be null as ``allOf: [$ref, {nullable: true}]``, which a strict
    validator reads as never null (the ``$ref`` branch refuses null): e.g. a task's ``assignee`` and
    ``parent``, null in Asana's answers. Each such ``allOf`` becomes "that, or null".
    """
    return {**spec, "components": _nullable_refs(spec["components"])}


def _nullable_refs(node: Any) -> Any:
    if isinstance(node, list):
        return [_nullable_refs(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_refs(value) for key, value in node.items()}
    parts = node.get("allOf", [])
    if any(isinstance(part, dict) and part.get("nullable") for part in parts):
        return {"anyOf": [node, {"enum": [None]}]}
    return node


def _response_schema(spec: dict, path: str, method: str, status: int) -> dict:
    response = spec["paths"][path][method]["responses"][status]
    if "$ref" in response:
        response = _resolve(spec, response["$ref"])
    return response["content"]["application/json"]["schema"]


def _resolve(spec: dict, ref: str) -> dict:
    node: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _validate(spec: dict, schema: dict, instance: Any) -> None:
    """Validate with the whole spec as the root document, so every ``$ref`` resolves."""
    validator = OAS30ReadValidator(
        {**schema, "components": spec["components"]}, format_checker=oas30_format_checker
    )
    errors = sorted(validator.iter_errors(instance), key=str)
    assert not errors, "\n".join(error.message for error in errors)


def _properties(spec: dict, schema: dict) -> set[str]:
    """Every property name a schema allows, through ``$ref`` and ``allOf``."""
    if "$ref" in schema:
        return _properties(spec, _resolve(spec, schema["$ref"]))
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= _properties(spec, part)
    return names


def _assert_only_known(spec: dict, schema_ref: str, resource: dict) -> None:
    unknown = set(resource) - _properties(spec, {"$ref": schema_ref})
    assert not unknown, f"properties not in {schema_ref}: {unknown}"


def test_create_export_response_matches_the_spec(spec: dict, api: Api) -> None:
    body = api.create_export(params={"opt_fields": FULL_FIELDS}).json()

    _validate(spec, _response_schema(spec, "/organization_exports", "post", 201), body)
    _assert_only_known(spec, "#/components/schemas/OrganizationExportResponse", body["data"])
    _assert_only_known(spec, "#/components/schemas/WorkspaceCompact", body["data"]["organization"])


def test_finished_export_response_matches_the_spec(spec: dict, api: Api) -> None:
    gid, _ = api.finished_export()
    body = api.get_export(gid).json()

    assert body["data"]["download_url"].startswith("http://")
    _validate(
        spec, _response_schema(spec, "/organization_exports/{organization_export_gid}", "get", 200), body
    )
    _assert_only_known(spec, "#/components/schemas/OrganizationExportResponse", body["data"])
    assert set(body["data"]) == _properties(spec, {"$ref": "#/components/schemas/OrganizationExportResponse"})


def test_spec_validation_catches_a_wrong_state(spec: dict, api: Api) -> None:
    body = api.create_export(params={"opt_fields": FULL_FIELDS}).json()
    body["data"]["state"] = "done"

    with pytest.raises(AssertionError):
        _validate(spec, _response_schema(spec, "/organization_exports", "post", 201), body)


def test_users_me_matches_the_spec(spec: dict, api: Api) -> None:
    body = api.get("/users/me").json()

    _validate(spec, _response_schema(spec, "/users/{user_gid}", "get", 200), body)
    _assert_only_known(spec, "#/components/schemas/UserResponse", body["data"])
    for workspace in body["data"]["workspaces"]:
        _assert_only_known(spec, "#/components/schemas/WorkspaceCompact", workspace)


def test_workspaces_match_the_spec(spec: dict, api: Api) -> None:
    body = api.get("/workspaces", params={"limit": 1}).json()
    full = api.get("/workspaces", params={"opt_fields": "name,is_organization,email_domains"}).json()

    schema = _response_schema(spec, "/workspaces", "get", 200)
    _validate(spec, schema, body)
    _validate(spec, schema, full)
    assert set(body) <= _properties(spec, schema)
    for workspace in body["data"]:
        _assert_only_known(spec, "#/components/schemas/WorkspaceCompact", workspace)
    for workspace in full["data"]:
        _assert_only_known(spec, "#/components/schemas/WorkspaceResponse", workspace)


@pytest.mark.parametrize(
    ("setup", "status"),
    [({}, 401), ({"non_enterprise": True}, 402), ({"forbidden": True}, 403), ({"rate_limit": 1}, 429),
     ({"server_error": 1}, 500)],
)  # fmt: skip
def test_error_bodies_match_the_spec(spec: dict, asana_emulator, setup: dict, status: int) -> None:
    asana_emulator.set_faults(**setup)
    headers = {} if status == 401 else {"Authorization": f"Bearer {asana_emulator.token}"}

    response = requests.post(
        asana_emulator.api_url + "/organization_exports",
        json={"data": {"organization": asana_emulator.organization_gid}},
        headers=headers,
        timeout=10,
    )

    assert response.status_code == status
    _validate(spec, {"$ref": "#/components/schemas/ErrorResponse"}, response.json())
    for error in response.json()["errors"]:
        _assert_only_known(spec, "#/components/schemas/Error", error)


def _sdk(emulator) -> Any:
    import asana  # a test dependency (the [test] extra)

    configuration = asana.Configuration()
    configuration.host = emulator.api_url
    configuration.access_token = emulator.token
    return asana, asana.OrganizationExportsApi(asana.ApiClient(configuration))


def test_sdk_creates_polls_and_downloads(asana_emulator_factory) -> None:
    emulator = asana_emulator_factory(polls_to_finish=3)
    asana, exports = _sdk(emulator)

    body = {"data": {"organization": emulator.organization_gid}}
    created = exports.create_organization_export(body, {"opt_fields": FULL_FIELDS})
    states: list[dict[str, Any]] = []
    while not states or states[-1]["state"] not in ("finished", "error"):
        states.append(exports.get_organization_export(created["gid"], {"opt_fields": FULL_FIELDS}))

    assert created["state"] == "pending"
    assert [s["state"] for s in states] == ["started", "started", "finished"]
    assert states[-1]["organization"]["name"] == "Emulated Enterprise Org"
    download = requests.get(states[-1]["download_url"], timeout=10)
    assert hashlib.sha256(download.content).hexdigest() == emulator.export_sha256(created["gid"])


def test_sdk_retries_a_rate_limited_get(asana_emulator) -> None:
    asana, exports = _sdk(asana_emulator)
    gid = exports.create_organization_export({"data": {"organization": asana_emulator.organization_gid}}, {})[
        "gid"
    ]
    asana_emulator.set_faults(rate_limit=1, rate_limit_retry_after=1)

    result = exports.get_organization_export(gid, {"opt_fields": "state"})

    gets = [r for r in asana_emulator.requests if r.method == "GET"]
    assert result["state"] == "started"
    assert [r.status for r in gets] == [429, 200]
    assert gets[1].time - gets[0].time >= 0.9


def test_sdk_does_not_retry_a_rate_limited_post(asana_emulator) -> None:
    asana, exports = _sdk(asana_emulator)
    asana_emulator.set_faults(rate_limit=1)

    with pytest.raises(asana.rest.ApiException) as raised:
        exports.create_organization_export({"data": {"organization": asana_emulator.organization_gid}}, {})

    assert raised.value.status == 429
    assert [r.status for r in asana_emulator.requests if r.method == "POST"] == [429]
    assert asana_emulator.exports == {}


#: The schema each resource type of a resource or graph export file is checked against (messages: the spec
#: describes them as "similar to the status update schema", and lists their fields in the export's text).
LINE_SCHEMAS = {
    "task": "#/components/schemas/TaskResponse",
    "team": "#/components/schemas/TeamResponse",
    "project": "#/components/schemas/ProjectResponse",
    "section": "#/components/schemas/SectionResponse",
}
MESSAGE_FIELDS = {
    "gid", "resource_type", "resource_subtype", "status_type", "created_by", "created_at", "modified_at", "title",
    "text", "html_notes", "num_likes", "likes", "stories", "attachments", "followers", "parents",
}  # fmt: skip
EMBEDDED = ("stories", "attachments", "members")
EVERY_TYPE = ({"resource_type": "task"}, {"resource_type": "team"}, {"resource_type": "message"})
JOB_FIELDS = "resource_subtype,status,{0},{0}.created_at,{0}.completed_at,{0}.download_url"


@pytest.mark.parametrize("kind", ["resource", "graph"])
def test_job_responses_match_the_spec(spec: dict, asana_emulator, kind: str) -> None:
    api = Api(asana_emulator)
    if kind == "resource":
        path, key = "/exports/resource", "new_resource_export"
        created = api.create_resource_export(*EVERY_TYPE)
    else:
        path, key = "/exports/graph", "new_graph_export"
        tasks = api.job_lines(api.finished_job(api.create_resource_export({"resource_type": "task"})))
        created = api.create_graph_export(next(t["projects"][0]["gid"] for t in tasks if t["projects"]))
    polls = [api.get_job(created.json()["data"]["gid"]).json() for _ in range(2)]
    chosen = api.get_job(created.json()["data"]["gid"], params={"opt_fields": JOB_FIELDS.format(key)}).json()

    assert created.status_code == 201
    _validate(spec, _response_schema(spec, path, "post", 201), created.json())
    response = {"Resource": "ResourceExportResponse", "Graph": "GraphExportResponse"}[kind.title()]
    _assert_only_known(spec, f"#/components/schemas/{response}", created.json()["data"])
    assert [poll["data"]["status"] for poll in polls] == ["in_progress", "succeeded"]
    for body in [*polls, chosen]:
        _validate(spec, _response_schema(spec, "/jobs/{job_gid}", "get", 200), body)
        _assert_only_known(spec, "#/components/schemas/JobResponse", body["data"])
    compact = {"Resource": "ResourceExportCompact", "Graph": "GraphExportCompact"}[kind.title()]
    assert set(polls[1]["data"][key]) == _properties(spec, {"$ref": f"#/components/schemas/{compact}"})


@pytest.mark.parametrize("kind", ["resource", "graph"])
def test_export_lines_match_the_spec(spec: dict, object_spec: dict, asana_emulator, kind: str) -> None:
    api = Api(asana_emulator)
    lines = api.job_lines(api.finished_job(api.create_resource_export(*EVERY_TYPE)))
    if kind == "graph":
        project = next(line["projects"][0]["gid"] for line in lines if line.get("projects"))
        lines = api.job_lines(api.finished_job(api.create_graph_export(project)))

    seen = {line["resource_type"] for line in lines}
    assert seen == ({"task", "team", "message"} if kind == "resource" else {"project", "section", "task"})
    for line in lines:
        if line["resource_type"] == "message":
            assert set(line) <= MESSAGE_FIELDS
            continue
        schema = LINE_SCHEMAS[line["resource_type"]]
        _validate(object_spec, {"$ref": schema}, line)
        # What exports embed beyond the schema, as the spec's text says: stories, attachments, members.
        _assert_only_known(spec, schema, {k: v for k, v in line.items() if k not in EMBEDDED})
        for story in line.get("stories", []):
            _validate(object_spec, {"$ref": "#/components/schemas/StoryCompact"}, story)
            _assert_only_known(spec, "#/components/schemas/StoryCompact", story)
        for attachment in line.get("attachments", []):
            _validate(object_spec, {"$ref": "#/components/schemas/AttachmentResponse"}, attachment)
            _assert_only_known(spec, "#/components/schemas/AttachmentResponse", attachment)


def test_spec_validation_catches_a_wrong_job_status(spec: dict, api: Api) -> None:
    body = api.create_resource_export({"resource_type": "team"}).json()
    body["data"]["status"] = "done"

    with pytest.raises(AssertionError):
        _validate(spec, _response_schema(spec, "/exports/resource", "post", 201), body)


@pytest.mark.parametrize(("setup", "status"), [({"forbidden": True}, 403), ({"server_error": 1}, 500)])
def test_job_error_bodies_match_the_spec(spec: dict, asana_emulator, setup: dict, status: int) -> None:
    api = Api(asana_emulator)
    gid = api.create_resource_export({"resource_type": "team"}).json()["data"]["gid"]
    calls = (lambda: api.get_job(gid), lambda: api.create_resource_export(*EVERY_TYPE))

    for call in calls:
        asana_emulator.set_faults(**setup)
        response = call()
        assert response.status_code == status
        _validate(spec, {"$ref": "#/components/schemas/ErrorResponse"}, response.json())
