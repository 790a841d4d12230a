"""
The export download landing in Google Cloud Storage: gcsfs against gcp-storage-emulator (tests/stores.py
starts it; tests/gcs_emulator.py adds GCS's ``ifGenerationMatch`` and session cancel, which it lacks).

The destination is ``gs://gcs_test@<bucket>/...``, an ``ObjectStoragePath`` whose store is attached to the
emulator, as the Google provider's ``get_fs`` would build it from a connection.
"""

from __future__ import annotations

import hashlib
import secrets
import signal

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_asana.download.writers import DeferredCommitWriter, make_writer
from airflow_provider_asana.exceptions import AsanaDownloadError

from tests.download.store_checks import KEY, MIB, SYSTEM_TEST, Reader, child, commit_or_abort, wait_for
from tests.stores import EmulatorUnavailable, GcsBucket, attach_gcs, gcs_emulator, gcs_filesystem

CONN_ID = "gcs_test"
#: Runs in a child process: the same download, on a store attached to the same emulator; killed partway.
DOWNLOAD = """
import sys
from tests.stores import attach_gcs
attach_gcs(sys.argv[3], "gcs_test")
from airflow_provider_asana.hooks.asana import AsanaHook
AsanaHook().download_organization_export(sys.argv[1], sys.argv[2])
"""


@pytest.fixture(scope="module")
def endpoint():
    try:
        with gcs_emulator() as url:
            yield url
    except EmulatorUnavailable as e:
        pytest.fail(f"The GCS emulator could not be started: {e}", pytrace=False)


@pytest.fixture
def bucket(endpoint, monkeypatch) -> GcsBucket:
    """A new bucket, and gs://gcs_test@... attached to the emulator (Airflow's store cache emptied)."""
    from airflow.sdk.io import store

    monkeypatch.setattr(store, "_STORE_CACHE", {})
    attach_gcs(endpoint, CONN_ID)
    return GcsBucket(endpoint, f"asana-{secrets.token_hex(4)}")


def destination(bucket: GcsBucket) -> str:
    return f"gs://{CONN_ID}@{bucket.name}/{KEY}"


def test_gcs_lands_byte_identical_and_verified(start, bucket):
    emu, hook, gid = start(export_size=20 * MIB)  # > the 16 MiB block: two chunks of a resumable upload
    path = ObjectStoragePath(destination(bucket))
    assert isinstance(make_writer(path.fs, path.path, str(path), overwrite=False), DeferredCommitWriter)

    result = hook.download_organization_export(gid, path)

    body = bucket.read(KEY)
    assert body == emu.export_file(gid).read_bytes()
    assert hashlib.sha256(body).hexdigest() == emu.export_sha256(gid) == result["sha256"]
    assert result["bytes"] == len(body)
    assert bucket.objects() == {KEY: len(body)}  # no temporary object beside it
    assert bucket.upload_sessions() == []  # the resumable session was finalized


@SYSTEM_TEST
def test_gcs_reader_never_sees_a_partial_object(start, bucket):
    emu, hook, gid = start(export_size=20 * MIB)
    emu.set_faults(slow_download_bps=10_000_000)  # about 2 s, the first chunk uploaded half-way
    expected = emu.export_file(gid).read_bytes()

    def uploading() -> bool:
        return any(received > 0 for received in bucket.upload_sessions())

    with Reader(bucket.objects, bucket.read, uploading) as reader:
        hook.download_organization_export(gid, destination(bucket))
        wait_for(lambda: reader.saw(KEY))

    assert reader.polls >= 5
    assert reader.sightings == {KEY: {len(expected)}}, "a reader saw a partial or a temporary object"
    assert reader.contents == {hashlib.sha256(expected).hexdigest()}
    assert reader.polls_during_upload >= 1  # it looked while bytes sat in the unfinished session


