"""A small API client for the emulator tests."""

from __future__ import annotations

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
