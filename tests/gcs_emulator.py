"""
``python -m tests.gcs_emulator --port N``: gcp-storage-emulator, with two things of GCS's API it lacks.

gcp-storage-emulator (PyPI) serves GCS's JSON API from memory, resumable uploads included, but it ignores
request preconditions and has no way to cancel an upload session. GCS documents both, and gcsfs uses both,
so the tests add them here, at the HTTP boundary, as GCS specifies them:

- ``ifGenerationMatch=0`` on an upload (simple, or any request of a resumable session, whose URL carries
  it): 412 Precondition Failed if the object exists. GCS checks it when the object would be created; what
  this proves is that our code asks for it and handles the refusal, not that GCS refuses (only GCS can).
- ``DELETE`` of a resumable session URL: the session is dropped and the answer is 499, as GCS answers.

And one change of speed, not of behaviour: the emulator appends each chunk of a resumable upload by reading
the whole upload so far and writing it back (quadratic: a 2 GiB upload in 16 MiB chunks copies 130 GiB).
Here a session's bytes grow in one buffer instead, so that the emulator does not dwarf what the stores
benchmark compares.

And one route for the tests alone, ``GET /_test/upload_sessions``: the bytes each open resumable session
has received, with its bucket and object (GCS shows no such list), so a test can tell that an upload is under way.

Everything else is the emulator's own code.
"""

from __future__ import annotations

import argparse
import logging
import sys
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any

#: GCS answers a cancelled upload session with this non-standard status (gcsfs treats it as success); the
#: emulator's responses take a status with a value and a phrase.
UPLOAD_CANCELLED = SimpleNamespace(value=499, phrase="Client Closed Request")


def _object_name(request: Any) -> str | None:
    if "name" in request.query:
        return request.query["name"][0]
    data = request.data
    if isinstance(data, dict):
        meta = data.get("meta") if "meta" in data else data
        if isinstance(meta, dict):
            return meta.get("name")
    return None


def _with_precondition(handler: Any) -> Any:
    """Refuse an upload with ``ifGenerationMatch=0`` (412) if its object exists; else run ``handler``."""
    from gcp_storage_emulator.exceptions import NotFound

    def checked(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> Any:
        if request.query.get("ifGenerationMatch") == ["0"]:
            name = _object_name(request)
            try:
                if name is not None:
                    storage.get_file_obj(request.params["bucket_name"], name)
            except NotFound:
                pass
            else:
                if name is not None:
                    response.status = HTTPStatus.PRECONDITION_FAILED
                    response.json({"error": {"code": 412, "message": "conditionNotMet"}})
                    return None
        return handler(request, response, storage, *args, **kwargs)

    return checked


def _cancel_upload(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
    from gcp_storage_emulator.exceptions import NotFound

    upload_id = (request.query.get("upload_id") or [""])[0]
    try:
        storage.delete_resumable_file_obj(upload_id)
    except NotFound:
        response.status = HTTPStatus.NOT_FOUND
        return
    response.status = UPLOAD_CANCELLED


def _upload_sessions(request: Any, response: Any, storage: Any, *args: Any, **kwargs: Any) -> None:
    sessions = [
        {
            "bucket": obj.get("bucket"),
            "name": obj.get("name"),
            "bytes": storage.get_resumable_byte_count(upload_id),
        }
        for upload_id, obj in list(storage.resumable.items())
    ]
    response.json(sessions)


def _linear_resumable_uploads() -> None:
    """Keep each resumable session's bytes in one growing buffer (same answers, linear cost)."""
    from gcp_storage_emulator.exceptions import BadRequest
    from gcp_storage_emulator.storage import Storage

    buffers: dict[str, bytearray] = {}
    delete_session = Storage.delete_resumable_file_obj

    def get_resumable_byte_count(self: Any, file_id: str) -> int:
        return len(buffers.get(file_id, b""))

    def add_to_resumable_upload(
        self: Any,
        file_id: str,
        content: bytes,
        total_size: int | None = None,
        expected_start: int | None = None,
    ) -> bytes | None:
        buffer = buffers.setdefault(file_id, bytearray())
        if expected_start is not None and expected_start != len(buffer):
            raise BadRequest(f"Invalid Content-Range start: expected {len(buffer)}, got {expected_start}")
        buffer += content or b""
        if total_size is None or len(buffer) < total_size:
            return None
        del buffers[file_id]
        return bytes(memoryview(buffer)[:total_size])

    def delete_resumable_file_obj(self: Any, file_id: str) -> None:
        buffers.pop(file_id, None)
        delete_session(self, file_id)

    Storage.get_resumable_byte_count = get_resumable_byte_count  # type: ignore[method-assign]
    Storage.add_to_resumable_upload = add_to_resumable_upload  # type: ignore[method-assign]
    Storage.delete_resumable_file_obj = delete_resumable_file_obj  # type: ignore[method-assign]


def install() -> None:
    """Add the preconditions, the session cancel and linear sessions to the emulator (before it serves)."""
    from gcp_storage_emulator import server, settings

    _linear_resumable_uploads()
    upload_route = rf"^{settings.UPLOAD_API_ENDPOINT}/b/(?P<bucket_name>[-.\w]+)/o$"
    routes = []
    for regex, handlers in server.HANDLERS:
        if regex == upload_route:
            routes.append((regex, {
                server.POST: _with_precondition(handlers[server.POST]),
                server.PUT: _with_precondition(handlers[server.PUT]),
                server.DELETE: _cancel_upload,
            }))  # fmt: skip
        else:
            routes.append((regex, handlers))
    if not any(regex == upload_route for regex, _ in routes):
        raise RuntimeError("gcp-storage-emulator has no upload route any more: update tests/gcs_emulator.py")
    routes.insert(0, (r"^/_test/upload_sessions$", {server.GET: _upload_sessions}))
    server.HANDLERS = tuple(routes)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.gcs_emulator")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    from gcp_storage_emulator.server import create_server

    logging.getLogger().setLevel(logging.CRITICAL)
    install()
    server = create_server(args.host, args.port, in_memory=True)
    server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
