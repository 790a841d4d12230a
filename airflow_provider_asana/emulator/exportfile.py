"""
Writing export files: multi-member gzips of synthetic records, built in parallel.

An organization's exports form a sequence (see :mod:`.lifecycle`): export 0 is sized to a byte count, and
how many objects each of its members holds (its *plan*) fixes the members of every later export.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from pathlib import Path
from typing import BinaryIO

from airflow_provider_asana.emulator.genworker import members_in_processes
from airflow_provider_asana.emulator.lifecycle import ChangeRates
from airflow_provider_asana.emulator.member import MEMBER_SIZE, Member, MemberJob, member_targets

MIN_SIZE = 1024
#: From this size on, members are built in worker processes rather than threads.
PROCESS_THRESHOLD = 64 << 20

__all__ = ["MEMBER_SIZE", "MIN_SIZE", "ExportInfo", "write_export", "write_truncated"]


@dataclass
class ExportInfo:
    """
    What was written.

    :param size: Bytes written.
    :param etag: MD5 hex digest (what S3 uses as a single-part object's ETag).
    :param sha256: SHA-256 hex digest.
    :param counts: Records written per ``__type``.
    :param members: Offset of each gzip member.
    :param plan: Objects each member holds in export 0: the member boundaries of the whole sequence.
    :param bad_lines: Lines that are not records.
    :param raw_size: Bytes once decompressed (JSON lines), for figures per raw byte.
    """

    size: int
    etag: str
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)
    plan: list[int] = field(default_factory=list)
    bad_lines: int = 0
    raw_size: int = 0


def write_export(
    out: BinaryIO,
    size: int,
    seed: int,
    *,
    export: int = 0,
    member_size: int = MEMBER_SIZE,
    workers: int | None = None,
    rates: ChangeRates | None = None,
    plan: list[int] | None = None,
    bad_lines: bool = False,
) -> ExportInfo:
    """
    Stream export ``export`` of the sequence of ``seed`` whose export 0 is exactly ``size`` bytes.

    Members are built in parallel, by worker processes for large files and threads otherwise, but
    written in order, with a few members in memory at most.

    :param export: Which export of the sequence: 0 is sized; each later one is the one before plus the
        changes :func:`.changes.iter_changes` lists.
    :param workers: Parallel builders; the number of CPUs (at most 4) if None.
    :param rates: The change rates between exports (:class:`.lifecycle.ChangeRates` defaults if None).
    :param plan: The :attr:`ExportInfo.plan` of export 0, needed by every other export and by bad lines;
        if None it is computed by building export 0 without keeping it.
    :param bad_lines: Now and then write a line that is not a JSON object with a ``__type`` (a fault);
        such an export 0 is built from the plan, so its size is close to ``size`` but not exact.
    """
    check_size(size)
    check_export(export)
    workers = workers or min(4, os.cpu_count() or 1)
    targets = member_targets(size, member_size)
    sized = export == 0 and not bad_lines
    if not sized and plan is None:
        with open(os.devnull, "wb") as sink:
            plan = write_export(sink, size, seed, member_size=member_size, workers=workers).plan
    if plan is not None and len(plan) != len(targets):
        raise ValueError(f"plan has {len(plan)} members; an export of {size} bytes has {len(targets)}")
    rate_values = astuple(rates or ChangeRates())
    originals: list[int | None] = [None] * len(targets) if sized or plan is None else list(plan)
    count = len(targets)
    jobs = [
        MemberJob(seed, index, target, count, export, originals[index], rate_values, bad_lines)
        for index, target in enumerate(targets)
    ]
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    counts: Counter[str] = Counter()
    info = ExportInfo(0, "", "", plan=[] if sized or plan is None else list(plan))
    for member in _members(jobs, workers, parallel_processes=size >= PROCESS_THRESHOLD):
        info.members.append(info.size)
        out.write(member.data)
        md5.update(member.data)
        sha256.update(member.data)
        info.size += len(member.data)
        counts.update(member.counts)
        info.bad_lines += member.bad_lines
        info.raw_size += member.raw_size
        if sized:
            info.plan.append(member.objects)
    info.etag, info.sha256, info.counts = md5.hexdigest(), sha256.hexdigest(), dict(sorted(counts.items()))
    return info


def check_size(size: int) -> None:
    """Check that ``size`` is the size of an export; :raises ValueError: if not."""
    if isinstance(size, bool) or not isinstance(size, int) or size < MIN_SIZE:
        raise ValueError(f"an export must be at least {MIN_SIZE} bytes; got {size!r}")


def check_export(export: int) -> None:
    """Check that ``export`` is the index of an export in a sequence; :raises ValueError: if not."""
    if isinstance(export, bool) or not isinstance(export, int) or export < 0:
        raise ValueError(f"export must be the index of an export in a sequence (an int >= 0); got {export!r}")


def _members(jobs: list[MemberJob], workers: int, *, parallel_processes: bool) -> Iterator[Member]:
    if workers > 1 and parallel_processes:
        try:
            return members_in_processes(jobs, workers)
        except OSError:
            pass  # subprocesses are not available here: threads will do
    return _members_in_threads(jobs, workers)


def _members_in_threads(jobs: list[MemberJob], workers: int) -> Iterator[Member]:
    with ThreadPoolExecutor(workers, thread_name_prefix="asana-emulator-gen") as executor:
        pending: deque[Future[Member]] = deque()
        for job in jobs:
            pending.append(executor.submit(job.run))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_truncated(
    source: Path, out: BinaryIO, member_offsets: list[int], fraction: float = 0.6
) -> ExportInfo:
    """
    Copy the first ``fraction`` of ``source`` to ``out``: a gzip file that ends mid-stream.

    The cut avoids member boundaries (a cut there would leave a valid, shorter gzip file).
    """
    total = source.stat().st_size
    cut = max(1, int(total * fraction))
    while cut in member_offsets:
        cut += 1
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    with source.open("rb") as src:
        left = cut
        while left:
            block = src.read(min(left, 1 << 20))
            out.write(block)
            md5.update(block)
            sha256.update(block)
            left -= len(block)
    return ExportInfo(cut, md5.hexdigest(), sha256.hexdigest())
