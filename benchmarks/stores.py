"""
Benchmark 5: the same export landed in S3, GCS and Azure, ours against each cloud's own SDK.

Three store emulators run side by side, each in a process of its own (``tests/stores.py``): moto's server
(S3), gcp-storage-emulator (GCS, through ``tests.gcs_emulator``) and Azurite (Azure Blob Storage). The Asana
emulator serves the export from its own process too. For each store, two contenders land the same export
from the same download host:

- ``ours``: ``AsanaHook.download_organization_export(gid, "<scheme>://<conn>@bench/...", overwrite=True)``:
  the fresh-URL API call, the streamed download, SHA-256, the gzip check (the default) and the store's atomic
  commit (S3 multipart upload, GCS resumable session, Azure staged blocks).
- ``ours_unverified``: the same with ``verify_gzip=False`` (SHA-256 still), the work the SDK does: moving the
  bytes, with a checksum.
- ``sdk``: the same API call for a fresh URL, then ``requests`` streams the body (``response.raw``) into the
  cloud's own managed upload, with its defaults: boto3 ``upload_fileobj`` (its transfer manager), google-cloud-
  storage ``Blob.upload_from_file``, azure-storage-blob ``BlobClient.upload_blob``.

Every run is a fresh interpreter (``python -m benchmarks.stores --child ...``) that does one 1 MiB warm-up
transfer the same way, then measures one transfer: its wall time, and its peak RSS growth
(:class:`benchmarks.measure.PeakRss`). The object is removed after each run. Runs alternate between the nine
contenders, rotating the order every round. Throughput ratio = SDK's time / ours, in the same round.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from benchmarks.measure import MIB, PeakRss, alternate
from benchmarks.report import figure, flat_goal, goal, section
from benchmarks.workspace import EmulatorProcess, ensure_export

TITLE = "landing in object stores: ours against each cloud's SDK"
STORES = ("s3", "gcs", "azure")
CONTENDERS = ("ours", "ours_unverified", "sdk")
OURS = {"ours": "ours", "ours_unverified": "ours, verify_gzip=False"}
SDK = {
    "s3": "boto3 upload_fileobj",
    "gcs": "google-cloud-storage upload_from_file",
    "azure": "azure-storage-blob upload_blob",
}
STORE_NAMES = {"s3": "S3 (moto)", "gcs": "GCS (gcp-storage-emulator)", "azure": "Azure (Azurite)"}
WARMUP_SIZE = 1 << 20
LIMIT_MIB = 128
FLAT = 0.10
BUCKET = "bench"
#: Read timeout (s) of both S3 contenders. moto's server answers CompleteMultipartUpload only once it has
#: joined every part in memory (about 15-20 s for 2 GiB here) and, unlike S3, sends nothing meanwhile: with
#: s3fs's default of 15 s the client times out and retries while the first request still runs, and moto
#: answers the retries with 500 (the parts closed, the upload gone).
S3_READ_TIMEOUT = 600
#: Connection ids of the benchmark's stores (the children read them from the environment).
AWS_CONN, GCS_CONN, AZURE_CONN = "aws_bench", "gcs_bench", "azure_bench"


@contextlib.contextmanager
def store_emulators() -> Iterator[dict[str, str]]:
    """Start the three emulators, create the bucket in each; yield the environment the children need."""
    from tests.stores import azure_connection, azurite, gcs_emulator, moto_s3

    with moto_s3() as s3, gcs_emulator() as gcs, azurite() as azure:
        env = {
            f"AIRFLOW_CONN_{AWS_CONN.upper()}": json.dumps({
                "conn_type": "aws", "login": "testing", "password": "testing",
                "extra": {
                    "endpoint_url": s3, "region_name": "us-east-1",
                    "config_kwargs": {"read_timeout": S3_READ_TIMEOUT},
                },
            }),
            f"AIRFLOW_CONN_{AZURE_CONN.upper()}": json.dumps(azure_connection(azure)),
            "BENCH_S3_ENDPOINT": s3,
            "BENCH_GCS_ENDPOINT": gcs,
            "BENCH_AZURE_CONNECTION_STRING": azure,
        }  # fmt: skip
        _s3_client(s3).create_bucket(Bucket=BUCKET)
        _gcs_client(gcs).create_bucket(BUCKET)
        _azure_service(azure).create_container(BUCKET)
        yield env


def _s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
        config=Config(read_timeout=S3_READ_TIMEOUT),
    )


def _gcs_client(endpoint: str) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from tests.stores import GCS_PROJECT

    return storage.Client(
        project=GCS_PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": endpoint}
    )


def _azure_service(connection_string: str) -> Any:
    from azure.storage.blob import BlobServiceClient

    return BlobServiceClient.from_connection_string(connection_string)


def run(sizes: Sequence[int], runs: int, log: Callable[[str], None]) -> dict[str, Any]:
    for size in (WARMUP_SIZE, *sizes):
        ensure_export(size, log)
    samples: dict[int, dict[str, dict[str, list[float]]]] = {}
    method = ""
    with EmulatorProcess(WARMUP_SIZE) as emulator, store_emulators() as stores:
        env = {**os.environ, **emulator.environment(), **stores}
        warm_gid = emulator.finished_export(WARMUP_SIZE)
        for size in sizes:
            gid = emulator.finished_export(size)

            def child(store: str, contender: str, gid: str = gid, size: int = size) -> Callable[[], dict]:
                def one_run() -> dict[str, float]:
                    nonlocal method
                    command = [
                        sys.executable,
                        "-m",
                        "benchmarks.stores",
                        "--child",
                        store,
                        contender,
                        gid,
                        warm_gid,
                    ]
                    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
                    if out.returncode != 0:
                        raise RuntimeError(f"stores child {store} {contender} failed:\n{out.stderr[-3000:]}")
                    result = json.loads(out.stdout.strip().splitlines()[-1])
                    if result["bytes"] != size:
                        raise RuntimeError(f"stores child {store} {contender} landed {result['bytes']} bytes")
                    method = result["method"]
                    return {"seconds": result["seconds"], "growth_mib": result["growth_mib"]}

                return one_run

            log(f"size: {size // MIB} MiB")
            runners = {f"{s}_{c}": child(s, c) for s in STORES for c in CONTENDERS}
            samples[size] = alternate(runners, runs, warmup=False, progress=log)
    return _section(sizes, runs, samples, method)


def _section(sizes: Sequence[int], runs: int, samples: dict, method: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    goals = []
    small, large = min(sizes), max(sizes)
    for store in STORES:
        name, sdk = STORE_NAMES[store], SDK[store]
        for size in sizes:
            mib, mb = size // MIB, size / 1e6
            theirs = samples[size][f"{store}_sdk"]
            for ours, label in OURS.items():
                mine = samples[size][f"{store}_{ours}"]
                figures[f"{store}_{ours}_mbps_{mib}"] = figure(
                    f"{name}, {mib} MiB: {label}, throughput", "MB/s", [mb / s for s in mine["seconds"]], 1
                )
                figures[f"{store}_{ours}_ratio_{mib}"] = figure(
                    f"{name}, {mib} MiB: throughput {label} / SDK (same round)", "x",
                    [t / o for t, o in zip(theirs["seconds"], mine["seconds"])],
                )  # fmt: skip
                figures[f"{store}_{ours}_rss_{mib}"] = figure(
                    f"{name}, {mib} MiB: {label}, peak RSS growth", "MiB", mine["growth_mib"], 1
                )
            figures[f"{store}_sdk_mbps_{mib}"] = figure(
                f"{name}, {mib} MiB: {sdk}, throughput", "MB/s", [mb / s for s in theirs["seconds"]], 1
            )
            figures[f"{store}_sdk_rss_{mib}"] = figure(
                f"{name}, {mib} MiB: {sdk}, peak RSS growth", "MiB", theirs["growth_mib"], 1
            )
        for ours, label in OURS.items():
            ratios = {size: figures[f"{store}_{ours}_ratio_{size // MIB}"]["median"] for size in sizes}
            worst_ratio = min(ratios.values())
            goals.append(goal(
                f"{name}: {label}, throughput >= 1.0x {sdk} at every size (medians)",
                ", ".join(f"{size // MIB} MiB {ratio:.2f}x" for size, ratio in ratios.items()),
                worst_ratio >= 1.0, "" if worst_ratio >= 1.0 else f"short by {(1.0 - worst_ratio) * 100:.0f}%",
            ))  # fmt: skip
            worst = max(figures[f"{store}_{ours}_rss_{size // MIB}"]["max"] for size in sizes)
            goals.append(goal(
                f"{name}: {label}, peak RSS growth <= {LIMIT_MIB} MiB at every size, every run",
                f"at most {worst:.1f} MiB", worst <= LIMIT_MIB,
                "" if worst <= LIMIT_MIB else f"over by {worst - LIMIT_MIB:.1f} MiB",
            ))  # fmt: skip
            a = figures[f"{store}_{ours}_rss_{small // MIB}"]["median"]
            b = figures[f"{store}_{ours}_rss_{large // MIB}"]["median"]
            goals.append(flat_goal(f"{name}: {label},", small // MIB, large // MIB, a, b, FLAT))
    parameters = {"export_mib": [s // MIB for s in sizes], "runs": runs, "rss_method": method}
    return section(TITLE, parameters, figures, goals)


# -- the child ---------------------------------------------------------------------------------------


def _ours(store: str, hook: Any, *, verify_gzip: bool) -> Callable[[str, str], int]:
    if store == "gcs":
        from tests.stores import attach_gcs

        attach_gcs(os.environ["BENCH_GCS_ENDPOINT"], GCS_CONN)
    scheme, conn = {"s3": ("s3", AWS_CONN), "gcs": ("gs", GCS_CONN), "azure": ("abfs", AZURE_CONN)}[store]

    def land(gid: str, key: str) -> int:
        uri = f"{scheme}://{conn}@{BUCKET}/{key}"
        return hook.download_organization_export(gid, uri, overwrite=True, verify_gzip=verify_gzip)["bytes"]

    return land


def _sdk(store: str, hook: Any) -> Callable[[str, str], int]:
    """Return a function landing an export with the cloud's managed upload of ``response.raw`` (a fresh URL)."""
    import requests

    if store == "s3":
        client = _s3_client(os.environ["BENCH_S3_ENDPOINT"])

        def upload(body: Any, key: str) -> int:
            client.upload_fileobj(body, BUCKET, key)
            return client.head_object(Bucket=BUCKET, Key=key)["ContentLength"]

    elif store == "gcs":
        bucket = _gcs_client(os.environ["BENCH_GCS_ENDPOINT"]).bucket(BUCKET)

        def upload(body: Any, key: str) -> int:
            blob = bucket.blob(key)
            blob.upload_from_file(body)
            blob.reload()
            return blob.size

    else:
        container = _azure_service(os.environ["BENCH_AZURE_CONNECTION_STRING"]).get_container_client(BUCKET)

        def upload(body: Any, key: str) -> int:
            blob = container.get_blob_client(key)
            blob.upload_blob(body, overwrite=True)
            return blob.get_blob_properties().size

    def land(gid: str, key: str) -> int:
        url = hook.get_organization_export(gid)["download_url"]
        with requests.get(url, stream=True, timeout=600) as response:
            response.raise_for_status()
            response.raw.decode_content = False
            return upload(response.raw, key)

    return land


