"""
Building gzip members in worker interpreters, so that large exports use every core.

Record formatting holds the GIL, so threads cannot parallelize it. Workers are fresh interpreters
(``python -m`` this module) rather than ``multiprocessing`` children: forking a process that runs server
threads is unsafe, and spawning re-imports the caller's ``__main__``, which hangs unguarded scripts.
Worker ``k`` of ``n`` builds members ``k, k+n, ...`` and streams each, in order, on its stdout as
``<u64 member length><u32 counts length><member><counts JSON>``; the pipe's small buffer keeps at most
about one finished member per worker in memory.
"""

from __future__ import annotations

import json
import signal
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import BinaryIO

from airflow_provider_asana.emulator.member import build_member, member_targets

_FRAME = struct.Struct("<QI")


def members_in_processes(size: int, seed: int, member_size: int, workers: int) -> Iterator[tuple[bytes, Counter[str]]]:
    """
    Start ``workers`` worker processes; return an iterator over every member, in order.

    :raises OSError: if the workers cannot be started (raised here, before anything is yielded).
    :raises RuntimeError: while iterating, if a worker fails.
    """
    count = len(member_targets(size, member_size))
    workers = max(1, min(workers, count))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for first in range(workers):
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", __name__, str(seed), str(size), str(member_size), str(first), str(workers)],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )  # fmt: skip
            )
    except OSError:
        _reap(processes)
        raise
    return _collect(processes, count)


def _collect(processes: list[subprocess.Popen[bytes]], count: int) -> Iterator[tuple[bytes, Counter[str]]]:
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


def _read_frame(process: subprocess.Popen[bytes]) -> tuple[bytes, Counter[str]]:
    stream = process.stdout
    assert stream is not None
    head = _read_exact(stream, _FRAME.size)
    if head is None:
        process.wait()
        raise RuntimeError(f"export generator worker stopped early (exit {process.returncode}): {_stderr(process)}")
    data_length, counts_length = _FRAME.unpack(head)
    data = _read_exact(stream, data_length)
    counts = _read_exact(stream, counts_length)
    if data is None or counts is None:
        raise RuntimeError("export generator worker stopped mid-member")
    return data, Counter(json.loads(counts))


def _read_exact(stream: BinaryIO, length: int) -> bytes | None:
    parts = []
    while length:
        part = stream.read(length)
        if not part:
            return None
        parts.append(part)
        length -= len(part)
    return b"".join(parts)


def main(argv: Sequence[str]) -> int:
    """Worker entry point: ``seed size member_size first step``."""
    seed, size, member_size, first, step = (int(arg) for arg in argv)
    # Ctrl-C reaches the whole process group; the parent decides, and kills workers it no longer needs.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = sys.stdout.buffer
    for index, target in list(enumerate(member_targets(size, member_size)))[first::step]:
        data, counts = build_member(seed, index, target)
        encoded = json.dumps(counts).encode()
        out.write(_FRAME.pack(len(data), len(encoded)))
        out.write(data)
        out.write(encoded)
        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
