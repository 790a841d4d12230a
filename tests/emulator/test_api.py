from __future__ import annotations

import json
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from airflow_provider_asana.emulator.directory import SECOND_ENTERPRISE_ORG
from airflow_provider_asana.emulator.errors import ERRORS_HELP

from tests.emulator.helpers import FULL_FIELDS, Api


def _single_error(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert len(errors) == 1
    assert errors[0]["help"] == ERRORS_HELP
    return errors[0]["message"]


def test_create_export_answers_201_with_a_compact_pending_export(api: Api) -> None:
    response = api.create_export()

    assert response.status_code == 201
    assert response.json() == {
        "data": {"gid": response.json()["data"]["gid"], "resource_type": "organization_export"}
    }
    assert re.fullmatch(r"[0-9]+", response.json()["data"]["gid"])
    assert api.emulator.exports[response.json()["data"]["gid"]]["state"] == "pending"


def test_create_export_with_full_opt_fields(api: Api) -> None:
    response = api.create_export(params={"opt_fields": FULL_FIELDS})

    data = response.json()["data"]
    assert response.status_code == 201
    assert data["state"] == "pending"
    assert data["download_url"] is None
    assert data["organization"] == {
        "gid": api.emulator.organization_gid,
        "resource_type": "workspace",
        "name": "Emulated Enterprise Org",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["created_at"])
    assert list(data) == ["gid", "resource_type", "created_at", "download_url", "organization", "state"]


def test_get_export_without_opt_fields_omits_state(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]

    data = api.get_export(gid, fields=None).json()["data"]

    assert data == {"gid": gid, "resource_type": "organization_export"}


def test_opt_fields_organization_without_name_is_compact(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]

    data = api.get_export(gid, fields="organization,state").json()["data"]

    assert data == {
        "gid": gid,
        "resource_type": "organization_export",
        "organization": {"gid": api.emulator.organization_gid, "resource_type": "workspace"},
        "state": "started",
    }


def test_opt_fields_nested_name_implies_parent_and_repeated_params_merge(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]

    params = [("opt_fields", "organization.name"), ("opt_fields", "state")]
    data = api.get(f"/organization_exports/{gid}", params=params).json()["data"]

    assert data["organization"]["name"] == "Emulated Enterprise Org"
    assert set(data) == {"gid", "resource_type", "organization", "state"}


def test_opt_pretty_indents_the_body(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]

    compact = api.get_export(gid).text
    pretty = api.get_export(gid, params={"opt_pretty": "true"}).text

    assert "\n" not in compact
    assert pretty.startswith('{\n  "data": {\n')
    assert json.loads(pretty)["data"]["gid"] == gid


def test_state_machine_by_polls(asana_emulator_factory) -> None:
    api = Api(asana_emulator_factory(polls_to_finish=3))
    created = api.create_export(params={"opt_fields": "state"}).json()["data"]

    states = [api.get_export(created["gid"]).json()["data"]["state"] for _ in range(4)]

    assert created["state"] == "pending"
    assert states == ["started", "started", "finished", "finished"]


def test_polls_to_finish_one_finishes_on_the_first_get(asana_emulator_factory) -> None:
    api = Api(asana_emulator_factory(polls_to_finish=1))
    gid = api.create_export().json()["data"]["gid"]

    data = api.get_export(gid).json()["data"]

    assert data["state"] == "finished"
    assert data["download_url"].startswith(api.emulator.download_base + f"/exports/{gid}/")


def test_state_machine_by_elapsed_time(asana_emulator_factory) -> None:
    api = Api(asana_emulator_factory(polls_to_finish=None, seconds_to_finish=0.6))
    gid = api.create_export().json()["data"]["gid"]

    first = api.get_export(gid).json()["data"]["state"]
    time.sleep(0.3)
    middle = api.get_export(gid).json()["data"]["state"]
    time.sleep(0.4)
    last = api.get_export(gid).json()["data"]
    assert (first, middle, last["state"]) == ("pending", "started", "finished")
    assert last["download_url"]


def test_export_never_finishes_without_either_condition(asana_emulator_factory) -> None:
    api = Api(asana_emulator_factory(polls_to_finish=None))
    gid = api.create_export().json()["data"]["gid"]

    states = {api.get_export(gid).json()["data"]["state"] for _ in range(5)}

    assert states == {"started"}


def test_download_url_is_null_until_finished(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]

    assert api.get_export(gid).json()["data"]["download_url"] is None
    assert api.get_export(gid).json()["data"]["download_url"] is not None


def test_every_get_of_a_finished_export_mints_a_fresh_url(api: Api) -> None:
    gid, first = api.finished_export()

    urls = [first] + [api.get_export(gid).json()["data"]["download_url"] for _ in range(3)]

    assert len(set(urls)) == 4
    signatures = {parse_qs(urlsplit(url).query)["X-Amz-Signature"][0] for url in urls}
    assert len(signatures) == 4
    for url in urls:
        assert requests.get(url, timeout=10).status_code == 200


def test_download_url_has_the_s3_presigned_shape(api: Api) -> None:
    gid, url = api.finished_export()

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path == f"/exports/{gid}/organization_export.json.gz"
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert re.fullmatch(r"EMULATOR/\d{8}/us-east-1/s3/aws4_request", query["X-Amz-Credential"][0])
    assert re.fullmatch(r"\d{8}T\d{6}Z", query["X-Amz-Date"][0])
    assert query["X-Amz-Credential"][0].split("/")[1] == query["X-Amz-Date"][0][:8]
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-SignedHeaders"] == ["host"]
    assert re.fullmatch(r"[0-9a-f]{64}", query["X-Amz-Signature"][0])
    assert "EMULATOR%2F" in url


def test_create_export_of_a_non_enterprise_org_is_402(api: Api) -> None:
    message = _single_error(api.create_export(api.emulator.non_enterprise_organization_gid), 402)

    assert "Enterprise" in message


def test_create_export_of_a_plain_workspace_is_402(api: Api) -> None:
    _single_error(api.create_export(api.emulator.workspace_gid), 402)


def test_create_export_of_an_unknown_org_is_404(api: Api) -> None:
    assert _single_error(api.create_export("999"), 404) == "Unknown object: 999"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"data": {}}, "organization: Missing input"),
        ({}, "organization: Missing input"),
        ({"data": {"organization": ""}}, "organization: Missing input"),
        ({"data": {"organization": "abc"}}, "organization: Not a valid gid"),
        ({"data": {"organization": True}}, "organization: Not a valid gid"),
        ({"data": "x"}, "organization: Missing input"),
    ],
)
def test_create_export_rejects_bad_bodies_with_400(api: Api, body: dict, message: str) -> None:
    assert _single_error(api.post("/organization_exports", json=body), 400) == message


