"""
After a real run, neither the Asana token nor a presigned download URL is anywhere Airflow keeps things.

The lake Dag runs through the ``airflow dags test`` command (what a user runs; it runs the trigger inline,
but the deferral still writes the trigger row), in a subprocess whose whole output is the task logs.
The emulator is told to hand out an already-expired URL first and to cut the first download short, so
the URL-refresh and resume paths (where a URL is most likely to end up in a message) run too.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.system.conftest import LAKE_DAG_ID, REPO, sha256_of, uri_to_path, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

LOGICAL_DATE = "2026-02-01"
SIGNATURE_PARAM = re.compile(r"x-amz-signature", re.IGNORECASE)


@pytest.fixture(scope="module")
def leak_run(airflow_db, system_env, asana_emulator_cache_dir, tmp_path_factory) -> dict[str, Any]:
    """Run the lake Dag once with a distinctive token; return what it printed and what to look for."""
    from airflow_provider_asana.emulator.emulator import AsanaEmulator

    token = f"0/1200000000000042/system-test-secret-{secrets.token_hex(12)}"
    lake = tmp_path_factory.mktemp("security-lake")
    with AsanaEmulator(token=token, export_size=256 << 10, cache_dir=asana_emulator_cache_dir) as emu:
        emu.set_faults(expire_urls=1, drop_download=1)
        env = {
            **os.environ,
            "AIRFLOW_CONN_ASANA_DEFAULT": emu.connection_json,
            "AIRFLOW_VAR_ASANA_LAKE_ROOT": lake.as_uri(),
        }
        proc = subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "test", LAKE_DAG_ID, LOGICAL_DATE],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=240,
            check=False,
        )
        requests = emu.requests
        exports = emu.exports

    signatures = sorted(
        {value for r in requests if r.host == "download" for value in r.query.get("X-Amz-Signature", [])}
    )
    return {
        "returncode": proc.returncode,
        "output": proc.stdout,
        "token": token,
        "signatures": signatures,
        "requests": requests,
        "exports": exports,
    }


def _leaks(text: str, run: dict[str, Any]) -> list[str]:
    found = []
    if run["token"] in text:
        found.append("the Asana token")
    if SIGNATURE_PARAM.search(text):
        found.append("X-Amz-Signature")
    found += [f"signature {sig[:8]}..." for sig in run["signatures"] if sig in text]
    return found


def _run_id() -> str:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(
            select(DagRun.run_id).where(
                DagRun.dag_id == LAKE_DAG_ID,
                DagRun.logical_date == datetime.fromisoformat(LOGICAL_DATE).replace(tzinfo=timezone.utc),
            )
        ).all()
    assert len(runs) == 1, runs
    return runs[0]


def _rows(table: str, where: str = "", params: dict | None = None) -> list[dict[str, Any]]:
    """Every row of a metadata table, each column as text."""
    from airflow import settings
    from sqlalchemy import text

    assert settings.engine is not None
    with settings.engine.connect() as connection:
        result = connection.execute(text(f"SELECT * FROM {table} {where}"), params or {})
        return [
            {k: v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in row._mapping.items()}
            for row in result
        ]


def test_the_run_succeeded_and_used_secrets_worth_hiding(leak_run):
    assert leak_run["returncode"] == 0, leak_run["output"][-5000:]
    requests = leak_run["requests"]
    downloads = [r for r in requests if r.host == "download"]
    # An expired URL (403), then a fresh one; the first body was cut short, then resumed.
    assert next(r.status for r in downloads) == 403
    assert len(leak_run["signatures"]) >= 2
    assert {r.status for r in downloads[1:]} & {200, 206}
    assert all(r.authorization for r in requests if r.host == "api")
    assert not any(r.authorization for r in downloads), "the Asana token was sent to the download host"

    landed = xcom(LAKE_DAG_ID, _run_id(), "land")
    assert sha256_of(uri_to_path(landed["uri"])) == leak_run["exports"][landed["export_gid"]]["sha256"]


def test_no_secret_in_the_task_logs(leak_run):
    assert "Started Asana organization export" in leak_run["output"]  # the task logs are in there
    assert _leaks(leak_run["output"], leak_run) == []
    log_folder = Path(os.environ["AIRFLOW_HOME"]) / "logs"
    for path in log_folder.rglob("*") if log_folder.exists() else ():
        if path.is_file():
            assert _leaks(path.read_text(errors="replace"), leak_run) == [], path


def test_no_secret_in_xcom(leak_run):
    rows = _rows(
        "xcom", "WHERE dag_id = :dag_id AND run_id = :run_id", {"dag_id": LAKE_DAG_ID, "run_id": _run_id()}
    )
    assert {row["task_id"] for row in rows} == {"create", "land"}
    for row in _rows("xcom"):
        assert _leaks(repr(row), leak_run) == [], row


def test_no_secret_in_rendered_task_instance_fields(leak_run):
    rows = _rows(
        "rendered_task_instance_fields",
        "WHERE dag_id = :dag_id AND run_id = :run_id",
        {"dag_id": LAKE_DAG_ID, "run_id": _run_id()},
    )
    assert {row["task_id"] for row in rows} == {"create", "land"}
    for row in _rows("rendered_task_instance_fields"):
        assert _leaks(repr(row), leak_run) == [], row


def test_no_secret_in_the_trigger_table(leak_run):
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    rows = _rows("trigger")
    assert any("AsanaOrganizationExportTrigger" in row["classpath"] for row in rows)
    for row in rows:
        assert _leaks(repr(row), leak_run) == [], row
    with create_session() as session:  # decrypted too, in case a Fernet key is configured
        for trigger in session.scalars(select(Trigger)):
            assert _leaks(repr(trigger.kwargs), leak_run) == []


def test_no_secret_anywhere_in_the_metadata_db(leak_run):
    from airflow import settings
    from sqlalchemy import inspect

    tables = inspect(settings.engine).get_table_names()
    assert {"xcom", "rendered_task_instance_fields", "trigger", "task_instance", "log"} <= set(tables)
    for table in tables:
        for row in _rows(f'"{table}"'):
            assert _leaks(repr(row), leak_run) == [], (table, row)
