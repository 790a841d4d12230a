"""The on-disk cache of generated export files, safe to share between threads and processes."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_asana.emulator.changes import write_changes
from airflow_provider_asana.emulator.exportfile import MEMBER_SIZE, ExportInfo, write_export, write_truncated
from airflow_provider_asana.emulator.jobfiles import write_graph_export, write_resource_export
from airflow_provider_asana.emulator.lifecycle import ChangeRates

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.jobs import JobRequest
    from airflow_provider_asana.emulator.walk import Organization

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

CACHE_ENV = "ASANA_EMULATOR_CACHE"
#: Bump when the generator's output changes, so stale cached files are regenerated.
FORMAT = 2
#: Bump when a resource or graph export's output changes (it is part of each job file's name).
JOB_FORMAT = 2

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Artifact:
    """
    A generated file and what is known about it.

    :param path: The file.
    :param size: Its size in bytes.
    :param etag: MD5 hex digest, computed once at generation.
    :param sha256: SHA-256 hex digest.
    :param counts: Records per ``__type`` (empty for a truncated copy); for a change set, rows per change.
    :param members: Offsets of its gzip members.
    :param created: When it was generated (epoch seconds).
    :param plan: Objects per member in export 0 of its sequence (see :attr:`.exportfile.ExportInfo.plan`).
    :param bad_lines: Lines that are not records.
    :param raw_size: Bytes once decompressed (0 for a truncated copy or a change set).
    """

    path: Path
    size: int
    etag: str
    sha256: str
    counts: dict[str, int]
    members: tuple[int, ...]
    created: float
    plan: tuple[int, ...] = ()
    bad_lines: int = 0
    raw_size: int = 0


def default_cache_dir() -> Path:
    """``$ASANA_EMULATOR_CACHE``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``)``/airflow-provider-asana-emulator``."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "airflow-provider-asana-emulator"


