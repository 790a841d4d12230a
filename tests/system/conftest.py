"""
Fixtures for the system tests: the example Dags run for real (``dag.test()``) against the emulator.

``tests/conftest.py`` has already pointed ``AIRFLOW_HOME`` at a private temporary folder (SQLite) before
Airflow was imported; here that database is migrated once per session, and the Dag bundle is pointed at
``example_dags/`` (``dag.test()`` serializes the bundle that holds the Dag into the metadata DB).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pytest

if TYPE_CHECKING:
    from datetime import datetime

# The demo's own file checks: sha256 streamed in 1 MiB blocks, records per __type streamed through gzip.
from demo.checks import count_types, sha256_of  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = REPO / "example_dags"
LAKE_DAG_ID = "asana_organization_export_to_lake"
REPORT_DAG_ID = "asana_organization_export_report"
ON_DEMAND_DAG_ID = "asana_organization_export_on_demand"
FAN_OUT_DAG_ID = "asana_organization_exports_fan_out"
TABLES_DAG_ID = "asana_organization_export_to_tables"
DAG_IDS = (LAKE_DAG_ID, REPORT_DAG_ID, ON_DEMAND_DAG_ID, FAN_OUT_DAG_ID, TABLES_DAG_ID)
#: Seconds between export state checks in the example Dags (module constant read at parse time).
POKE_INTERVAL = "1"


def bundle_config() -> str:
    """``[dag_processor] dag_bundle_config_list`` with the default bundle at ``example_dags/``."""
    return json.dumps(
        [
            {
                "name": "dags-folder",
                "classpath": "airflow.dag_processing.bundles.local.LocalDagBundle",
                "kwargs": {"path": str(EXAMPLE_DAGS)},
            }
        ]
    )


@pytest.fixture(scope="session")
def system_env() -> Iterator[dict[str, str]]:
    """
    The environment every system test runs in (restored at the end of the session).

    Example Dags read ``ASANA_EXAMPLE_POKE_INTERVAL`` at parse time, so it is set before any is parsed.
    """
    values = {
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundle_config(),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "ASANA_EXAMPLE_POKE_INTERVAL": POKE_INTERVAL,
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in values.items():
            mp.setenv(name, value)
        yield values


@pytest.fixture(scope="session")
def airflow_db(system_env: dict[str, str]) -> str:
    """
    The migrated metadata DB, once per session.

    ``initdb`` creates the tables on a fresh DB and upgrades an existing one; it never drops anything, so
    the tests identify their own rows by run id rather than assume an empty DB.
    """
    from airflow import settings
    from airflow.utils.db import initdb

    home = Path(os.environ["AIRFLOW_HOME"]).resolve()
    if not home.is_relative_to(Path(tempfile.gettempdir()).resolve()):
        raise pytest.UsageError(
            f"Refusing to run the system tests against AIRFLOW_HOME={home}: they migrate its metadata DB and "
            "write Dag runs into it. Unset AIRFLOW_HOME (tests/conftest.py then makes a private temporary one)."
        )
    initdb()
    assert settings.engine is not None
    return str(settings.engine.url)


@pytest.fixture
def example_dags(system_env: dict[str, str]) -> dict[str, Any]:
    """The example Dags, freshly parsed (so they see the current environment)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(EXAMPLE_DAGS))
    assert bag.import_errors == {}, bag.import_errors
    return bag.dags


@pytest.fixture
def lake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lake folder, set as the ``asana_lake_root`` Variable (through the environment)."""
    root = tmp_path / "lake"
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_LAKE_ROOT", root.as_uri())
    return root


# -- helpers ------------------------------------------------------------------------------------------


def uri_to_path(uri: str) -> Path:
    """The local path of a ``file://`` URI."""
    parts = urlsplit(uri)
    assert parts.scheme == "file", uri
    return Path(unquote(parts.path))


def xcom(dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
    """A task's XCom, read from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        value = session.scalar(
            select(XComModel.value).where(
                XComModel.dag_id == dag_id,
                XComModel.run_id == run_id,
                XComModel.task_id == task_id,
                XComModel.key == key,
            )
        )
    return value  # the column is JSON: SQLAlchemy decodes it


def asset_events(run_id: str) -> list[dict[str, Any]]:
    """The asset events a Dag run emitted: ``[{"asset": name, "uri": uri, "extra": {...}}]``."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetModel.uri, AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetEvent.source_run_id == run_id)
            .order_by(AssetEvent.id)
        ).all()
    return [{"asset": name, "uri": uri, "extra": extra} for name, uri, extra in rows]


def task_states(dag_id: str, run_id: str) -> dict[str, str]:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id
            )
        ).all()
    return {task_id: str(getattr(state, "value", state)) for task_id, state in rows}


def deferred_export_gids(since: datetime) -> set[str | None]:
    """Export gids of the AsanaOrganizationExportTriggers that deferrals wrote to the trigger table since then."""
    from airflow.models.trigger import Trigger
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return {
            t.kwargs.get("export_gid")
            for t in session.scalars(select(Trigger).where(Trigger.created_date >= since))
            if t.classpath.endswith(".AsanaOrganizationExportTrigger")
        }