def test_create_export_rejects_malformed_json_and_empty_bodies(api: Api) -> None:
    bad_json = api.post("/organization_exports", data=b"{nope", headers={"Content-Type": "application/json"})
    empty = api.post("/organization_exports")

    assert "invalid JSON" in _single_error(bad_json, 400)
    assert _single_error(empty, 400) == "organization: Missing input"


def test_create_export_accepts_a_numeric_gid_and_form_encoding(api: Api) -> None:
    numeric = api.post(
        "/organization_exports", json={"data": {"organization": int(api.emulator.organization_gid)}}
    )
    form = api.post("/organization_exports", data={"organization": api.emulator.organization_gid})

    assert (numeric.status_code, form.status_code) == (201, 201)


def test_get_unknown_export_is_404_and_non_digit_gid_is_400(api: Api) -> None:
    assert _single_error(api.get_export("123"), 404) == "Unknown object: 123"
    assert "Not a valid gid" in _single_error(api.get_export("abc"), 400)


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Basic Zm9vOmJhcg==", "Bearer"])
@pytest.mark.parametrize("path", ["/organization_exports/1", "/users/me", "/workspaces"])
def test_missing_or_wrong_token_is_401(asana_emulator, header: str | None, path: str) -> None:
    headers = {"Authorization": header} if header else {}

    response = requests.get(asana_emulator.api_url + path, headers=headers, timeout=10)

    assert _single_error(response, 401) == "Not Authorized"


