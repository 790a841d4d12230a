"""
The export download engine writing to object stores: S3 (moto's server, through the amazon provider's
ObjectStoragePath support) and a filesystem without deferred commits (fsspec's memory filesystem).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import threading

import pytest

from airflow.sdk import ObjectStoragePath
from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.hooks._atomic_write import _refused_as_existing, make_writer
from airflow_provider_asana.hooks.asana import AsanaHook
from tests.transfers.download_support import connect, finished_export, moto_server, s3_bucket

MIB = 1 << 20
KEY = "asana/export.json.gz"
DEST = f"s3://aws_test@bucket/{KEY}"


@pytest.fixture(scope="module")
def moto_endpoint():
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    return s3_bucket(monkeypatch, moto_endpoint)


@pytest.fixture
def start(asana_emulator_factory, monkeypatch):
    def start(**kwargs):
        emu = asana_emulator_factory(**kwargs)
        connect(monkeypatch, emu)
        hook = AsanaHook()
        return emu, hook, finished_export(hook, emu)

    return start


def s3_calls(path: ObjectStoragePath) -> list[str]:
    """Record the S3 operations the destination's filesystem makes (observation only)."""
    calls: list[str] = []
    path.fs.s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    return calls


def multipart_uploads(client) -> list:
    return client.list_multipart_uploads(Bucket="bucket").get("Uploads", [])


def assert_no_object(client) -> None:
    with pytest.raises(client.exceptions.ClientError) as raised:
        client.head_object(Bucket="bucket", Key=KEY)
    assert raised.value.response["Error"]["Code"] == "404"


def test_s3_lands_byte_identical_in_a_multipart_upload(start, s3):
    emu, hook, gid = start(export_size=20 * MIB)  # > the 16 MiB part size: two parts
    path = ObjectStoragePath(DEST)
    calls = s3_calls(path)

    result = hook.download_organization_export(gid, path)

    body = s3.get_object(Bucket="bucket", Key=KEY)["Body"].read()
    assert body == emu.export_file(gid).read_bytes()
    assert result == {"uri": DEST, "bytes": len(body), "sha256": emu.export_sha256(gid), "export_gid": gid}
    assert calls.count("UploadPart") == 2 and "CompleteMultipartUpload" in calls
    assert multipart_uploads(s3) == []
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bucket")["Contents"]] == [KEY]  # no temporary key


def test_s3_failed_run_aborts_the_multipart_upload(start, s3):
    emu, hook, gid = start(export_size=30 * MIB)  # the truncated copy (60%) still fills a 16 MiB part
    emu.set_faults(truncate_gzip=True)
    path = ObjectStoragePath(DEST)
    calls = s3_calls(path)

    with pytest.raises(AsanaDownloadError, match="not a valid gzip"):
        hook.download_organization_export(gid, path)

    assert "UploadPart" in calls  # the upload was under way...
    assert "AbortMultipartUpload" in calls and "CompleteMultipartUpload" not in calls  # ...and was aborted
    assert_no_object(s3)
    assert multipart_uploads(s3) == []


def test_s3_failed_run_before_the_first_part_leaves_no_upload(start, s3):
    """fsspec's close() after discard() would start a multipart upload for the unsent bytes: it must not."""
    emu, hook, gid = start()
    emu.set_faults(truncate_gzip=True)
    path = ObjectStoragePath(DEST)
    calls = s3_calls(path)

    with pytest.raises(AsanaDownloadError, match="not a valid gzip"):
        hook.download_organization_export(gid, path)

    assert "CreateMultipartUpload" not in calls and "PutObject" not in calls
    assert_no_object(s3)
    assert multipart_uploads(s3) == []


def test_s3_existing_object_refused_without_overwrite_and_untouched_by_a_failed_run(start, s3):
    emu, hook, gid = start()
    s3.put_object(Bucket="bucket", Key=KEY, Body=b"the previous export")
    emu.clear_requests()

    with pytest.raises(AsanaDownloadError, match="already exists: pass overwrite=True"):
        hook.download_organization_export(gid, DEST)
    assert emu.requests == []

    emu.set_faults(truncate_gzip=True)
    with pytest.raises(AsanaDownloadError):
        hook.download_organization_export(gid, DEST, overwrite=True)
    assert s3.get_object(Bucket="bucket", Key=KEY)["Body"].read() == b"the previous export"
    assert multipart_uploads(s3) == []

    emu.clear_faults()
    result = hook.download_organization_export(gid, DEST, overwrite=True)
    assert hashlib.sha256(s3.get_object(Bucket="bucket", Key=KEY)["Body"].read()).hexdigest() == result["sha256"]


