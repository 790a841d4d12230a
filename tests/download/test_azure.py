"""
The export download landing in Azure Blob Storage: adlfs against Azurite (tests/stores.py starts it).

The destination is ``abfs://azure_test@<container>/...``, resolved the Airflow way: the Azure provider's
filesystem reads the ``azure_test`` connection (a connection string to Azurite) and builds adlfs's
``AzureBlobFileSystem``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import signal

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_asana.download.writers import StagedBlockWriter, make_writer
from airflow_provider_asana.exceptions import AsanaDownloadError

from tests.download.store_checks import KEY, MIB, SYSTEM_TEST, Reader, child, commit_or_abort, wait_for
from tests.stores import AzureContainer, EmulatorUnavailable, azure_connection, azurite

CONN_ID = "azure_test"
#: Runs in a child process (the same connection, from the environment): a download killed partway.
DOWNLOAD = """
import sys
from airflow_provider_asana.hooks.asana import AsanaHook
AsanaHook().download_organization_export(sys.argv[1], sys.argv[2])
"""


@pytest.fixture(scope="module")
def connection_string():
    try:
        with azurite() as value:
            yield value
    except EmulatorUnavailable as e:
        pytest.fail(f"Azurite could not be started: {e}", pytrace=False)


@pytest.fixture
def container(connection_string, monkeypatch, caplog) -> AzureContainer:
    """A new container, and the azure_test connection to Azurite (Airflow's store cache emptied)."""
    from airflow.sdk.io import store

    caplog.set_level(logging.WARNING, logger="azure")  # the SDK logs every request at INFO
    monkeypatch.setattr(store, "_STORE_CACHE", {})
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(azure_connection(connection_string)))
    return AzureContainer(connection_string, f"asana-{secrets.token_hex(4)}")


def destination(container: AzureContainer) -> str:
    return f"abfs://{CONN_ID}@{container.name}/{KEY}"


def test_azure_lands_byte_identical_and_verified(start, container):
    emu, hook, gid = start(export_size=20 * MIB)  # > the 16 MiB block: two staged blocks
    path = ObjectStoragePath(destination(container))
    assert isinstance(make_writer(path.fs, path.path, str(path), overwrite=False), StagedBlockWriter)

    result = hook.download_organization_export(gid, path)

    body = container.read(KEY)
    assert body == emu.export_file(gid).read_bytes()
    assert hashlib.sha256(body).hexdigest() == emu.export_sha256(gid) == result["sha256"]
    assert result["bytes"] == len(body)
    assert container.objects() == {KEY: len(body)}  # no temporary blob beside it
    assert container.staged_bytes(KEY) == 0  # every staged block was committed


@SYSTEM_TEST
def test_azure_reader_never_sees_a_partial_object(start, container):
    emu, hook, gid = start(export_size=20 * MIB)
    emu.set_faults(slow_download_bps=10_000_000)  # about 2 s, the first block staged half-way
    expected = emu.export_file(gid).read_bytes()

    with Reader(container.objects, container.read, lambda: container.staged_bytes(KEY) > 0) as reader:
        hook.download_organization_export(gid, destination(container))
        wait_for(lambda: reader.saw(KEY))

    assert reader.polls >= 5
    assert reader.sightings == {KEY: {len(expected)}}, "a reader saw a partial or a temporary blob"
    assert reader.contents == {hashlib.sha256(expected).hexdigest()}
    assert reader.polls_during_upload >= 1  # it looked while staged blocks sat uncommitted


@SYSTEM_TEST
def test_azure_killed_try_leaves_nothing_visible_and_the_next_try_lands(start, container):
    emu, hook, gid = start(export_size=20 * MIB)
    emu.set_faults(slow_download_bps=4_000_000)  # the first 16 MiB block is staged after about 4 s of 5

    with child(DOWNLOAD, gid, destination(container)) as killed:
        try:
            wait_for(lambda: container.staged_bytes(KEY) > 0, process=killed)
        finally:
            killed.send_signal(signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert container.objects() == {}  # its bytes are uncommitted blocks, which nobody can read
    emu.clear_faults()

    result = hook.download_organization_export(gid, destination(container))

    assert container.read(KEY) == emu.export_file(gid).read_bytes()
    assert result["sha256"] == emu.export_sha256(gid)
    assert container.objects() == {KEY: result["bytes"]}
    assert container.staged_bytes(KEY) == 0  # the killed try's blocks went with the commit


def test_azure_existing_object_refused_without_overwrite_and_untouched_by_a_failed_run(start, container):
    emu, hook, gid = start(export_size=30 * MIB)
    container.put(KEY, b"the previous export")
    emu.clear_requests()

    with pytest.raises(AsanaDownloadError, match="already exists: pass overwrite=True"):
        hook.download_organization_export(gid, destination(container))
    assert emu.requests == []  # refused before any download

    emu.set_faults(truncate_gzip=True)  # 60% of 30 MiB: a 16 MiB block is staged before the check fails
    with pytest.raises(AsanaDownloadError, match="not a valid gzip"):
        hook.download_organization_export(gid, destination(container), overwrite=True)
    assert container.read(KEY) == b"the previous export"
    assert container.staged_bytes(KEY) > 0  # staged, never committed

    emu.clear_faults()
    result = hook.download_organization_export(gid, destination(container), overwrite=True)
    assert hashlib.sha256(container.read(KEY)).hexdigest() == result["sha256"]


@pytest.mark.parametrize("size", [1 * MIB, 20 * MIB], ids=["one-block", "two-blocks"])
def test_azure_second_writer_cannot_replace_what_the_first_committed(container, monkeypatch, size):
    """
    Two writers of the same blob, overwrite=False; the first commits right after the second checked that
    the blob is free, before the second commits its block list. Only the store can see the first writer
    then: the second's Put Block List carries If-None-Match: *, and Azurite refuses it.
    """
    from adlfs import AzureBlobFileSystem

    path = ObjectStoragePath(destination(container))
    other = AzureBlobFileSystem(connection_string=path.fs.connection_string, skip_instance_cache=True)
    first = make_writer(other, path.path, str(path), overwrite=False)
    second = make_writer(path.fs, path.path, str(path), overwrite=False)
    first_bytes, second_bytes = b"1" * size, b"2" * size
    for writer, data in ((first, first_bytes), (second, second_bytes)):
        writer.open()
        writer.write(data)
    # Past one block, what both have sent is staged on the blob as uncommitted blocks, invisible.
    assert container.objects() == {}
    assert container.staged_bytes(KEY) == (2 * size if size > 16 * MIB else 0)

    checked = path.fs.exists

    def exists_then_the_first_commits(key: str) -> bool:
        free = checked(key)
        first.commit()
        return free

    monkeypatch.setattr(path.fs, "exists", exists_then_the_first_commits)

    with pytest.raises(AsanaDownloadError, match=f"destination {path} already exists: pass overwrite=True"):
        commit_or_abort(second)

    assert container.read(KEY) == first_bytes


def test_azure_overwrite_true_replaces_without_a_condition(container):
    container.put(KEY, b"the previous export")
    path = ObjectStoragePath(destination(container))
    writer = make_writer(path.fs, path.path, str(path), overwrite=True)
    writer.open()
    writer.write(b"new")
    writer.commit()
    assert container.read(KEY) == b"new"