def test_create_export_without_token_is_401(asana_emulator) -> None:
    response = requests.post(
        asana_emulator.api_url + "/organization_exports",
        json={"data": {"organization": asana_emulator.organization_gid}},
        timeout=10,
    )

    assert _single_error(response, 401) == "Not Authorized"
    assert asana_emulator.exports == {}


def test_unknown_route_and_missing_list_endpoint_are_404(api: Api) -> None:
    assert _single_error(api.get("/organization_exports"), 404) == "No matching route for request"
    assert _single_error(api.get("/nothing/here"), 404) == "No matching route for request"


def test_users_me_default_is_the_full_user(api: Api) -> None:
    response = api.get("/users/me")

    data = response.json()["data"]
    assert response.status_code == 200
    assert data["resource_type"] == "user"
    assert data["email"] == "service-account@example.com"
    organizations = {api.emulator.organization_gid, api.emulator.non_enterprise_organization_gid}
    assert {w["gid"] for w in data["workspaces"]} >= organizations
    assert all(set(w) == {"gid", "resource_type", "name"} for w in data["workspaces"])


def test_users_me_honours_opt_fields(api: Api) -> None:
    data = api.get("/users/me", params={"opt_fields": "email,workspaces"}).json()["data"]

    assert set(data) == {"gid", "resource_type", "email", "workspaces"}
    assert all(set(w) == {"gid", "resource_type"} for w in data["workspaces"])


def test_users_of_another_gid_is_404(api: Api) -> None:
    _single_error(api.get("/users/42"), 404)


def test_workspaces_without_limit_lists_all_compactly(api: Api) -> None:
    body = api.get("/workspaces").json()

    assert [w["gid"] for w in body["data"]] == [
        api.emulator.organization_gid,
        api.emulator.non_enterprise_organization_gid,
        api.emulator.workspace_gid,
        SECOND_ENTERPRISE_ORG.gid,
    ]
    assert all(set(w) == {"gid", "resource_type", "name"} for w in body["data"])
    assert "next_page" not in body


def test_workspaces_opt_fields(api: Api) -> None:
    data = api.get("/workspaces", params={"opt_fields": "is_organization,email_domains"}).json()["data"]

    assert [w["is_organization"] for w in data] == [True, True, False, True]
    assert set(data[0]) == {"gid", "resource_type", "is_organization", "email_domains"}


@pytest.mark.parametrize("limit", [1, 2])
def test_workspaces_pagination_follows_next_page(api: Api, limit: int) -> None:
    seen: list[str] = []
    body = api.get("/workspaces", params={"limit": limit}).json()
    pages = 1
    while True:
        assert len(body["data"]) <= limit
        seen += [w["gid"] for w in body["data"]]
        if body["next_page"] is None:
            break
        next_page = body["next_page"]
        assert next_page["path"].startswith("/workspaces?")
        assert next_page["uri"] == api.emulator.api_url + next_page["path"]
        assert f"offset={next_page['offset']}" in next_page["path"]
        body = api.session.get(next_page["uri"], timeout=10).json()
        pages += 1

    assert len(seen) == len(set(seen)) == 4
    assert pages == -(-4 // limit)


def test_workspaces_last_page_has_null_next_page(api: Api) -> None:
    assert api.get("/workspaces", params={"limit": 100}).json()["next_page"] is None


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1"])
def test_workspaces_bad_limit_is_400(api: Api, limit: str) -> None:
    assert _single_error(api.get("/workspaces", params={"limit": limit}), 400).startswith("limit:")


def test_workspaces_bad_offset_is_400(api: Api) -> None:
    assert _single_error(api.get("/workspaces", params={"limit": 1, "offset": "garbage!"}), 400).startswith(
        "offset:"
    )


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "FOO"])
def test_methods_asana_does_not_serve_are_404_with_asana_errors(api: Api, method: str) -> None:
    response = api.session.request(method, api.emulator.api_url + "/organization_exports", timeout=10)
    anonymous = requests.request(method, api.emulator.api_url + "/users/me", timeout=10)

    assert _single_error(response, 404) == "No matching route for request"
    assert _single_error(anonymous, 401) == "Not Authorized"
    assert [(r.method, r.status) for r in api.emulator.requests] == [(method, 404), (method, 401)]
