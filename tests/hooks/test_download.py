"""
The export download engine against the emulator, over real HTTP, to local files.

Each fault test asserts, from the emulator's request log, that the behaviour under test happened (a
Range resume, a URL refresh, a restart from zero...), and that the file landed byte-identical.
"""

from __future__ import annotations

import _thread
import gzip
import json
import logging
import os
import socket
import stat
import traceback
import threading
import tracemalloc
from pathlib import Path

import pytest
import requests

from airflow.sdk import ObjectStoragePath
from airflow_provider_asana.exceptions import AsanaDownloadError, AsanaExportFailedError
from airflow_provider_asana.hooks import _download
from airflow_provider_asana.hooks.asana import AsanaHook
from tests.transfers.download_support import (
    MULTI_MEMBER_SIZE,
    api_calls,
    connect,
    downloads,
    finished_export,
    same_bytes,
    signatures,
    temporaries,
)

MIB = 1 << 20


@pytest.fixture
def start(asana_emulator_factory, monkeypatch):
    """``start(conn_extra=None, **emulator_kwargs) -> (emulator, hook, gid of a finished export)``."""

    def start(conn_extra: dict | None = None, **kwargs):
        emu = asana_emulator_factory(**kwargs)
        connect(monkeypatch, emu, **(conn_extra or {}))
        hook = AsanaHook()
        return emu, hook, finished_export(hook, emu)

    return start


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "landing" / "export.json.gz"


# -- the happy path ------------------------------------------------------------------------------------


@pytest.mark.parametrize("form", ["str", "file-uri", "ObjectStoragePath", "pathlib"])
def test_downloads_byte_identical_multi_member_export(start, dest, form):
    emu, hook, gid = start(export_size=MULTI_MEMBER_SIZE)
    destination = {
        "str": str(dest),
        "file-uri": f"file://{dest}",
        "ObjectStoragePath": ObjectStoragePath(f"file://{dest}"),
        "pathlib": dest,
    }[form]

    result = hook.download_organization_export(gid, destination)

    assert result == {
        "uri": str(ObjectStoragePath(str(destination))),
        "bytes": MULTI_MEMBER_SIZE,
        "sha256": emu.export_sha256(gid),
        "export_gid": gid,
    }
    assert same_bytes(dest, emu.export_file(gid))
    assert len(emu.artifact(emu.store.get(gid)).members) >= 2  # gzip verified across members
    assert "X-Amz" not in json.dumps(result) and emu.download_base not in json.dumps(result)
    assert temporaries(dest.parent) == []
    assert [(r.host, r.status, r.range) for r in emu.requests] == [("api", 200, None), ("download", 200, None)]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask  # a normal file, not a 0600 temp file


# -- interrupted transfers -----------------------------------------------------------------------------


def test_dropped_connection_resumes_with_range(start, dest):
    emu, hook, gid = start(export_size=MIB)
    emu.set_faults(drop_download=1, drop_after_bytes=300_000)

    result = hook.download_organization_export(gid, dest)

    assert [(r.status, r.range) for r in downloads(emu)] == [(200, None), (206, "bytes=300000-")]
    assert same_bytes(dest, emu.export_file(gid))
    assert result["sha256"] == emu.export_sha256(gid)


def test_read_timeout_mid_body_resumes_with_range(start, dest):
    emu, hook, gid = start(export_size=MIB, conn_extra={"read_timeout": 0.3})
    emu.set_faults(drop_download=1, drop_after_bytes=200_000, drop_stall=1.5)

    hook.download_organization_export(gid, dest)

    # The stalled first request may be logged before or after the resume (or not yet): order-free check.
    records = [(r.status, r.range) for r in downloads(emu)]
    assert (206, "bytes=200000-") in records and set(records) <= {(200, None), (206, "bytes=200000-")}
    assert same_bytes(dest, emu.export_file(gid))


def test_url_expiring_during_the_download_is_refreshed(start, dest):
    # A TTL that outlives the first request's start even on a loaded machine (a garbage collection in a big
    # test process can take half a second), and a stall that outlives the TTL.
    emu, hook, gid = start(export_size=MIB, url_ttl=1.5)
    emu.set_faults(drop_download=1, drop_after_bytes=300_000, drop_stall=2.0)

    hook.download_organization_export(gid, dest)

    assert [(r.status, r.range) for r in downloads(emu)] == [
        (200, None),
        (403, "bytes=300000-"),  # the old URL expired while the connection stalled
        (206, "bytes=300000-"),  # resumed with a fresh one
    ]
    assert len([r for r in api_calls(emu) if r.method == "GET" and gid in r.path]) >= 2
    assert same_bytes(dest, emu.export_file(gid))


def test_url_expired_before_the_download_is_refreshed(start, dest):
    emu, hook, gid = start()
    emu.set_faults(expire_urls=1)

    hook.download_organization_export(gid, dest)

    assert [(r.host, r.status) for r in emu.requests] == [
        ("api", 200),
        ("download", 403),
        ("api", 200),
        ("download", 200),
    ]
    assert same_bytes(dest, emu.export_file(gid))


