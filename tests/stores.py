"""
Object-store emulators on loopback, each in a process of its own: the GCS emulator, Azurite, and moto's S3.

Used by the store tests (``tests/download/test_gcs.py``, ``test_azure.py``) and by ``benchmarks/stores.py``
(the S3 tests run moto in-process: ``tests/download/support.py``).
An emulator that cannot start raises :class:`EmulatorUnavailable`, whose message says why and how to
install what is missing; the tests turn it into a failure, never a skip.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Where ``make azurite`` installs Azurite (``npm ci`` of tools/azurite/package-lock.json).
AZURITE_DIR = ROOT / "tools" / "azurite"
AZURITE_BIN = AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's well-known development account (public, documented by Microsoft; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
STARTUP_SECONDS = 60.0


class EmulatorUnavailable(RuntimeError):
    """An emulator could not be started; the message names the cause and the fix."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _process(name: str, command: list[str], port: int, fix: str, **popen: object) -> Iterator[None]:
    """Run ``command`` until the context ends; wait until ``port`` accepts connections."""
    log = tempfile.TemporaryFile()
    try:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **popen
        )  # type: ignore[call-overload]
    except OSError as e:
        log.close()
        raise EmulatorUnavailable(f"{name} could not be started ({e}). {fix}") from None
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                log.seek(0)
                output = log.read().decode(errors="replace")[-2000:]
                raise EmulatorUnavailable(
                    f"{name} exited with {process.returncode} at start-up. {fix}\n{output}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            if time.monotonic() > deadline:
                raise EmulatorUnavailable(
                    f"{name} did not listen on port {port} within {STARTUP_SECONDS:.0f} s."
                )
            time.sleep(0.05)
        yield
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """moto's server (``python -m moto.server``); yields its endpoint URL."""
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    with _process("moto's server", command, port, "It is in the test extra (moto[server]): make install."):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator, in memory (``tests.gcs_emulator``); yields its endpoint URL."""
    fix = "It is in the test extra: make install (or pip install -e '.[test]' with the constraints)."
    try:
        import gcp_storage_emulator  # noqa: F401
    except ImportError:
        raise EmulatorUnavailable(f"gcp-storage-emulator is not installed. {fix}") from None
    port = free_port()
    command = [sys.executable, "-m", "tests.gcs_emulator", "--port", str(port)]
    with _process("the GCS emulator", command, port, fix, cwd=ROOT):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def azurite() -> Iterator[str]:
    """Azurite's blob service, in memory; yields a connection string for its development account."""
    fix = "Install it with: make azurite (npm ci in tools/azurite; needs Node.js and npm)."
    if not AZURITE_BIN.exists():
        raise EmulatorUnavailable(f"Azurite is not installed ({AZURITE_BIN} is missing). {fix}")
    if shutil.which("node") is None:
        raise EmulatorUnavailable(f"Azurite needs Node.js, which is not on PATH. {fix}")
    port = free_port()
    workspace = tempfile.mkdtemp(prefix="azurite-")  # its working directory: nothing is kept on disk
    command = [
        str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port),
        "--inMemoryPersistence", "--skipApiVersionCheck", "--silent", "--loose",
    ]  # fmt: skip
    try:
        with _process("Azurite", command, port, "Reinstall it with: make azurite.", cwd=workspace):
            yield (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
                f"BlobEndpoint=http://127.0.0.1:{port}/{AZURITE_ACCOUNT};"
            )
    finally:
        shutil.rmtree(workspace, ignore_errors=True)


# -- GCS: the filesystem Airflow's gs:// store gets, and a plain HTTP reader ---------------------------------

GCS_PROJECT = "test-project"


def gcs_filesystem(endpoint: str):
    """
    A gcsfs filesystem on the emulator, anonymous, as the Google provider's ``get_fs`` builds one.

    ``gcsfs.core.GCSFileSystem``, not ``gcsfs.GCSFileSystem``: the latter is gcsfs's experimental subclass
    that first asks the Storage Control API (gRPC) for the bucket's layout, which no emulator serves; for
    a standard bucket it then writes through the same ``GCSFile`` as the core class.
    """
    from gcsfs.core import GCSFileSystem

    return GCSFileSystem(endpoint_url=endpoint, token="anon", project=GCS_PROJECT, skip_instance_cache=True)


def attach_gcs(endpoint: str, conn_id: str) -> None:
    """Make ``gs://<conn_id>@bucket/key`` paths resolve to the emulator (Airflow's ``attach``)."""
    from airflow.sdk.io import attach

    attach("gs", conn_id=conn_id, fs=gcs_filesystem(endpoint))


class GcsBucket:
    """One bucket on the GCS emulator, read and written with plain HTTP (an independent reader)."""

    def __init__(self, endpoint: str, name: str) -> None:
        import requests

        self.endpoint = endpoint
        self.name = name
        self.session = requests.Session()
        response = self.session.post(
            f"{endpoint}/storage/v1/b", params={"project": GCS_PROJECT}, json={"name": name}, timeout=30
        )
        response.raise_for_status()

    def objects(self) -> dict[str, int]:
        """Every object in the bucket and its size."""
        response = self.session.get(f"{self.endpoint}/storage/v1/b/{self.name}/o", timeout=30)
        response.raise_for_status()
        return {item["name"]: int(item["size"]) for item in response.json().get("items", [])}

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None if there is none."""
        from urllib.parse import quote

        response = self.session.get(
            f"{self.endpoint}/download/storage/v1/b/{self.name}/o/{quote(key, safe='')}",
            params={"alt": "media"},
            timeout=60,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    def put(self, key: str, data: bytes) -> None:
        response = self.session.post(
            f"{self.endpoint}/upload/storage/v1/b/{self.name}/o",
            params={"uploadType": "media", "name": key},
            data=data,
            timeout=60,
        )
        response.raise_for_status()

    def upload_sessions(self) -> list[int]:
        """Bytes received by each resumable upload session still open in this bucket (tests.gcs_emulator's)."""
        response = self.session.get(f"{self.endpoint}/_test/upload_sessions", timeout=30)
        response.raise_for_status()
        return [session["bytes"] for session in response.json() if session["bucket"] == self.name]


# -- Azure: the connection Airflow's abfs:// store reads, and the SDK as an independent reader -------------


def azure_connection(connection_string: str) -> dict:
    """An Airflow ``wasb`` connection to Azurite: the Azure provider's ``abfs://`` store reads its string."""
    return {"conn_type": "wasb", "extra": {"connection_string": connection_string}}


class AzureContainer:
    """One container on Azurite, read and written with azure-storage-blob (an independent reader)."""

    def __init__(self, connection_string: str, name: str) -> None:
        from azure.storage.blob import ContainerClient

        self.name = name
        self.client = ContainerClient.from_connection_string(connection_string, name)
        self.client.create_container()

    def objects(self) -> dict[str, int]:
        """Every blob a reader can see (committed) and its size."""
        return {blob.name: blob.size for blob in self.client.list_blobs()}

    def read(self, key: str) -> bytes | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self.client.download_blob(key).readall()
        except ResourceNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        self.client.upload_blob(key, data)

    def staged_bytes(self, key: str) -> int:
        """Bytes staged as uncommitted blocks of ``key`` (an upload under way, invisible to readers)."""
        from azure.core.exceptions import ResourceNotFoundError

        try:
            _, uncommitted = self.client.get_blob_client(key).get_block_list("uncommitted")
        except ResourceNotFoundError:
            return 0
        return sum(block.size for block in uncommitted)
