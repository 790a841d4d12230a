"""The provider as the Airflow CLI sees it: registered, listed, and its connection testable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


def _airflow(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [AIRFLOW, *args],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_providers_list_and_hooks_show_the_provider_beside_the_official_one():
    listed = _airflow("providers", "list", "--output", "plain")
    assert listed.returncode == 0, listed.stderr
    assert "airflow-provider-asana" in listed.stdout
    assert "apache-airflow-providers-asana" in listed.stdout  # the official provider loads too
    hooks = _airflow("providers", "hooks", "--output", "plain")
    asana_rows = [line for line in hooks.stdout.splitlines() if line.split()[:1] == ["asana"]]
    assert asana_rows
    assert "airflow_provider_asana.hooks.asana.AsanaHook" in asana_rows[0]
    assert "Traceback" not in listed.stderr + hooks.stderr


def test_connections_test_succeeds_against_the_emulator(asana_emulator):
    result = _airflow(
        "connections", "test", "asana_default",
        env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "AIRFLOW_CONN_ASANA_DEFAULT": asana_emulator.connection_json},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Connection success!" in result.stdout
    assert [r.path for r in asana_emulator.requests] == ["/api/1.0/users/me"]


def test_connections_test_fails_with_a_bad_token(asana_emulator):
    conn = asana_emulator.connection_json.replace(asana_emulator.token, "revoked-token")
    result = _airflow(
        "connections", "test", "asana_default",
        env={"AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "AIRFLOW_CONN_ASANA_DEFAULT": conn},
    )  # fmt: skip
    assert "Connection success!" not in result.stdout
    assert "HTTP 401" in result.stdout + result.stderr
    assert "revoked-token" not in result.stdout + result.stderr
