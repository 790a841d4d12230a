"""
Temporaries a killed try leaves beside the destination: the next try removes them, never a live writer's.

The killed try is a real process killed with SIGKILL mid-download; the live writer is a real process
holding its temporary open.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from airflow_provider_asana.hooks import _temporaries
from airflow_provider_asana.hooks._temporaries import ABANDONED_AFTER, is_temporary_of, temporary_name
from airflow_provider_asana.hooks.asana import AsanaHook
from tests.transfers.download_support import connect, finished_export, same_bytes, temporaries

MIB = 1 << 20
#: Runs in a child process: a download that is killed partway (the emulator throttles it).
DOWNLOAD = """
import sys
from airflow_provider_asana.hooks.asana import AsanaHook
AsanaHook().download_organization_export(sys.argv[1], sys.argv[2])
"""
#: Runs in a child process: a writer that has its temporary open, says so, and waits until told to stop.
LIVE_WRITER = """
import sys
from airflow_provider_asana.hooks._atomic_write import LocalFileWriter
writer = LocalFileWriter(sys.argv[1], sys.argv[1], overwrite=False)
writer.open()
writer.write(b"a live writer's bytes")
print(writer.temporary, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def start(asana_emulator_factory, monkeypatch):
    def start(**kwargs):
        emu = asana_emulator_factory(**kwargs)
        connect(monkeypatch, emu)
        hook = AsanaHook()
        return emu, hook, finished_export(hook, emu)

    return start


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "landing" / "export.json.gz"


def child(script: str, *args: str, **kwargs) -> subprocess.Popen:
    command = [sys.executable, "-c", textwrap.dedent(script), *args]
    return subprocess.Popen(command, env=dict(os.environ), cwd=os.getcwd(), **kwargs)


def wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_temporary_of_a_try_killed_mid_download_is_removed_by_the_next_try(start, dest):
    emu, hook, gid = start(export_size=4 * MIB)
    # The first 1 MiB chunk is written after about 2 s, the last after 8 s: killed in between.
    emu.set_faults(slow_download_bps=500_000)

    def partly_written() -> bool:
        assert killed.poll() is None, "the download ended before it could be killed"
        names = temporaries(dest.parent) if dest.parent.exists() else []
        return any((dest.parent / name).stat().st_size for name in names)

    with child(DOWNLOAD, gid, str(dest)) as killed:
        try:
            wait_for(partly_written)
        finally:
            killed.send_signal(signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert len(temporaries(dest.parent)) == 1  # what a killed try leaves: nobody could remove it
    emu.clear_faults()

    hook.download_organization_export(gid, dest)

    assert same_bytes(dest, emu.export_file(gid))
    assert temporaries(dest.parent) == []
    assert os.listdir(dest.parent) == [dest.name]


def test_temporary_of_a_live_writer_is_left_alone(start, dest):
    emu, hook, gid = start()
    dest.parent.mkdir()
    with child(LIVE_WRITER, str(dest), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as live:
        try:
            held = Path(live.stdout.readline().strip())
            assert held.parent == dest.parent and is_temporary_of(held.name, dest.name)

            hook.download_organization_export(gid, dest)

            assert same_bytes(dest, emu.export_file(gid))
            assert temporaries(dest.parent) == [held.name]  # the live writer's, untouched
            assert held.read_bytes() == b"a live writer's bytes"
        finally:
            live.send_signal(signal.SIGKILL)  # now it dies without cleaning up...

    hook.download_organization_export(gid, dest, overwrite=True)

    assert temporaries(dest.parent) == []  # ...and the next try removes what it left
    assert same_bytes(dest, emu.export_file(gid))


def test_only_temporaries_of_this_destination_are_removed(start, dest):
    emu, hook, gid = start()
    dest.parent.mkdir()
    other = dest.parent / temporary_name("other.json.gz")
    lookalikes = [
        ".export.json.gz.partial",
        ".export.json.gz.notrandom.partial",
        "export.json.gz.0123456789ab.partial",
    ]
    for name in [other.name, *lookalikes]:
        (dest.parent / name).write_bytes(b"not ours")
    (dest.parent / temporary_name(dest.name)).write_bytes(b"a killed try's bytes")

    hook.download_organization_export(gid, dest)

    assert sorted(os.listdir(dest.parent)) == sorted([dest.name, other.name, *lookalikes])


def test_without_flock_only_old_temporaries_are_removed(start, dest, monkeypatch):
    """A filesystem without flock (some network and FUSE mounts): age is the only sign of an abandoned one."""
    import errno
    import fcntl
    from types import SimpleNamespace

    def no_locks_here(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    # The writer's view of the OS only: the emulator's own cache keeps its locks.
    monkeypatch.setattr(
        _temporaries,
        "fcntl",
        SimpleNamespace(flock=no_locks_here, LOCK_EX=fcntl.LOCK_EX, LOCK_NB=fcntl.LOCK_NB),
    )
    emu, hook, gid = start()
    dest.parent.mkdir()
    old, recent = (dest.parent / temporary_name(dest.name) for _ in range(2))
    old.write_bytes(b"a killed try's bytes")
    recent.write_bytes(b"maybe a live try's bytes")
    long_ago = time.time() - ABANDONED_AFTER - 60
    os.utime(old, (long_ago, long_ago))

    hook.download_organization_export(gid, dest)

    assert same_bytes(dest, emu.export_file(gid))
    assert temporaries(dest.parent) == [recent.name]


# -- object stores without deferred commits: temporary keys, judged by age -------------------------------


@pytest.fixture
def memory_fs(monkeypatch):
    from fsspec.implementations.memory import MemoryFileSystem

    from airflow.sdk.io import attach, store

    monkeypatch.setattr(store, "_STORE_CACHE", {})
    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    root = f"/asana-{secrets.token_hex(4)}"
    yield fs, root
    fs.rm(root, recursive=True) if fs.exists(root) else None


def test_abandoned_temporary_keys_are_removed_recent_ones_kept(start, memory_fs):
    fs, root = memory_fs
    emu, hook, gid = start()
    folder = f"{root}/landing"
    abandoned, recent = (f"{folder}/{temporary_name('export.json.gz')}" for _ in range(2))
    fs.pipe({abandoned: b"a killed try's bytes", recent: b"maybe a live try's bytes"})
    fs.store[abandoned].modified = datetime.now(tz=timezone.utc) - timedelta(seconds=ABANDONED_AFTER + 60)

    hook.download_organization_export(gid, f"memory://{folder}/export.json.gz")

    assert fs.cat(f"{folder}/export.json.gz") == emu.export_file(gid).read_bytes()
    assert sorted(fs.ls(folder, detail=False)) == sorted([f"{folder}/export.json.gz", recent])
