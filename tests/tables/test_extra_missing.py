from __future__ import annotations

import subprocess
import sys
import textwrap


def test_without_the_tables_extra_the_error_names_it():
    """A DAG that loads tables on a worker without pyarrow learns which extra to install, not just a module name."""
    script = textwrap.dedent(
        """
        import sys

        sys.modules["pyarrow"] = None  # as if not installed: importing it raises ModuleNotFoundError
        import airflow_provider_asana.tables as tables  # importing the package itself needs nothing
        try:
            tables.load_organization_export
        except ModuleNotFoundError as e:
            print(e.name, "|", e)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("pyarrow |"), result.stdout + result.stderr
    assert "pip install 'airflow-provider-asana[tables]'" in result.stdout
