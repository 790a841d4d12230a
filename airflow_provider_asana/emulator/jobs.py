"""
Resource and graph exports: the jobs that make them, and which state of the organization each one shows.

A job advances as an organization export does (:class:`.state.ExportStore`, the same ``polls_to_finish`` and
``seconds_to_finish``), under the names of ``/jobs/{job_gid}``: ``not_started`` -> ``in_progress`` ->
``succeeded`` (or ``failed``). A workspace has at most one job that is not done (resource and graph exports
together: Asana documents the limit for resource exports; that graph exports share it is **unverified**); a
second request is refused, which Asana answers with 403.

The ``n``-th job created for a workspace (at the current export size) shows export ``n`` of the organization's
sequence, as of that export's time, which is also its ``created_at``: so the job after a job asks for
``modified_at.after`` = that job's ``created_at`` and gets exactly the objects changed in between.
:meth:`JobBook.set_next_sequence` makes the next job show another export.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_asana.emulator.state import Export, ExportStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_provider_asana.emulator.directory import Workspace
    from airflow_provider_asana.emulator.jobrequests import ExportParameter

FIRST_JOB_GID = 1_220_000_000_000_001
#: Export states as job statuses.
STATUS = {"pending": "not_started", "started": "in_progress", "finished": "succeeded", "error": "failed"}
Kind = Literal["resource", "graph"]
#: Per kind: the job's ``resource_subtype``, its export's property and ``resource_type``, the file's name.
SUBTYPE = {"resource": "export_request", "graph": "graph_export_request"}
EXPORT_PROPERTY = {"resource": "new_resource_export", "graph": "new_graph_export"}
EXPORT_TYPE = {"resource": "export_request", "graph": "graph_export"}
FILE_NAME = {"resource": "resource_export.jsonl.gz", "graph": "graph_export.jsonl.gz"}


@dataclass(frozen=True)
class JobRequest:
    """
    What a job exports.

    :param kind: ``resource`` or ``graph``.
    :param workspace: The workspace it counts against.
    :param parameters: A resource export's ``export_request_parameters``.
    :param parent: A graph export's parent: its gid and ``(member, entry)`` in the organization.
    """

    kind: Kind
    workspace: Workspace
    parameters: tuple[ExportParameter, ...] = ()
    parent: tuple[str, int, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        """Return the request as canonical JSON (it names the job's file in the cache)."""
        if self.kind == "graph":
            return {
                "kind": "graph",
                "workspace": self.workspace.gid,
                "parent": self.parent and self.parent[0],
            }
        parameters = [parameter.as_dict() for parameter in self.parameters]
        return {"kind": "resource", "workspace": self.workspace.gid, "export_request_parameters": parameters}


def export_gid(job_gid: str) -> str:
    """Return the gid of the export a job makes (``new_resource_export.gid`` or ``new_graph_export.gid``)."""
    return str(int(job_gid) + 1)


def job_path(job: Export) -> str:
    """Return the object path of a job's file on the download host."""
    return f"/jobs/{job.gid}/{FILE_NAME[request_of(job).kind]}"


def request_of(job: Export) -> JobRequest:
    """Return what ``job`` exports."""
    request = job.request
    if not isinstance(request, JobRequest):
        raise TypeError(f"{job.gid} is not an export job")
    return request


class JobBook:
    """
    Every job, how each advances, and which export of the sequence the next one shows.

    :param polls_to_finish: GETs until done, or None (see :class:`.state.ExportStore`).
    :param seconds_to_finish: Seconds until done, or None.
    :param fail: Asked when a job ends: True makes it ``failed``.
    """

    def __init__(
        self, polls_to_finish: int | None, seconds_to_finish: float | None, fail: Callable[[], bool]
    ) -> None:
        # Gids step by two: the export a job makes takes the gid after the job's.
        self.store = ExportStore(
            polls_to_finish, seconds_to_finish, fail, first_gid=FIRST_JOB_GID, gid_step=2
        )
        self._lock = threading.Lock()
        self._start = 0
        self._next: dict[tuple[str, int], int] = {}

    def next_sequence(self, workspace: Workspace, size: int) -> int:
        """Return the export of the sequence the next job for ``workspace`` will show."""
        with self._lock:
            return self._next.get((workspace.gid, size), self._start)

    def set_next_sequence(self, sequence: int) -> None:
        """Make the next job of every workspace show export ``sequence``, and the ones after it the next."""
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
            raise ValueError(f"sequence must be an int >= 0; got {sequence!r}")
        with self._lock:
            self._start = sequence
            self._next.clear()

    def create(self, request: JobRequest, size: int) -> Export | None:
        """
        Start a job for ``request`` showing the next export of the sequence whose export 0 is ``size`` bytes.

        :return: The job; None, creating nothing, while another job of the workspace is not done.
        """
        key = (request.workspace.gid, size)
        with self._lock:
            sequence = self._next.get(key, self._start)
            job = self.store.create_exclusive(request.workspace, size, sequence, request)
            if job is not None:
                self._next[key] = sequence + 1
            return job