# -- overwrite=False is enforced by S3 itself: a conditional write ---------------------------------------


@pytest.fixture
def other_s3_filesystem(moto_endpoint):
    """An independent s3fs filesystem on an event loop of its own: a second worker writing the same bucket."""
    import s3fs

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="other-worker-loop", daemon=True)
    thread.start()
    fs = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        endpoint_url=moto_endpoint,
        client_kwargs={"region_name": "us-east-1"},
        loop=loop,
        skip_instance_cache=True,
    )
    yield fs
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.mark.parametrize("size", [1 * MIB, 20 * MIB], ids=["PutObject", "CompleteMultipartUpload"])
def test_s3_second_writer_cannot_replace_what_the_first_committed(s3, other_s3_filesystem, size):
    """
    Two writers of the same key, overwrite=False, the first committing while the second is already
    committing (after its existence check, before its upload completes): S3 refuses the second, and the
    first's bytes remain. An existence check alone cannot see the first writer; only the store can.
    """
    path = ObjectStoragePath(DEST)
    first = make_writer(other_s3_filesystem, path.path, DEST, overwrite=False)
    second = make_writer(path.fs, path.path, DEST, overwrite=False)
    first_bytes, second_bytes = b"1" * size, b"2" * size
    for writer, data in ((first, first_bytes), (second, second_bytes)):
        writer.open()
        writer.write(data)

    raced: list[str] = []

    def first_commits_now(model, **_) -> None:
        if not raced:
            raced.append(model.name)
            first.commit()

    for operation in ("PutObject", "CompleteMultipartUpload"):
        path.fs.s3.meta.events.register(f"before-call.s3.{operation}", first_commits_now)

    with pytest.raises(AsanaDownloadError, match=f"destination {DEST} already exists: pass overwrite=True"):
        try:
            second.commit()
        except BaseException:
            second.abort()
            raise

    assert raced  # the first writer did commit in the window
    assert s3.get_object(Bucket="bucket", Key=KEY)["Body"].read() == first_bytes
    assert multipart_uploads(s3) == []  # the refused upload was aborted


@pytest.mark.parametrize(
    ("code", "status", "refused"),
    [
        ("PreconditionFailed", 412, True),
        ("ConditionalRequestConflict", 409, True),
        ("AccessDenied", 403, False),
    ],
)
def test_s3_refusals_of_a_conditional_write_mean_already_exists(code, status, refused):
    """What s3fs raises for S3's answers (moto only sends the 412): a 409 conflict is another writer too."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    answer = {"Error": {"Code": code, "Message": "m", "Condition": "If-None-Match"}}
    metadata = {"ResponseMetadata": {"HTTPStatusCode": status}}
    error = translate_boto_error(ClientError({**answer, **metadata}, "PutObject"))

    assert _refused_as_existing(error) is refused


def test_s3_overwrite_true_replaces_without_a_condition(s3):
    s3.put_object(Bucket="bucket", Key=KEY, Body=b"the previous export")
    path = ObjectStoragePath(DEST)
    writer = make_writer(path.fs, path.path, DEST, overwrite=True)
    writer.open()
    writer.write(b"new")
    writer.commit()
    assert s3.get_object(Bucket="bucket", Key=KEY)["Body"].read() == b"new"


# -- a filesystem whose files ignore autocommit=False: a temporary key, then mv ------------------------


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


def test_filesystem_without_deferred_commit_goes_through_a_temporary_key(start, memory_fs):
    fs, root = memory_fs
    emu, hook, gid = start()
    destination = f"memory://{root}/landing/export.json.gz"

    result = hook.download_organization_export(gid, destination)

    assert fs.cat(f"{root}/landing/export.json.gz") == emu.export_file(gid).read_bytes()
    assert result["sha256"] == emu.export_sha256(gid)
    assert fs.ls(f"{root}/landing", detail=False) == [f"{root}/landing/export.json.gz"]


def test_filesystem_without_deferred_commit_failed_run_leaves_nothing(start, memory_fs):
    fs, root = memory_fs
    emu, hook, gid = start()
    fs.pipe(f"{root}/landing/export.json.gz", b"the previous export")
    emu.set_faults(truncate_gzip=True)

    with pytest.raises(AsanaDownloadError, match="not a valid gzip"):
        hook.download_organization_export(gid, f"memory://{root}/landing/export.json.gz", overwrite=True)

    assert fs.cat(f"{root}/landing/export.json.gz") == b"the previous export"
    assert fs.ls(f"{root}/landing", detail=False) == [f"{root}/landing/export.json.gz"]
