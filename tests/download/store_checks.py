"""What the GCS and Azure tests share: a reader polling the bucket, a child process to kill, waiting."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable

import pytest

MIB = 1 << 20
KEY = "asana/export.json.gz"
#: A store test that takes seconds (a slowed download watched by a reader, a child process killed partway)
#: runs in ``make system-test`` (``pytest -m deployment``), not in ``make test``; the quick checks of the same
#: store (verified landing, the store refusing a second writer, nothing visible before the commit) run in
#: ``make test``.
SYSTEM_TEST = pytest.mark.deployment


def commit_or_abort(writer) -> None:
    """Commit ``writer``, or abort it on failure, as the download engine does."""
    try:
        writer.commit()
    except BaseException:
        writer.abort()
        raise


def child(script: str, *args: str) -> subprocess.Popen:
    """Run ``script`` in a fresh interpreter (this test's environment: connections included)."""
    command = [sys.executable, "-c", textwrap.dedent(script), *args]
    return subprocess.Popen(command, env=dict(os.environ), cwd=os.getcwd())


def wait_for(condition: Callable[[], bool], timeout: float = 120.0, process: subprocess.Popen | None = None):
    """Poll ``condition`` until true; fail on ``timeout``, or if ``process`` ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert process is None or process.poll() is None, "the process ended before the condition held"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Reader:
    """
    A reader polling a bucket on a thread of its own while the test downloads into it.

    It records every object it ever listed with every size it had, and the SHA-256 of every body it read:
    an object that was ever partial, or a temporary object, shows up in :attr:`sightings`.

    :param objects: Lists the bucket: ``{key: size}``.
    :param read: Reads an object's bytes (None if it is gone).
    :param uploading: Tells whether an upload is under way (bytes sent, not yet visible).
    """

    def __init__(
        self,
        objects: Callable[[], dict[str, int]],
        read: Callable[[str], bytes | None],
        uploading: Callable[[], bool],
    ) -> None:
        self.objects = objects
        self.read = read
        self.uploading = uploading
        self.sightings: dict[str, set[int]] = {}
        self.contents: set[str] = set()
        self.polls = 0
        self.polls_during_upload = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bucket-reader", daemon=True)

    def saw(self, key: str) -> bool:
        return key in self.sightings

    def __enter__(self) -> Reader:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                uploading = self.uploading()
                for key, size in self.objects().items():
                    self.sightings.setdefault(key, set()).add(size)
                    body = self.read(key)
                    if body is not None:
                        self.contents.add(hashlib.sha256(body).hexdigest())
                self.polls += 1
                self.polls_during_upload += uploading
                time.sleep(0.02)
        except BaseException as e:
            self._error = e
