"""What the resource and graph export tests share: Asana's answers for jobs, and a mocked HTTP boundary."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
import responses

from tests.conftest import WORKSPACE

BASE = "https://asana.test/api/1.0"
RESOURCE_EXPORTS = f"{BASE}/exports/resource"
GRAPH_EXPORTS = f"{BASE}/exports/graph"
JOB_GID = "1400000000000001"
EXPORT_GID = "1500000000000001"
JOB_URL = f"{BASE}/jobs/{JOB_GID}"
SIGNATURE = "cafef00dsignature42"
DOWNLOAD_URL = (
    f"https://s3.test/exports/{EXPORT_GID}/export.jsonl.gz?X-Amz-Expires=300&X-Amz-Signature={SIGNATURE}"
)
BODY = gzip.compress(b'{"gid": "1", "resource_type": "task"}\n{"gid": "2", "resource_type": "task"}\n')
CREATED_AT = "2026-11-29T09:00:00.000Z"
COMPLETED_AT = "2026-11-29T09:05:00.000Z"

__all__ = ["WORKSPACE"]


def job(
    status: str = "in_progress",
    *,
    subtype: str = "export_request",
    url: str | None = None,
    gid: str = JOB_GID,
) -> dict[str, Any]:
    """A Job as ``GET /jobs/{gid}`` answers it (``data``), for a resource or graph export."""
    field = "new_resource_export" if subtype == "export_request" else "new_graph_export"
    done = status == "succeeded"
    return {
        "data": {
            "gid": gid,
            "resource_type": "job",
            "resource_subtype": subtype,
            "status": status,
            field: {
                "gid": EXPORT_GID,
                "resource_type": "resource_export" if subtype == "export_request" else "graph_export",
                "created_at": CREATED_AT,
                "completed_at": COMPLETED_AT if done else None,
                "download_url": (url or DOWNLOAD_URL) if done else None,
            },
        }
    }


def asana_error(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "help": "For more information on API status codes ..."}]}


#: What this provider takes for Asana's refusal of a second export of a busy workspace (the text is not
#: documented: the rule is in hooks/_api.py).
BUSY = asana_error("You can only have one export in progress at a time for this workspace.")


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def sleeps(mocker):
    """Tenacity sleeps through time.sleep: record the waits instead of waiting."""
    return mocker.patch("time.sleep")


def calls(rsps, method: str | None = None, url: str | None = None) -> list:
    """The requests made, optionally of one method and URL (without its query)."""
    return [
        c
        for c in rsps.calls
        if (method is None or c.request.method == method)
        and (url is None or c.request.url.split("?")[0] == url)
    ]
