"""
``/_emulator/...`` on the API host: inspect and steer an emulator running in another process.

These requests need no token and stay out of the request log:

- ``GET /_emulator/info``: URLs, token, organization gids, export size.
- ``GET /_emulator/requests``, ``DELETE /_emulator/requests``: the request log.
- ``GET /_emulator/faults``, ``PUT /_emulator/faults`` (a JSON object of fields), ``DELETE /_emulator/faults``.
- ``GET /_emulator/exports``: gid -> state, organization, sequence, size, sha256, etag, polls.
- ``GET /_emulator/exports/<gid>/changes``: the ground truth of export ``gid`` against the organization's
  export before it, as JSON Lines (``application/x-ndjson``; the format is :mod:`.changes`').
- ``GET /_emulator/stats``: peak in-flight API requests per token label, counts by host and method.
- ``PUT /_emulator/export_size`` (``{"export_size": n}``): the size of exports created afterwards.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

from airflow_provider_asana.emulator.formats import dumps

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.server import BaseHandler

PREFIX = "/_emulator/"


def handle(handler: BaseHandler) -> None:
    """Answer a control request."""
    app = handler.app
    name = handler.url_path[len(PREFIX) :].rstrip("/")
    method = handler.command
    try:
        if (name, method) == ("info", "GET"):
            _answer(handler, 200, app.info())
        elif (name, method) == ("requests", "GET"):
            _answer(handler, 200, [record.as_dict() for record in app.requests])
        elif (name, method) == ("requests", "DELETE"):
            app.clear_requests()
            _answer(handler, 200, [])
        elif (name, method) == ("faults", "GET"):
            _answer(handler, 200, app.faults.as_dict())
        elif name == "faults" and method in ("PUT", "PATCH", "POST"):
            app.set_faults(**_object(handler.body))
            _answer(handler, 200, app.faults.as_dict())
        elif (name, method) == ("faults", "DELETE"):
            app.clear_faults()
            _answer(handler, 200, app.faults.as_dict())
        elif (name, method) == ("exports", "GET"):
            _answer(handler, 200, app.exports)
        elif name.startswith("exports/") and name.endswith("/changes") and method in ("GET", "HEAD"):
            _send_changes(handler, name[len("exports/") : -len("/changes")])
        elif (name, method) == ("stats", "GET"):
            _answer(handler, 200, app.stats())
        elif name == "export_size" and method in ("PUT", "POST"):
            app.set_export_size(int(_object(handler.body).get("export_size", 0)))
            _answer(handler, 200, {"export_size": app.export_size})
        else:
            _answer(handler, 404, {"error": f"no control endpoint {method} {handler.url_path}"})
    except (ValueError, TypeError) as error:
        _answer(handler, 400, {"error": str(error)})


def _send_changes(handler: BaseHandler, gid: str) -> None:
    try:
        path = handler.app.export_changes(gid)
    except KeyError:
        _answer(handler, 404, {"error": f"no organization export {gid!r}"})
        return
    with path.open("rb") as source:
        handler.send_head(200, "application/x-ndjson", path.stat().st_size)
        if handler.command != "HEAD":
            shutil.copyfileobj(source, handler.wfile, 1 << 20)


def _object(body: bytes) -> dict[str, Any]:
    value = json.loads(body or b"{}")
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _answer(handler: BaseHandler, status: int, body: Any) -> None:
    handler.send_bytes(status, dumps(body, pretty=True), "application/json")
