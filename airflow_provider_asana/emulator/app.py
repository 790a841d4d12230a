"""
What the two hosts serve and the control API steers: the token, the exports, the faults, the request log.

:class:`EmulatorApp` holds the emulated Asana's state and knows nothing of sockets; the handlers
(``api``, ``download``, ``control``) read and change it, and :class:`.emulator.AsanaEmulator` serves it
on two HTTP servers.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from airflow_provider_asana.emulator.cache import Artifact, ExportCache, read_member
from airflow_provider_asana.emulator.directory import (
    BUSINESS_ORG,
    ENTERPRISE_ORG,
    PERSONAL_WORKSPACE,
    Workspace,
    find_workspace,
)
from airflow_provider_asana.emulator.exportfile import MIN_SIZE
from airflow_provider_asana.emulator.faults import Faults
from airflow_provider_asana.emulator.formats import iso8601_ms
from airflow_provider_asana.emulator.jobs import STATUS, JobBook, JobRequest, job_path, request_of
from airflow_provider_asana.emulator.lifecycle import ChangeRates
from airflow_provider_asana.emulator.presign import FILE_NAME, UrlSigner
from airflow_provider_asana.emulator.records import RequestLog, RequestRecord
from airflow_provider_asana.emulator.state import Export, ExportStore
from airflow_provider_asana.emulator.walk import Organization

DEFAULT_TOKEN = "emulator-token-0000"
NOT_RUNNING = "the emulator is not running: call start() first"


class EmulatorApp:
    """
    The emulated Asana account and its organization exports, with injectable faults.

    :param token: The only bearer token accepted.
    :param export_size: Bytes of the gzip export file (exact, at least 1 KiB): of export 0 of each
        organization's sequence.
    :param polls_to_finish: An export is ``finished`` on this GET of it (``started`` on the earlier ones,
        ``pending`` when created). None: polls do not finish it.
    :param seconds_to_finish: Alternatively, ``finished`` this long after creation (``pending`` for the
        first third, ``started`` after). Whichever condition is met first wins; with both None exports
        never finish.
    :param url_ttl: Lifetime of each minted download URL, seconds (fractions allowed).
    :param cache_dir: Where generated export files are kept; see :func:`.cache.default_cache_dir`.
    :param faults: The fault switches (used live, not copied); all off if None.
    :param seed: Seed of the export file's content.
    :param change_rates: What changes between two exports of an organization (defaults if None). Each
        export created for an organization serves the next export of its sequence: export 0 is
        ``export_size`` bytes, export ``k`` is export ``k - 1`` plus seeded inserts, updates, trashings
        and deletions, listed exactly by :meth:`export_changes`.
    :param prepare_in_background: Generate a later export of a sequence on a thread as soon as it is created
        (so that its first download does not wait for it); if False, only when it is first downloaded. Off
        where many exports are created and never downloaded (the trigger benchmark).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        export_size: int = 1 << 20,
        polls_to_finish: int | None = 2,
        seconds_to_finish: float | None = None,
        url_ttl: float = 300,
        cache_dir: str | Path | None = None,
        faults: Faults | None = None,
        *,
        seed: int = 0,
        change_rates: ChangeRates | None = None,
        prepare_in_background: bool = True,
    ) -> None:
        if not token:
            raise ValueError("token must be a non-empty string")
        if not url_ttl > 0:
            raise ValueError(f"url_ttl must be > 0; got {url_ttl}")
        _check_size(export_size)
        self.token = token
        self.url_ttl = float(url_ttl)
        self.seed = seed
        self.change_rates = change_rates or ChangeRates()
        self.prepare_in_background = prepare_in_background
        self.organization_gid = ENTERPRISE_ORG.gid
        self.non_enterprise_organization_gid = BUSINESS_ORG.gid
        self.workspace_gid = PERSONAL_WORKSPACE.gid
        self.log = RequestLog()
        self.cache = ExportCache(cache_dir)
        self._faults = faults if faults is not None else Faults()
        self.store = ExportStore(
            polls_to_finish, seconds_to_finish, fail=lambda: self._faults.export_state == "error"
        )
        self.job_book = JobBook(
            polls_to_finish, seconds_to_finish, fail=lambda: self._faults.job_status == "failed"
        )
        self._export_size = export_size
        self._connection_ids = itertools.count(1)
        self._urls: tuple[str, str] | None = None
        self._signer: UrlSigner | None = None

    def serve_at(self, api_base: str, download_base: str) -> None:
        """
        Record where the two hosts listen (``http://host:port`` each) and sign URLs for the download host.

        Called by whoever runs the servers once they are bound.
        """
        self._urls = (api_base, download_base)
        self._signer = UrlSigner(download_base)

    def stop_serving(self) -> None:
        """Forget the hosts' addresses: the URL properties raise until :meth:`serve_at` is called again."""
        self._urls = None

    def _url(self, index: int) -> str:
        if self._urls is None:
            raise RuntimeError(NOT_RUNNING)
        return self._urls[index]

    @property
    def api_url(self) -> str:
        """``http://<host>:<port>/api/1.0``."""
        return f"{self._url(0)}/api/1.0"

    @property
    def download_base(self) -> str:
        """``http://<host>:<download_port>``: the S3 stand-in."""
        return self._url(1)

    @property
    def connection(self) -> dict[str, Any]:
        """The Airflow connection for this emulator, as a dict."""
        return {
            "conn_type": "asana",
            "host": self.api_url,
            "password": self.token,
            "extra": {"workspace": self.organization_gid},
        }

    @property
    def connection_json(self) -> str:
        """The Airflow connection in JSON, as ``AIRFLOW_CONN_<ID>`` accepts it."""
        return json.dumps(self.connection)

    @property
    def connection_uri(self) -> str:
        """The Airflow connection as a URI (the API URL is the percent-encoded host)."""
        extra = quote(json.dumps({"workspace": self.organization_gid}), safe="")
        return f"asana://:{quote(self.token, safe='')}@{quote(self.api_url, safe='')}/?__extra__={extra}"

    def info(self) -> dict[str, Any]:
        """Return what a script needs to use this emulator (also the CLI's ``--ready-file``)."""
        return {
            "api_url": self.api_url,
            "download_base": self.download_base,
            "token": self.token,
            "organization_gid": self.organization_gid,
            "non_enterprise_organization_gid": self.non_enterprise_organization_gid,
            "workspace_gid": self.workspace_gid,
            "export_size": self._export_size,
            "change_rates": dataclasses.asdict(self.change_rates),
            "connection": self.connection,
            "connection_uri": self.connection_uri,
        }

    @property
    def faults(self) -> Faults:
        """The live fault switches."""
        return self._faults

    def set_faults(self, **changes: Any) -> Faults:
        """Change several faults at once, atomically (see :class:`Faults` for the names)."""
        self._faults.update(**changes)
        return self._faults

    def clear_faults(self) -> None:
        """Turn every fault off."""
        self._faults.reset()

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request both hosts answered, oldest first (control requests excluded)."""
        return self.log.snapshot()

    def clear_requests(self) -> None:
        """Empty the request log and reset the in-flight peaks."""
        self.log.clear()

    def max_in_flight(self, token: str | None = None) -> int:
        """Return the most API requests that were in flight at once for ``token``; for any token if None."""
        return self.log.max_in_flight(token)

    def stats(self) -> dict[str, Any]:
        """Request counts and in-flight peaks (tokens appear as short hashes)."""
        return self.log.stats()

    def next_connection_id(self) -> int:
        """Return a new TCP connection id (shared by both hosts)."""
        return next(self._connection_ids)

    @property
    def export_size(self) -> int:
        """Bytes of the file that exports created from now on will serve."""
        return self._export_size

    def set_export_size(self, size: int) -> None:
        """Generate (or reuse) a ``size``-byte file and serve it for exports created from now on."""
        _check_size(size)
        self.cache.export(size, self.seed)
        self._export_size = size

    @property
    def signer(self) -> UrlSigner:
        """Mints and checks download URLs."""
        if self._signer is None:
            raise RuntimeError(NOT_RUNNING)
        return self._signer

    def mint_url(self, path: str) -> str:
        """Mint a presigned URL for the file at ``path`` (already expired if the ``expire_urls`` fault says so)."""
        return self.signer.mint(path, self.url_ttl, expired=self._faults.take("expire_urls"))

    def download(self, path: str) -> tuple[Artifact, float] | None:
        """Return the file the download host serves at ``path`` and when it was made; None if there is none."""
        kind, _, rest = path.strip("/").partition("/")
        gid, _, name = rest.partition("/")
        if kind == "exports" and name == FILE_NAME:
            export = self.store.get(gid)
            if export is not None and export.state == "finished":
                return self.artifact(export), export.finished_at or export.created
        elif kind == "jobs":
            job = self.job_book.store.get(gid)
            if job is not None and job.state == "finished" and job_path(job) == path:
                return self.job_artifact(job), job.finished_at or job.created
        return None

    def create_export(self, organization: Workspace) -> Export:
        """
        Start the next export of ``organization``.

        A later export of its sequence is generated in the background meanwhile, so that its first download
        does not wait for the whole file.
        """
        export = self.store.create(organization, self._export_size)
        if export.sequence and self.prepare_in_background:
            name = f"asana-emulator-prepare-{export.gid}"
            threading.Thread(target=self._prepare, args=(export,), name=name, daemon=True).start()
        return export

    def _prepare(self, export: Export) -> None:
        # A failure shows again, with its cause, when the file is asked for.
        with contextlib.suppress(Exception):
            self.cache.export(export.size, self.seed, export=export.sequence, rates=self.change_rates)

    def artifact(self, export: Export) -> Artifact:
        """
        Return the file served for ``export`` right now.

        That is its place in its organization's sequence, as a truncated copy under ``truncate_gzip``, with
        lines that are not records under ``bad_lines``.
        """
        size, seed, sequence, rates = export.size, self.seed, export.sequence, self.change_rates
        if self._faults.truncate_gzip:
            return self.cache.truncated(size, seed, export=sequence, rates=rates)
        return self.cache.export(size, seed, export=sequence, rates=rates, bad_lines=self._faults.bad_lines)

    def export_changes(self, gid: str) -> Path:
        """
        Return the ground truth of export ``gid``, a JSON Lines file.

        It lists the objects the export inserts, updates and deletes against the export of the same
        organization before it (every object is an insert in the first), in ``__object_id`` order; see
        :mod:`.changes` for the format.
        """
        export = self._export(gid)
        changes = self.cache.changes(export.size, self.seed, export=export.sequence, rates=self.change_rates)
        return changes.path

    def _export(self, gid: str) -> Export:
        export = self.store.get(gid)
        if export is None:
            raise KeyError(f"no organization export {gid!r}")
        return export

    def export_file(self, gid: str) -> Path:
        """Return the path of the file served for export ``gid``."""
        return self.artifact(self._export(gid)).path

    def export_sha256(self, gid: str) -> str:
        """SHA-256 of the file served for export ``gid``."""
        return self.artifact(self._export(gid)).sha256

    def export_etag(self, gid: str) -> str:
        """Return the ETag (MD5, unquoted) of the file served for export ``gid``."""
        return self.artifact(self._export(gid)).etag

    def organization(self, size: int | None = None) -> Organization:
        """Return the emulated organization whose export 0 is ``size`` bytes (the current export size if None)."""
        size = self._export_size if size is None else size
        plan = tuple(self.cache.export(size, self.seed).plan)
        return Organization(
            self.seed, size, plan, self.change_rates, self.cache.member_size, lines=self._member_lines(size)
        )

    def _member_lines(self, size: int) -> Callable[[int, int], list[bytes]]:
        """Read one member's lines from the organization's export files (generated, then cached)."""

        def lines(member: int, export: int) -> list[bytes]:
            artifact = self.cache.export(size, self.seed, export=export, rates=self.change_rates)
            return read_member(artifact, member)

        return lines

    def sequence_time(self, sequence: int, size: int | None = None) -> str:
        """
        Return when export ``sequence`` of the organization's sequence is taken, in Asana's date-time form.

        Everything export ``sequence`` changes happened in the day before: objects changed there have a
        ``modified_at`` after ``sequence_time(sequence - 1)`` and up to ``sequence_time(sequence)``.
        """
        return iso8601_ms(self.organization(size).time(sequence))

    def next_job_sequence(self, workspace_gid: str | None = None) -> int:
        """Return the export of the sequence the next resource or graph export of a workspace will show."""
        workspace = find_workspace(workspace_gid or self.organization_gid)
        if workspace is None:
            raise KeyError(f"no workspace {workspace_gid!r}")
        return self.job_book.next_sequence(workspace, self._export_size)

    def set_next_job_sequence(self, sequence: int) -> None:
        """Make the next resource or graph export of each workspace show export ``sequence``, the next ones on."""
        self.job_book.set_next_sequence(sequence)

    def graph_request(self, parent_gid: str) -> JobRequest:
        """
        Return a graph export of ``parent_gid`` for the organization, as its next job would show it.

        :raises KeyError: no such object in that export of the organization.
        :raises ValueError: the object is neither a project nor a team.
        """
        workspace = find_workspace(self.organization_gid) or ENTERPRISE_ORG
        organization = self.organization()
        sequence = self.job_book.next_sequence(workspace, self._export_size)
        place = organization.locate(int(parent_gid), sequence)
        if place is None:
            raise KeyError(parent_gid)
        member, entry = place
        if organization.kind(member, entry) not in ("Project", "Team"):
            raise ValueError(f"{parent_gid} is neither a goal, a project, a portfolio nor a team")
        return JobRequest("graph", workspace, parent=(parent_gid, member, entry))

    def create_job(self, request: JobRequest) -> Export | None:
        """
        Start a resource or graph export job; None, starting nothing, while the workspace has one in progress.

        Its file is generated in the background meanwhile.
        """
        job = self.job_book.create(request, self._export_size)
        if job is not None:
            name = f"asana-emulator-prepare-job-{job.gid}"
            threading.Thread(target=self._prepare_job, args=(job,), name=name, daemon=True).start()
        return job

    def _prepare_job(self, job: Export) -> None:
        # A failure shows again, with its cause, when the file is asked for.
        with contextlib.suppress(Exception):
            self._job_file(job)

    def _job_file(self, job: Export) -> Artifact:
        return self.cache.job(self.organization(job.size), request_of(job), job.sequence)

    def job_artifact(self, job: Export) -> Artifact:
        """Return the file served for ``job`` right now (a truncated copy under ``truncate_gzip``)."""
        full = self._job_file(job)
        return self.cache.truncated_copy(full) if self._faults.truncate_gzip else full

    def _find_job(self, gid: str) -> Export:
        job = self.job_book.store.get(gid)
        if job is None:
            raise KeyError(f"no export job {gid!r}")
        return job

    def job_file(self, gid: str) -> Path:
        """Return the path of the file served for job ``gid``."""
        return self.job_artifact(self._find_job(gid)).path

    def job_listing(self, gid: str) -> Path:
        """
        Return the ground truth of job ``gid``, a JSON Lines file.

        It has one ``{"gid", "resource_type"}`` row per line of the job's file, in the same order (duplicates
        included).
        """
        return self.cache.listing_path(self._job_file(self._find_job(gid)).path)

    def job_times(self, job: Export) -> tuple[str, str | None]:
        """
        Return ``created_at`` and ``completed_at`` of a job's export, on the organization's clock.

        ``created_at`` is the time of the export of the sequence it shows; ``completed_at`` (None until it
        succeeds) is as much later as the job took.
        """
        start = self.organization(job.size).time(job.sequence)
        if job.state != "finished" or job.finished_at is None:
            return iso8601_ms(start), None
        return iso8601_ms(start), iso8601_ms(start + max(0.001, job.finished_at - job.created))

    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """
        Every resource and graph export job, by gid.

        Each has its kind, status, workspace, sequence, created_at and completed_at (on the organization's
        clock), polls, request, and once succeeded the file's size, sha256, etag and lines per resource type.
        """
        result = {}
        for job in self.job_book.store.all():
            request = request_of(job)
            created_at, completed_at = self.job_times(job)
            entry: dict[str, Any] = {
                "kind": request.kind, "status": STATUS[job.state], "workspace": request.workspace.gid,
                "sequence": job.sequence, "created_at": created_at, "completed_at": completed_at,
                "polls": job.polls, "request": request.as_dict(),
            }  # fmt: skip
            if job.state == "finished":
                artifact = self.job_artifact(job)
                entry.update(
                    size=artifact.size, sha256=artifact.sha256, etag=artifact.etag, counts=artifact.counts
                )
            result[job.gid] = entry
        return result

    @property
    def exports(self) -> dict[str, dict[str, Any]]:
        """Every export: gid -> state, organization, created_at, polls, sequence, size, sha256, etag."""
        result = {}
        for export in self.store.all():
            artifact = self.artifact(export)
            result[export.gid] = {
                "state": export.state,
                "organization": export.organization.gid,
                "created_at": iso8601_ms(export.created),
                "polls": export.polls,
                "sequence": export.sequence,
                "size": artifact.size,
                "sha256": artifact.sha256,
                "etag": artifact.etag,
            }
        return result


def _check_size(size: int) -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < MIN_SIZE:
        raise ValueError(f"export_size must be an int >= {MIN_SIZE} bytes; got {size!r}")
