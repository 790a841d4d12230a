"""
Building gzip members in worker interpreters, so that large exports use every core.

Record formatting holds the GIL, so threads cannot parallelize it. Workers are fresh interpreters
(``python -m`` this module) rather than ``multiprocessing`` children: forking a process that runs server
threads is unsafe, and spawning re-imports the caller's ``__main__``, which hangs unguarded scripts.
Worker ``k`` of ``n`` reads the jobs of members ``k, k+n, ...`` (a JSON list of :class:`.MemberJob` fields)
on its stdin, builds them and streams each, in order, on its stdout as
``<u64 member length><u32 meta length><member><meta JSON>``; the pipe's small buffer keeps at most
about one finished member per worker in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import signal
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import IO

from airflow_provider_asana.emulator.member import Member, MemberJob

_FRAME = struct.Struct("<QI")


def members_in_processes(jobs: list[MemberJob], workers: int) -> Iterator[Member]:
    """
    Start ``workers`` worker processes; return an iterator over every member, in order.

    :raises OSError: if the workers cannot be started (raised here, before anything is yielded).
    :raises RuntimeError: while iterating, if a worker fails.
    """
    workers = max(1, min(workers, len(jobs)))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for first in range(workers):
            process = subprocess.Popen(
                [sys.executable, "-m", __name__],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            processes.append(process)
            _send(process, jobs[first::workers])
    except OSError:
        _reap(processes)
        raise
    return _collect(processes, len(jobs))


def _send(process: subprocess.Popen[bytes], jobs: list[MemberJob]) -> None:
    if process.stdin is None:
        raise OSError("the export generator worker has no input pipe")
    # A worker that died at start-up breaks the pipe: reading its output then reports why.
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(json.dumps([dataclasses.asdict(job) for job in jobs]).encode())
        process.stdin.close()


def _collect(processes: list[subprocess.Popen[bytes]], count: int) -> Iterator[Member]:
    try:
        for index in range(count):
            yield _read_frame(processes[index % len(processes)])
        for process in processes:
            if process.wait() != 0:
                raise RuntimeError(f"export generator worker failed: {_stderr(process)}")
    finally:
        _reap(processes)


def _reap(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _stderr(process: subprocess.Popen[bytes]) -> str:
    return process.stderr.read().decode(errors="replace") if process.stderr else ""


def _read_frame(process: subprocess.Popen[bytes]) -> Member:
    stream = process.stdout
    if stream is None:
        raise RuntimeError("the export generator worker has no output pipe")
    head = _read_exact(stream, _FRAME.size)
    if head is None:
        process.wait()
        raise RuntimeError(
            f"export generator worker stopped early (exit {process.returncode}): {_stderr(process)}"
        )
    data_length, meta_length = _FRAME.unpack(head)
    data = _read_exact(stream, data_length)
    meta = _read_exact(stream, meta_length)
    if data is None or meta is None:
        raise RuntimeError("export generator worker stopped mid-member")
    fields = json.loads(meta)
    return Member(data, fields["objects"], Counter(fields["counts"]), fields["bad_lines"], fields["raw_size"])


def _read_exact(stream: IO[bytes], length: int) -> bytes | None:
    parts = []
    while length:
        part = stream.read(length)
        if not part:
            return None
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


def main(argv: Sequence[str]) -> int:
    """Worker entry point: member jobs on stdin, members on stdout."""
    del argv
    # Ctrl-C reaches the whole process group; the parent decides, and kills workers it no longer needs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    jobs = [MemberJob(**{**fields, "rates": tuple(fields["rates"])}) for fields in json.load(sys.stdin)]
    out = sys.stdout.buffer
    for job in jobs:
        member = job.run()
        meta = {"objects": member.objects, "counts": member.counts, "bad_lines": member.bad_lines}
        meta["raw_size"] = member.raw_size
        encoded = json.dumps(meta).encode()
        out.write(_FRAME.pack(len(member.data), len(encoded)))
        out.write(member.data)
        out.write(encoded)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