def test_server_ignoring_range_restarts_from_zero(start, dest):
    emu, hook, gid = start(export_size=MIB)
    emu.set_faults(drop_download=1, drop_after_bytes=300_000, ignore_range=True)

    result = hook.download_organization_export(gid, dest)

    assert [(r.status, r.range) for r in downloads(emu)] == [(200, None), (200, "bytes=300000-")]
    assert same_bytes(dest, emu.export_file(gid))
    assert result["sha256"] == emu.export_sha256(gid) and result["bytes"] == MIB


def test_download_host_never_gets_credentials(start, dest):
    emu, hook, gid = start(export_size=MIB)
    emu.set_faults(drop_download=1, expire_urls=1)

    hook.download_organization_export(gid, dest)

    assert len(downloads(emu)) == 3
    for record in downloads(emu):
        assert record.authorization is False
        assert record.user_agent.startswith("airflow-provider-asana/")
    assert all(record.authorization for record in api_calls(emu))


def test_gives_up_after_max_attempts_without_progress(start, dest):
    emu, hook, gid = start()  # the connection allows 4 attempts
    emu.set_faults(expire_urls=100)

    with pytest.raises(AsanaDownloadError, match="4 requests in a row made no progress") as raised:
        hook.download_organization_export(gid, dest)

    assert [r.status for r in downloads(emu)] == [403] * 4
    assert "HTTP 403 (AccessDenied: Request has expired)" in str(raised.value)
    assert not dest.exists() and temporaries(dest.parent) == []


# -- verification --------------------------------------------------------------------------------------


def test_truncated_gzip_fails_and_nothing_lands(start, dest):
    emu, hook, gid = start(export_size=MIB)
    emu.set_faults(truncate_gzip=True)

    with pytest.raises(AsanaDownloadError, match="not a valid gzip file: the gzip stream is truncated"):
        hook.download_organization_export(gid, dest)

    assert os.listdir(dest.parent) == []  # neither the file nor a temporary


def test_truncated_gzip_lands_when_verification_is_off(start, dest):
    """
    With verify_gzip=False the truncated file lands: it IS what the server sent, and its size matches the
    Content-Length the server announced, so only decoding the gzip can tell it is damaged.
    """
    emu, hook, gid = start(export_size=MIB)
    emu.set_faults(truncate_gzip=True)

    result = hook.download_organization_export(gid, dest, verify_gzip=False)

    assert same_bytes(dest, emu.export_file(gid))  # the truncated copy the emulator served
    assert result["bytes"] == dest.stat().st_size < MIB
    with pytest.raises(EOFError), gzip.open(dest) as f:
        while f.read(MIB):
            pass


@pytest.mark.parametrize("faults", [{"truncate_gzip": True}, {"expire_urls": 100}, {"drop_download": 100}])
def test_failed_run_leaves_existing_destination_untouched(start, dest, faults):
    emu, hook, gid = start(export_size=MIB)
    dest.parent.mkdir()
    dest.write_bytes(b"the previous export")
    emu.set_faults(**faults)

    with pytest.raises(AsanaDownloadError):
        hook.download_organization_export(gid, dest, overwrite=True)

    assert dest.read_bytes() == b"the previous export"
    assert temporaries(dest.parent) == []


# -- destination checks --------------------------------------------------------------------------------


def test_existing_destination_is_refused_before_any_request_unless_overwrite(start, dest):
    emu, hook, gid = start()
    dest.parent.mkdir()
    dest.write_bytes(b"the previous export")
    emu.clear_requests()

    with pytest.raises(AsanaDownloadError, match="overwrite=True") as raised:
        hook.download_organization_export(gid, dest)

    assert str(dest) in str(raised.value)
    assert emu.requests == []
    assert dest.read_bytes() == b"the previous export"

    hook.download_organization_export(gid, dest, overwrite=True)
    assert same_bytes(dest, emu.export_file(gid))


def test_destination_under_a_file_is_refused_before_downloading(start, tmp_path):
    emu, hook, gid = start()
    (tmp_path / "a-file").write_bytes(b"")
    dest = tmp_path / "a-file" / "export.json.gz"

    with pytest.raises(AsanaDownloadError, match="is not writable") as raised:
        hook.download_organization_export(gid, dest)

    assert str(dest) in str(raised.value)
    assert emu.requests == []


def test_unwritable_directory_is_refused_before_downloading(start):
    # /proc refuses new entries even to root, so this holds whoever runs the tests.
    emu, hook, gid = start()
    with pytest.raises(AsanaDownloadError, match="is not writable"):
        hook.download_organization_export(gid, "/proc/asana-provider-test/export.json.gz")
    assert emu.requests == []


