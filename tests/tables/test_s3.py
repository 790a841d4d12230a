"""
Lake tables on S3 (moto's server): credentials from the Airflow ``aws`` connection, commits by conditional
put (moto, like AWS S3, honours ``If-None-Match``), and a failed commit undone on S3 too.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from deltalake import DeltaTable

from airflow_provider_asana.tables import load_organization_export
from airflow_provider_asana.tables.storage import resolve_tables_root

from tests.download.support import s3_bucket
from tests.tables.synthetic import SyntheticOrg, snake_table

ROOT = "s3://aws_test@bucket/lake"


@pytest.fixture(scope="module")
def moto_endpoint():
    """
    moto's S3 in its own process, as S3 is to a worker: some delta-rs calls (``history``) hold the GIL
    while they wait for S3, which would starve a moto server thread in this process.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(f"{endpoint}/moto-api/", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("moto's server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(10)


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    return s3_bucket(monkeypatch, moto_endpoint)


def read(name: str, version: int | None = None):
    root = resolve_tables_root(ROOT)
    return DeltaTable(root.table_uri(name), version=version, storage_options=root.storage_options)


def content() -> dict[str, list[str]]:
    out = {}
    for name in ("task", "story", "_changes/task", "_exports"):
        out[name] = sorted(
            json.dumps(r, default=str, sort_keys=True) for r in read(name).to_pyarrow_table().to_pylist()
        )
    return out


def test_storage_options_come_from_the_connection(s3, moto_endpoint):
    root = resolve_tables_root(ROOT)
    assert root.uri == "s3://bucket/lake"
    assert root.storage_options == {
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint, "AWS_ALLOW_HTTP": "true",
    }  # fmt: skip
    assert "testing" not in repr(root)


def test_loads_from_and_into_s3(s3, tmp_path):
    org = SyntheticOrg(800, seed=3, updated=0.05)
    results = []
    for k in range(2):
        path = org.write(tmp_path / f"{k}.json.gz", k)
        s3.put_object(Bucket="bucket", Key=f"landed/{k}.json.gz", Body=path.read_bytes())
        results.append(
            load_organization_export(f"s3://aws_test@bucket/landed/{k}.json.gz", ROOT, export_gid=f"g{k}")
        )

    truth = org.changes(1)
    for name, entry in results[1]["tables"].items():
        kinds = list(truth.get(name, {}).values())
        assert (entry["inserted"], entry["updated"], entry["deleted"]) == tuple(
            kinds.count(c) for c in ("insert", "update", "delete")
        )
    tasks = sum(1 for i in range(org.span(1)) if org.alive(i, 1) and snake_table(org.type_of(i)) == "task")
    assert read("task").to_pyarrow_table().num_rows == tasks
    assert read("task", 0).to_pyarrow_table().column("_export_gid").unique().to_pylist() == ["g0"]
    assert sorted(r["source_sha256"] for r in read("_exports").to_pyarrow_table().to_pylist()) == sorted(
        r["source_sha256"] for r in results
    )
    again = load_organization_export("s3://aws_test@bucket/landed/1.json.gz", ROOT, export_gid="g1")
    assert again["already_loaded"] is True


def journals(s3) -> list[str]:
    listed = s3.list_objects_v2(Bucket="bucket", Prefix="lake/_loads/").get("Contents", [])
    return [o["Key"] for o in listed if o["Key"].endswith(".json")]


LOADER = """
import sys
from airflow_provider_asana.tables import load_organization_export
load_organization_export(sys.argv[1], sys.argv[2], export_gid="g1")
"""


def test_a_load_killed_while_committing_on_s3_is_undone_by_the_next_load(s3, tmp_path):
    org = SyntheticOrg(600, seed=4, updated=0.05)
    load_organization_export(org.write(tmp_path / "0.json.gz", 0), ROOT, export_gid="g0")
    before, exports_before = content(), read("_exports").version()
    export = org.write(tmp_path / "1.json.gz", 1)

    def first_table_committed() -> bool:  # tables commit in name order: asset first
        listed = s3.list_objects_v2(Bucket="bucket", Prefix="lake/asset/_delta_log/00000000000000000001")
        return listed.get("KeyCount", 0) > 0

    child = subprocess.Popen([sys.executable, "-c", LOADER, str(export), ROOT])
    try:
        while child.poll() is None and not first_table_committed():
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    if child.returncode != -signal.SIGKILL:
        pytest.fail("the load finished before the kill")

    assert read("_exports").version() == exports_before  # readers going through _exports see export g0 only
    assert len(journals(s3)) == 1  # the journal tells the next load what to undo

    from airflow_provider_asana.tables import recover

    recover(ROOT)

    assert content() == before
    assert read("asset").history(1)[0]["operation"] == "RESTORE"
    assert journals(s3) == []
    result = load_organization_export(export, ROOT, export_gid="g1")
    assert result["already_loaded"] is False
    assert result["tables"]["asset"]["version"] == 3
