"""A small API client for the emulator tests."""

from __future__ import annotations

import gzip
import json
from typing import TYPE_CHECKING

import requests

if TYPE_CHECKING:
    from airflow_provider_asana.emulator import AsanaEmulator

FULL_FIELDS = "created_at,download_url,organization,organization.name,state"


class Api:
    """A ``requests`` session bound to an emulator's API host and token."""

    def __init__(self, emulator: AsanaEmulator) -> None:
        self.emulator = emulator
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emulator.token}"

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.session.get(self.emulator.api_url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.session.post(self.emulator.api_url + path, timeout=10, **kwargs)

    def create_export(self, organization: str | None = None, **kwargs) -> requests.Response:
        body = {"data": {"organization": organization or self.emulator.organization_gid}}
        return self.post("/organization_exports", json=body, **kwargs)

    def get_export(
        self, gid: str, fields: str | None = FULL_FIELDS, params: dict | None = None, **kwargs
    ) -> requests.Response:
        params = {**({"opt_fields": fields} if fields else {}), **(params or {})}
        return self.get(f"/organization_exports/{gid}", params=params, **kwargs)

    def finished_export(self) -> tuple[str, str]:
        """Create an export and poll it until finished; return its gid and download URL."""
        gid = self.create_export().json()["data"]["gid"]
        for _ in range(50):
            data = self.get_export(gid).json()["data"]
            if data["state"] == "finished":
                return gid, data["download_url"]
        raise AssertionError(f"export {gid} never finished")

    def create_resource_export(
        self, *parameters: dict, workspace: str | None = None, **kwargs
    ) -> requests.Response:
        body = {
            "data": {
                "workspace": workspace or self.emulator.organization_gid,
                "export_request_parameters": list(parameters),
            }
        }
        return self.post("/exports/resource", json=body, **kwargs)

    def create_graph_export(self, parent: str, **kwargs) -> requests.Response:
        return self.post("/exports/graph", json={"data": {"parent": parent}}, **kwargs)

    def get_job(self, gid: str, **kwargs) -> requests.Response:
        return self.get(f"/jobs/{gid}", **kwargs)

    def finished_job(self, created: requests.Response) -> dict:
        """Poll the job ``created`` answered with until it is done; return the last Job."""
        assert created.status_code == 201, created.text
        gid = created.json()["data"]["gid"]
        for _ in range(50):
            job = self.get_job(gid).json()["data"]
            if job["status"] in ("succeeded", "failed"):
                return job
        raise AssertionError(f"job {gid} never finished")

    def job_lines(self, job: dict) -> list[dict]:
        """Download a succeeded job's file; return its objects."""
        export = job.get("new_resource_export") or job["new_graph_export"]
        body = requests.get(export["download_url"], timeout=30).content
        return [json.loads(line) for line in gzip.decompress(body).splitlines()]
