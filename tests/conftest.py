from __future__ import annotations

import gc
import json
import os
import tempfile
from collections.abc import Iterator

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


@pytest.fixture
def restore_secrets_masker() -> Iterator[None]:
    """
    Drop the masks a test registers with Airflow's secrets masker when it ends.

    The masker is process-wide and recompiles one regex of all its masks on each new one: the tokens these
    tests register would slow every later registration (a download registers its URL on each refresh) and
    every log line of the session.
    """
    from airflow.sdk.log import _secrets_masker

    masker = _secrets_masker()
    patterns, replacer = set(masker.patterns), masker.replacer
    yield
    masker.patterns, masker.replacer = patterns, replacer


@pytest.fixture(scope="session", autouse=True)
def frozen_import_graph() -> None:
    """
    Take the objects alive so far (Airflow's import graph, some 200,000) out of the cyclic GC.

    A full collection walks them all and pauses every thread for 0.3-0.7 s on a loaded machine: longer than
    the 0.4 s URL lifetime of the download tests, whose URL then expires between being handed out and used.
    """
    gc.freeze()
