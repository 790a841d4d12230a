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
- ``GET /_emulator/jobs``: resource and graph export jobs, gid -> kind, status, workspace, sequence,
  created_at, completed_at, polls, request (and once succeeded: size, sha256, etag, counts).
- ``GET /_emulator/jobs/<gid>/listing``: the ground truth of job ``gid``, one ``{"gid", "resource_type"}`` row
  per line of its file, in order, as JSON Lines.
- ``GET /_emulator/next_job_sequence``, ``PUT /_emulator/next_job_sequence`` (``{"sequence": k}``): the export
  of the organization's sequence the next job of each workspace shows.
- ``GET /_emulator/sequence/<k>``: when export ``k`` of the sequence is taken, on the organization's clock
  (``time``), and export ``k - 1`` (``previous``): the ``modified_at`` window of export ``k``'s changes.
"""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING, Any

from airflow_provider_asana.emulator.formats import dumps

if TYPE_CHECKING:
    from pathlib import Path

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
        elif (name, method) == ("jobs", "GET"):
            _answer(handler, 200, app.jobs)
        elif name.startswith("jobs/") and name.endswith("/listing") and method in ("GET", "HEAD"):
            _send_job_listing(handler, name[len("jobs/") : -len("/listing")])
        elif name == "next_job_sequence" and method in ("GET", "PUT", "POST"):
            if method != "GET":
                body = _object(handler.body)
                if "sequence" not in body:
                    raise ValueError('expected {"sequence": <int >= 0>}')
                app.set_next_job_sequence(body["sequence"])
            _answer(handler, 200, {"sequence": app.next_job_sequence()})
        elif name.startswith("sequence/") and method == "GET":
            sequence = int(name[len("sequence/") :])
            if sequence < 0:
                raise ValueError(f"sequence must be >= 0; got {sequence}")
            previous = app.sequence_time(sequence - 1) if sequence else None
            _answer(
                handler,
                200,
                {"sequence": sequence, "time": app.sequence_time(sequence), "previous": previous},
            )
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
    _send_lines(handler, path)


def _send_job_listing(handler: BaseHandler, gid: str) -> None:
    try:
        path = handler.app.job_listing(gid)
    except KeyError:
        _answer(handler, 404, {"error": f"no export job {gid!r}"})
        return
    _send_lines(handler, path)


def _send_lines(handler: BaseHandler, path: Path) -> None:
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
