"""Writing the export file: a multi-member gzip of synthetic records, sized to a target, in parallel."""

from __future__ import annotations

import hashlib
import os
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from airflow_provider_asana.emulator.genworker import members_in_processes
from airflow_provider_asana.emulator.member import MEMBER_SIZE, build_member, member_targets

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
    """

    size: int
    etag: str
    sha256: str
    counts: dict[str, int] = field(default_factory=dict)
    members: list[int] = field(default_factory=list)


def write_export(
    out: BinaryIO, size: int, seed: int, *, member_size: int = MEMBER_SIZE, workers: int | None = None
) -> ExportInfo:
    """
    Stream a deterministic export of ``size`` bytes (to within a few) for ``seed`` to ``out``.

    Members are built in parallel, by worker processes for large files and threads otherwise, but
    written in order, with a few members in memory at most.

    :param workers: Parallel builders; the number of CPUs (at most 4) if None.
    """
    if size < MIN_SIZE:
        raise ValueError(f"an export must be at least {MIN_SIZE} bytes; got {size}")
    workers = workers or min(4, os.cpu_count() or 1)
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    counts: Counter[str] = Counter()
    offsets: list[int] = []
    written = 0
    for data, member_counts in _members(size, seed, member_size, workers):
        offsets.append(written)
        out.write(data)
        md5.update(data)
        sha256.update(data)
        written += len(data)
        counts.update(member_counts)
    return ExportInfo(written, md5.hexdigest(), sha256.hexdigest(), dict(sorted(counts.items())), offsets)


def _members(size: int, seed: int, member_size: int, workers: int) -> Iterator[tuple[bytes, Counter[str]]]:
    if workers > 1 and size >= PROCESS_THRESHOLD:
        try:
            return members_in_processes(size, seed, member_size, workers)
        except OSError:
            pass  # subprocesses are not available here: threads will do
    return _members_in_threads(size, seed, member_size, workers)


def _members_in_threads(size: int, seed: int, member_size: int, workers: int) -> Iterator[tuple[bytes, Counter[str]]]:
    targets = member_targets(size, member_size)
    with ThreadPoolExecutor(workers, thread_name_prefix="asana-emulator-gen") as executor:
        pending: deque[Future[tuple[bytes, Counter[str]]]] = deque()
        for index, target in enumerate(targets):
            pending.append(executor.submit(build_member, seed, index, target))
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def write_truncated(source: Path, out: BinaryIO, member_offsets: list[int], fraction: float = 0.6) -> ExportInfo:
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
