"""The ``User-Agent`` this provider sends, to Asana's API and to download hosts alike."""

from __future__ import annotations

import platform

from airflow_provider_asana import __version__


def user_agent() -> str:
    """Return the ``User-Agent``: the provider and its version, Airflow's and Python's."""
    from airflow import __version__ as airflow_version

    return (
        f"airflow-provider-asana/{__version__} apache-airflow/{airflow_version} "
        f"python/{platform.python_version()}"
    )
