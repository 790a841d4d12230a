"""The API host: Asana's ``/api/1.0`` for organization exports, the current user and workspaces."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
import time
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from airflow_provider_asana.emulator import control, fields
from airflow_provider_asana.emulator.directory import USER_GID, WORKSPACES, find_workspace, user_resource
from airflow_provider_asana.emulator.errors import RATE_LIMIT_MESSAGE, asana_error, proxy_html, server_error
from airflow_provider_asana.emulator.formats import dumps, iso8601_ms
from airflow_provider_asana.emulator.server import BaseHandler

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.state import Export

API_PREFIX = "/api/1.0"
JSON = "application/json; charset=UTF-8"
ENTERPRISE_ONLY = "Organization exports are only available to Enterprise organizations."
_GID = re.compile(r"^[0-9]+$")
_USER_DEFAULT = fields.parse(["name,email,photo,workspaces,workspaces.name"])
_WORKSPACE_DEFAULT = fields.parse(["name"])
_EXPORT_DEFAULT: fields.Tree = {}
_OFFSET_PREFIX = "workspaces:"


class ApiError(Exception):
    """An Asana error answer: status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ApiHandler(BaseHandler):
    """Answers API calls as Asana does, with the emulator's faults applied first."""

    host_kind = "api"
    server_version = "nginx"

    def dispatch(self) -> None:
        if self.url_path.startswith(control.PREFIX):
            self.recorded = False
            control.handle(self)
            return
        token = _bearer(self.headers.get("Authorization"))
        self.enter_flight(token or "")
        self._serve(token)

    def _serve(self, token: str | None) -> None:
        faults = self.app.faults
        if faults.latency:
            time.sleep(faults.latency)
        if faults.take("html_error"):
            status = faults.html_error_status
            page = proxy_html(status, HTTPStatus(status).phrase)
            self.send_bytes(status, page, "text/html")
            return
        if token is None or not hmac.compare_digest(token.encode(), self.app.token.encode()):
            self._error(401, "Not Authorized")
            return
        if faults.take("rate_limit", self.command):
            retry_after = faults.rate_limit_retry_after
            value = str(int(retry_after)) if float(retry_after).is_integer() else str(retry_after)
            self._json(429, asana_error(RATE_LIMIT_MESSAGE), {"Retry-After": value})
            return
        if faults.take("server_error", self.command):
            status = faults.server_error_status
            self._json(status, server_error(status))
            return
        try:
            self._route()
        except ApiError as error:
            self._error(error.status, str(error))

    def _route(self) -> None:
        # Asana documents no 405 (nor 501): a method it does not serve on a path is an unknown route.
        if not self.url_path.startswith(API_PREFIX + "/"):
            raise ApiError(404, "No matching route for request")
        route = self.url_path[len(API_PREFIX) :].rstrip("/")
        parts = route.split("/")[1:]
        method = self.command
        if parts == ["organization_exports"] and method == "POST":
            self._create_export()
        elif len(parts) == 2 and parts[0] == "organization_exports" and method == "GET":
            self._get_export(parts[1])
        elif len(parts) == 2 and parts[0] == "users" and parts[1] in ("me", USER_GID) and method == "GET":
            self._json(200, {"data": fields.select(user_resource(), self._opt_fields(), _USER_DEFAULT)})
        elif parts == ["workspaces"] and method == "GET":
            self._list_workspaces()
        elif len(parts) == 2 and parts[0] == "users" and method == "GET":
            raise ApiError(404, f"Unknown object: {parts[1]}")
        else:
            raise ApiError(404, "No matching route for request")

    def _create_export(self) -> None:
        faults = self.app.faults
        if faults.forbidden:
            raise ApiError(403, "Forbidden")
        gid = _organization_gid(self._request_data())
        organization = find_workspace(gid)
        if organization is None:
            raise ApiError(404, f"Unknown object: {gid}")
        if faults.non_enterprise or not (organization.is_organization and organization.enterprise):
            raise ApiError(402, ENTERPRISE_ONLY)
        export = self.app.create_export(organization)
        self._json(201, {"data": self._export_resource(export)})

    def _get_export(self, gid: str) -> None:
        if self.app.faults.forbidden:
            raise ApiError(403, "Forbidden")
        if not _GID.match(gid):
            raise ApiError(400, "organization_export: Not a valid gid")
        export = self.app.store.poll(gid)
        if export is None:
            raise ApiError(404, f"Unknown object: {gid}")
        self._json(200, {"data": self._export_resource(export)})

    def _export_resource(self, export: Export) -> dict[str, Any]:
        requested = self._opt_fields()
        tree = fields.parse(requested) if requested else _EXPORT_DEFAULT
        url = self.app.mint_url(export.gid) if export.state == "finished" and "download_url" in tree else None
        resource = {
            "gid": export.gid,
            "resource_type": "organization_export",
            "created_at": iso8601_ms(export.created),
            "download_url": url,
            "organization": export.organization.resource(),
            "state": export.state,
        }
        return fields.project(resource, tree)

    def _request_data(self) -> dict[str, Any]:
        if not self.body.strip():
            return {}
        if "application/x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
            form = parse_qs(self.body.decode("utf-8", "replace"))
            return {key: values[-1] for key, values in form.items()}
        try:
            body = json.loads(self.body)
        except ValueError:
            raise ApiError(400, "Could not parse request data, invalid JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        return data if isinstance(data, dict) else {}

    def _list_workspaces(self) -> None:
        limit = _limit(self.query.get("limit"))
        offsets = self.query.get("offset")
        raw_offset = offsets[-1] if offsets else None
        start = _decode_offset(raw_offset, len(WORKSPACES)) if raw_offset else 0
        items = [workspace.resource() for workspace in WORKSPACES]
        page_size = limit or len(items)
        page = items[start : start + page_size]
        body: dict[str, Any] = {"data": fields.select(page, self._opt_fields(), _WORKSPACE_DEFAULT)}
        if limit is not None or raw_offset:
            end = start + page_size
            body["next_page"] = self._next_page(end, page_size) if end < len(items) else None
        self._json(200, body)

    def _next_page(self, position: int, limit: int) -> dict[str, str]:
        offset = base64.urlsafe_b64encode(f"{_OFFSET_PREFIX}{position}".encode()).decode().rstrip("=")
        path = f"/workspaces?limit={limit}&offset={offset}"
        return {"offset": offset, "path": path, "uri": self.app.api_url + path}

    def _opt_fields(self) -> list[str] | None:
        return self.query.get("opt_fields")

    def _pretty(self) -> bool:
        values = self.query.get("opt_pretty")
        return bool(values and values[-1].lower() in ("", "true", "1", "yes"))

    def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, dumps(body, pretty=self._pretty()), JSON, headers)

    def _error(self, status: int, message: str) -> None:
        self._json(status, asana_error(message))


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _organization_gid(data: dict[str, Any]) -> str:
    value = data.get("organization")
    if value is None or value == "":
        raise ApiError(400, "organization: Missing input")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not isinstance(value, str) or not _GID.match(value):
        raise ApiError(400, "organization: Not a valid gid")
    return value


def _limit(values: list[str] | None) -> int | None:
    if not values:
        return None
    try:
        limit = int(values[-1])
    except ValueError:
        limit = 0
    if not 1 <= limit <= 100:
        raise ApiError(400, "limit: Must be between 1 and 100")
    return limit


def _decode_offset(raw: str, count: int) -> int:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        position = int(text.removeprefix(_OFFSET_PREFIX)) if text.startswith(_OFFSET_PREFIX) else -1
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = -1
    if not 0 <= position <= count:
        raise ApiError(400, "offset: Your pagination token is invalid")
    return position