def _remove(store: str, key: str) -> None:
    if store == "s3":
        _s3_client(os.environ["BENCH_S3_ENDPOINT"]).delete_object(Bucket=BUCKET, Key=key)
    elif store == "gcs":
        _gcs_client(os.environ["BENCH_GCS_ENDPOINT"]).bucket(BUCKET).blob(key).delete()
    else:
        service = _azure_service(os.environ["BENCH_AZURE_CONNECTION_STRING"])
        service.get_container_client(BUCKET).delete_blob(key)


def child(store: str, contender: str, gid: str, warm_gid: str) -> dict[str, Any]:
    """One fresh-process measurement (its environment names the emulators and connections)."""
    from benchmarks.workspace import setup_process

    setup_process()
    from airflow_provider_asana.hooks.asana import AsanaHook

    hook = AsanaHook()
    if contender == "sdk":
        land = _sdk(store, hook)
    else:
        land = _ours(store, hook, verify_gzip=contender == "ours")
    key = f"{contender}/{os.getpid()}/export.json.gz"
    land(warm_gid, key + ".warm")
    _remove(store, key + ".warm")
    gc.collect()
    peak = PeakRss()
    peak.start()
    started = time.perf_counter()
    size = land(gid, key)
    seconds = time.perf_counter() - started
    measured = peak.stop()
    _remove(store, key)
    return {**measured, "bytes": size, "seconds": seconds, "store": store, "contender": contender}


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stores")
    parser.add_argument("--child", nargs=4, metavar=("STORE", "CONTENDER", "GID", "WARM_GID"), required=True)
    args = parser.parse_args(argv)
    print(json.dumps(child(*args.child)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