class ExportCache:
    """
    Generates export files on first use and reuses them afterwards.

    Files are written to a temporary name and renamed into place, under an in-process lock and (where
    ``fcntl`` exists) a file lock, so concurrent emulators neither corrupt nor duplicate work. Exports after
    the first of a sequence, and change sets, are built from export 0's plan, so export 0 is generated
    (once) first.

    :param directory: Where files live; :func:`default_cache_dir` if None.
    :param member_size: Compressed bytes per gzip member.
    """

    def __init__(self, directory: str | Path | None = None, *, member_size: int = MEMBER_SIZE) -> None:
        self.directory = Path(directory).expanduser() if directory is not None else default_cache_dir()
        self.member_size = member_size
        self._known: dict[Path, Artifact] = {}
        self._known_guard = threading.Lock()

    def export(
        self,
        size: int,
        seed: int = 0,
        *,
        export: int = 0,
        rates: ChangeRates | None = None,
        bad_lines: bool = False,
    ) -> Artifact:
        """
        Return export ``export`` of the sequence of ``seed`` whose export 0 is ``size`` bytes.

        It is generated if not cached; later exports are built from export 0's plan.

        :param rates: The change rates between exports (the defaults if None).
        :param bad_lines: The copy with lines that are not records (a fault).
        """
        rates = rates or ChangeRates()
        name = f"export-{size}-{seed}{self._suffix(export, rates)}{'-bad' if bad_lines else ''}.json.gz"
        plan = None if export == 0 and not bad_lines else list(self.export(size, seed).plan)
        return self._get(
            self.directory / name,
            lambda out: write_export(
                out, size, seed, export=export, member_size=self.member_size, rates=rates, plan=plan,
                bad_lines=bad_lines,
            ),
        )  # fmt: skip

    def changes(self, size: int, seed: int = 0, *, export: int, rates: ChangeRates | None = None) -> Artifact:
        """
        Return the change set of :meth:`export` ``export``, generated if not cached.

        The file is JSON Lines (see :mod:`.changes`); the artifact's ``counts`` are rows per change.
        """
        rates = rates or ChangeRates()
        plan = list(self.export(size, seed).plan)
        path = self.directory / f"changes-{size}-{seed}{self._suffix(export, rates)}.jsonl"
        return self._get(path, lambda out: write_changes(out, seed, plan, export, rates=rates))

    def truncated(
        self, size: int, seed: int = 0, *, export: int = 0, rates: ChangeRates | None = None
    ) -> Artifact:
        """Return a copy of :meth:`export` cut at about 60%, so that decoding it fails."""
        return self.truncated_copy(self.export(size, seed, export=export, rates=rates))

    def truncated_copy(self, full: Artifact) -> Artifact:
        """Return a copy of the file of ``full`` cut at about 60%, so that decoding it fails."""
        name = full.path.name
        suffix = ".jsonl.gz" if name.endswith(".jsonl.gz") else ".json.gz"
        path = full.path.with_name(f"{name.removesuffix(suffix)}.truncated{suffix}")
        return self._get(path, lambda out: write_truncated(full.path, out, list(full.members)))

    def job(self, organization: Organization, request: JobRequest, export: int) -> Artifact:
        """
        Return the file of a resource or graph export of ``organization`` as of export ``export``.

        It is generated if not cached, with its listing (:meth:`listing`); see :mod:`.jobfiles`.
        """
        key = {"format": JOB_FORMAT, **organization.key(), "export": export, **request.as_dict()}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        path = (
            self.directory
            / f"{request.kind}-export-{organization.size}-{organization.seed}-{digest}.jsonl.gz"
        )

        def write(out: BinaryIO) -> ExportInfo:
            listing = self.listing_path(path)
            fd, temp = tempfile.mkstemp(prefix=f".{listing.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "wb") as rows:
                    if request.kind == "graph" and request.parent is not None:
                        parent = request.parent[1:]
                        info = write_graph_export(out, rows, organization, export, request.workspace, parent)
                    else:
                        parameters = request.parameters
                        info = write_resource_export(
                            out, rows, organization, export, request.workspace, parameters
                        )
                os.chmod(temp, 0o644)
                os.replace(temp, listing)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            return info

        return self._get(path, write)

    @staticmethod
    def listing_path(path: Path) -> Path:
        """Return where the listing of the job file at ``path`` is kept (written before the file itself)."""
        return path.with_name(path.name.removesuffix(".jsonl.gz") + ".listing.jsonl")

    def _suffix(self, export: int, rates: ChangeRates) -> str:
        member = "" if self.member_size == MEMBER_SIZE else f"-m{self.member_size}"
        return member + (f"{rates.label()}-e{export}" if export else "")

    def _get(self, path: Path, write: Callable[[BinaryIO], ExportInfo]) -> Artifact:
        with self._known_guard:
            known = self._known.get(path)
        if known is not None and known.path.exists():
            return known
        with _locked(path):
            artifact = _load(path)
            if artifact is None:
                artifact = _generate(path, write)
        with self._known_guard:
            self._known[path] = artifact
        return artifact


def read_member(artifact: Artifact, member: int) -> list[bytes]:
    """Return the lines of gzip member ``member`` of an export file (a member of the organization)."""
    offsets = artifact.members
    if not 0 <= member < len(offsets):
        raise ValueError(f"member must be from 0 to {len(offsets) - 1}; got {member}")
    end = offsets[member + 1] if member + 1 < len(offsets) else artifact.size
    with artifact.path.open("rb") as source:
        source.seek(offsets[member])
        data = source.read(end - offsets[member])
    return zlib.decompress(data, 31).splitlines()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".meta.json")


def _load(path: Path) -> Artifact | None:
    try:
        meta = json.loads(_sidecar(path).read_text())
        size = path.stat().st_size
    except (OSError, ValueError):
        return None
    if meta.get("format") != FORMAT or meta.get("size") != size:
        return None
    return Artifact(
        path, size, meta["etag"], meta["sha256"], meta.get("counts", {}), tuple(meta.get("members", ())),
        meta.get("created", 0.0), tuple(meta.get("plan", ())), meta.get("bad_lines", 0),
        meta.get("raw_size", 0),
    )  # fmt: skip


def _generate(path: Path, write: Callable[[BinaryIO], ExportInfo]) -> Artifact:
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.time()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            info = write(out)
        os.chmod(temp, 0o644)
        meta = {
            "format": FORMAT, "size": info.size, "etag": info.etag, "sha256": info.sha256,
            "counts": info.counts, "members": info.members, "created": started,
            "generation_seconds": round(time.time() - started, 3), "plan": info.plan,
            "bad_lines": info.bad_lines, "raw_size": info.raw_size,
        }  # fmt: skip
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _write_atomically(_sidecar(path), json.dumps(meta).encode())
    return Artifact(
        path, info.size, info.etag, info.sha256, info.counts, tuple(info.members), started, tuple(info.plan),
        info.bad_lines, info.raw_size,
    )  # fmt: skip


def _write_atomically(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.chmod(temp, 0o644)
    os.replace(temp, path)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with _process_locks_guard:
        lock = _process_locks.setdefault(str(path), threading.Lock())
    with lock:
        if fcntl is None:
            yield
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_name(path.name + ".lock"), "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