@SYSTEM_TEST
def test_gcs_killed_try_leaves_nothing_visible_and_the_next_try_lands(start, bucket, endpoint):
    emu, hook, gid = start(export_size=20 * MIB)
    emu.set_faults(slow_download_bps=4_000_000)  # the first 16 MiB chunk is sent after about 4 s of 5

    with child(DOWNLOAD, gid, destination(bucket), endpoint) as killed:
        try:
            wait_for(lambda: any(received > 0 for received in bucket.upload_sessions()), process=killed)
        finally:
            killed.send_signal(signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert bucket.objects() == {}  # its bytes are in an unfinished session, which nobody can read
    emu.clear_faults()

    result = hook.download_organization_export(gid, destination(bucket))

    assert bucket.read(KEY) == emu.export_file(gid).read_bytes()
    assert result["sha256"] == emu.export_sha256(gid)
    assert bucket.objects() == {KEY: result["bytes"]}


def test_gcs_existing_object_refused_without_overwrite_and_untouched_by_a_failed_run(start, bucket):
    emu, hook, gid = start(export_size=30 * MIB)
    bucket.put(KEY, b"the previous export")
    emu.clear_requests()

    with pytest.raises(AsanaDownloadError, match="already exists: pass overwrite=True"):
        hook.download_organization_export(gid, destination(bucket))
    assert emu.requests == []  # refused before any download

    emu.set_faults(truncate_gzip=True)  # 60% of 30 MiB: a 16 MiB chunk is sent before the check fails
    with pytest.raises(AsanaDownloadError, match="not a valid gzip"):
        hook.download_organization_export(gid, destination(bucket), overwrite=True)
    assert bucket.read(KEY) == b"the previous export"
    assert bucket.upload_sessions() == []  # the session was cancelled

    emu.clear_faults()
    result = hook.download_organization_export(gid, destination(bucket), overwrite=True)
    assert hashlib.sha256(bucket.read(KEY)).hexdigest() == result["sha256"]


@pytest.mark.parametrize("size", [1 * MIB, 20 * MIB], ids=["one-chunk", "two-chunks"])
def test_gcs_second_writer_cannot_replace_what_the_first_committed(bucket, endpoint, monkeypatch, size):
    """
    Two writers of the same key, overwrite=False; the first commits right after the second checked that
    the key is free, before the second finalizes its upload. Only the store can see the first writer then:
    the second's session carries ifGenerationMatch=0, and its finalization is refused.
    """
    path = ObjectStoragePath(destination(bucket))
    first = make_writer(gcs_filesystem(endpoint), path.path, str(path), overwrite=False)
    second = make_writer(path.fs, path.path, str(path), overwrite=False)
    first_bytes, second_bytes = b"1" * size, b"2" * size
    for writer, data in ((first, first_bytes), (second, second_bytes)):
        writer.open()
        writer.write(data)
    # Past one chunk, what both have sent sits in their resumable sessions, invisible.
    assert bucket.objects() == {}
    assert bucket.upload_sessions() == ([size, size] if size > 16 * MIB else [])

    checked = path.fs.exists

    def exists_then_the_first_commits(key: str) -> bool:
        free = checked(key)
        first.commit()
        return free

    monkeypatch.setattr(path.fs, "exists", exists_then_the_first_commits)

    with pytest.raises(AsanaDownloadError, match=f"destination {path} already exists: pass overwrite=True"):
        commit_or_abort(second)

    assert bucket.read(KEY) == first_bytes
    assert bucket.upload_sessions() == []  # the refused session was cancelled


def test_gcs_object_that_appears_before_the_session_opens_is_refused_as_existing(bucket):
    """GCS checks ifGenerationMatch=0 when the session opens (the first full chunk) as well as at the end."""
    path = ObjectStoragePath(destination(bucket))
    writer = make_writer(path.fs, path.path, str(path), overwrite=False)
    writer.open()
    bucket.put(KEY, b"another writer's export")

    with pytest.raises(AsanaDownloadError, match=f"destination {path} already exists: pass overwrite=True"):
        writer.write(b"2" * (20 * MIB))
    writer.abort()

    assert bucket.read(KEY) == b"another writer's export"


def test_gcs_overwrite_true_replaces_without_a_condition(bucket):
    bucket.put(KEY, b"the previous export")
    path = ObjectStoragePath(destination(bucket))
    writer = make_writer(path.fs, path.path, str(path), overwrite=True)
    writer.open()
    writer.write(b"new")
    writer.commit()
    assert bucket.read(KEY) == b"new"