def test_directory_destination_is_refused(start, tmp_path):
    emu, hook, gid = start()
    with pytest.raises(AsanaDownloadError, match="is a directory"):
        hook.download_organization_export(gid, tmp_path, overwrite=True)
    assert emu.requests == []


@pytest.mark.parametrize(
    "destination", ["", "  ", "export.json.gz", "landing/export.json.gz", "~/export.json.gz", "file://landing/x.gz"]
)
def test_relative_or_empty_destination_is_refused(destination):
    with pytest.raises(ValueError, match=r"destination .*(absolute path or a URI).*s3://aws_conn_id@bucket"):
        AsanaHook(asana_conn_id="not_looked_up").download_organization_export("1", destination)


# -- the export's state --------------------------------------------------------------------------------


def test_export_in_error_state_fails_naming_export_and_organization(start, dest):
    emu, hook, _ = start()
    emu.set_faults(export_state="error")
    gid = finished_export(hook, emu)

    with pytest.raises(AsanaExportFailedError) as raised:
        hook.download_organization_export(gid, dest)

    assert gid in str(raised.value) and emu.organization_gid in str(raised.value)
    assert downloads(emu) == []
    assert os.listdir(dest.parent) == []


def test_unfinished_export_is_refused_with_advice(asana_emulator_factory, monkeypatch, dest):
    emu = asana_emulator_factory(polls_to_finish=None)
    connect(monkeypatch, emu)
    hook = AsanaHook()
    gid = hook.create_organization_export()["gid"]

    with pytest.raises(AsanaDownloadError, match="not finished yet.*AsanaOrganizationExportSensor"):
        hook.download_organization_export(gid, dest)

    assert downloads(emu) == []
    assert os.listdir(dest.parent) == []


# -- the URL stays secret ------------------------------------------------------------------------------


def test_download_url_never_reaches_logs_or_errors(start, dest, caplog):
    caplog.set_level(logging.DEBUG)  # urllib3 logs every request line, query string included, at DEBUG
    caplog.set_level(logging.DEBUG, logger="urllib3")  # other libraries (the asana SDK) set it to WARNING
    # A TTL that outlives the first request's start even on a loaded machine, and a stall that outlives the TTL.
    emu, hook, gid = start(export_size=MIB, url_ttl=1.5)
    emu.set_faults(drop_download=1, drop_after_bytes=300_000, drop_stall=2.0)
    hook.download_organization_export(gid, dest)
    emu.set_faults(expire_urls=100)
    with pytest.raises(AsanaDownloadError) as raised:
        hook.download_organization_export(gid, dest, overwrite=True)

    seen = signatures(emu)
    assert len(seen) >= 6  # the test saw the URLs it checks for
    assert "resuming at byte 300000" in caplog.text  # and the logs it checks
    assert any(r.name.startswith("urllib3") for r in caplog.records)
    text = caplog.text + "".join(traceback.format_exception(raised.value))
    for secret in [*seen, "X-Amz-Signature", "X-Amz-Credential"]:
        assert secret not in text


def test_request_errors_are_scrubbed_of_the_url():
    """requests puts the URL, query string included, in its exception texts: they are never passed on verbatim."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    url = f"http://127.0.0.1:{port}/exports/1/x.json.gz?X-Amz-Credential=AKIA%2Fx&X-Amz-Signature=deadbeef42"
    with pytest.raises(requests.ConnectionError) as raised:
        requests.get(url, timeout=2)
    assert "deadbeef42" in str(raised.value)

    secrets = _download._Secrets()
    secrets.add(url)
    scrubbed = secrets.scrub(str(raised.value))
    assert "deadbeef42" not in scrubbed and "X-Amz" not in scrubbed
    assert "/exports/1/x.json.gz" in scrubbed


# -- memory --------------------------------------------------------------------------------------------


def test_memory_stays_bounded(start, dest):
    """Python allocations peak at a few chunks, whatever the file size: nothing accumulates."""
    size = 40 * MIB
    emu, hook, gid = start(export_size=size)
    tracemalloc.start()
    try:
        hook.download_organization_export(gid, dest)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert same_bytes(dest, emu.export_file(gid))
    bound = (2 * _download.QUEUE_DEPTH + 3) * _download.CHUNK_SIZE + 8 * MIB
    assert peak < min(bound, size * 3 // 4), f"peak {peak / MIB:.1f} MiB"


def test_interrupted_task_leaves_nothing_behind(start, dest):
    """A task kill surfaces as an exception in the task's thread (here KeyboardInterrupt): all is cleaned up."""
    emu, hook, gid = start(export_size=MIB)
    emu.set_faults(slow_download_bps=1_000_000)
    timer = threading.Timer(0.3, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            hook.download_organization_export(gid, dest)
    finally:
        timer.cancel()

    assert os.listdir(dest.parent) == []
    assert not [t for t in threading.enumerate() if t.name.startswith("asana-export-")]
