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
