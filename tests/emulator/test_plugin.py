"""The pytest plugin as users get it: registered by the installed package, loaded without Airflow."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

USER_TEST = """
def test_uses_the_fixtures(asana_emulator, asana_emulator_factory):
    other = asana_emulator_factory(polls_to_finish=1)
    assert asana_emulator.api_url != other.api_url
"""
PLUGIN = "airflow_provider_asana.emulator.pytest_plugin"
#: Plugins the user suite does not need and that take seconds to import.
SLOW_PLUGINS = ("-p", "no:schemathesis", "-p", "no:hypothesispytest")


@pytest.mark.parametrize(
    "conftest", ["", f"pytest_plugins = [{PLUGIN!r}]\n"], ids=["entry-point", "conftest"]
)
def test_a_user_suite_gets_the_fixtures(tmp_path: Path, conftest: str) -> None:
    (tmp_path / "test_user.py").write_text(USER_TEST)
    (tmp_path / "conftest.py").write_text(conftest)

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *SLOW_PLUGINS, "test_user.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_loading_the_plugin_imports_no_airflow() -> None:
    # pytest loads the plugin before any conftest runs, so it must not import Airflow (and its config).
    code = f"import sys, {PLUGIN}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))"

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )

    assert result.stdout.strip() == "[]"
