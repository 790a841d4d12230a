"""Helpers shared by the download engine's tests and the transfer operator's tests."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from tests.conftest import set_asana_connection

if TYPE_CHECKING:
    import pytest

    from airflow_provider_asana.emulator import AsanaEmulator, RequestRecord
    from airflow_provider_asana.hooks.asana import AsanaHook

#: Two 4 MiB gzip members plus change: the emulator writes one member per 4 MiB.
MULTI_MEMBER_SIZE = 9 << 20


def connect(
    monkeypatch: pytest.MonkeyPatch, emu: AsanaEmulator, conn_id: str = "asana_default", **extra
) -> None:
    """Define an ``asana`` connection to ``emu``, fast retries: 4 attempts a request, 4 download stalls."""
    set_asana_connection(
        monkeypatch,
        conn_id,
        host=emu.api_url,
        password=emu.token,
        extra={
            "workspace": emu.organization_gid,
            "retry_backoff": 0.01,
            "max_attempts": 4,
            "max_download_stalls": 4,
            **extra,
        },
    )


def finished_export(hook: AsanaHook, emu: AsanaEmulator) -> str:
    """Create an export, poll it to its end, then empty the emulator's request log. Returns the gid."""
    gid = hook.create_organization_export()["gid"]
    for _ in range(20):
        if hook.get_organization_export(gid)["state"] in ("finished", "error"):
            break
    emu.clear_requests()
    return gid


def downloads(emu: AsanaEmulator) -> list[RequestRecord]:
    """Requests to the download host in the order they arrived (the log is in the order they ended)."""
    return sorted((r for r in emu.requests if r.host == "download"), key=lambda r: r.time)


def api_calls(emu: AsanaEmulator) -> list[RequestRecord]:
    return sorted((r for r in emu.requests if r.host == "api"), key=lambda r: r.time)


def signatures(emu: AsanaEmulator) -> set[str]:
    """Every X-Amz-Signature a client presented to the download host."""
    return {value for r in downloads(emu) for value in r.query.get("X-Amz-Signature", []) if value}


def same_bytes(a: Path, b: Path) -> bool:
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return all(
            x == y for x, y in zip(iter(lambda: fa.read(1 << 20), b""), iter(lambda: fb.read(1 << 20), b""))
        )


def temporaries(directory: Path) -> list[str]:
    """Names a download may have left behind in ``directory``."""
    return sorted(name for name in os.listdir(directory) if name.endswith(".partial"))


@contextlib.contextmanager
def moto_server() -> Iterator[str]:
    """A moto server (S3 and friends) on loopback; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def s3_bucket(
    monkeypatch: pytest.MonkeyPatch, endpoint: str, conn_id: str = "aws_test", bucket: str = "bucket"
):
    """
    Empty moto's state, create ``bucket``, define the ``aws`` connection ``conn_id`` to ``endpoint``.

    Returns a boto3 S3 client. Airflow caches object stores per connection id: the cache is emptied
    for the test, so the connection is read afresh.
    """
    import boto3
    from airflow.sdk.io import store

    requests.post(f"{endpoint}/moto-api/reset", timeout=10).raise_for_status()  # moto's state is per process
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
            }
        ),
    )
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(store, "_STORE_CACHE", {})
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=bucket)
    return client
