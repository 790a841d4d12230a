from __future__ import annotations

import json
import os
import tempfile

# Before anything imports airflow: a private AIRFLOW_HOME (SQLite metadata DB) for the whole run.
os.environ["AIRFLOW_HOME"] = tempfile.mkdtemp(prefix="asana-provider-tests-")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"

import pytest

pytest_plugins = ["airflow_provider_asana.emulator.pytest_plugin"]

TOKEN = "0/1200000000000042/unit-test-secret-token"
WORKSPACE = "1200000000000001"


def set_asana_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = "asana_default", **fields) -> dict:
    """Define an ``asana`` connection through the environment, as a deployment would."""
    extra = fields.pop("extra", {"workspace": WORKSPACE})
    conn = {"conn_type": "asana", "password": TOKEN, "extra": extra, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn


@pytest.fixture
def asana_conn(monkeypatch: pytest.MonkeyPatch) -> dict:
    """An ``asana_default`` connection to https://asana.test/api/1.0 with fast retries."""
    return set_asana_connection(
        monkeypatch,
        host="https://asana.test/api/1.0",
        extra={"workspace": WORKSPACE, "retry_backoff": 0.001, "max_attempts": 4},
    )


@pytest.fixture
def emulator_conn(asana_emulator, monkeypatch: pytest.MonkeyPatch) -> dict:
    """An ``asana_default`` connection to the running emulator."""
    return set_asana_connection(
        monkeypatch,
        host=asana_emulator.api_url,
        password=asana_emulator.token,
        extra={"workspace": asana_emulator.organization_gid, "retry_backoff": 0.01},
    )
