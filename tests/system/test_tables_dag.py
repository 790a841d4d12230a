"""
The tables Dag run end to end with ``dag.test()``: two consecutive emulator exports landed by the lake Dag,
each loaded into Delta Lake tables, the changes checked against the emulator's ground truth.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from demo.checks import change_counts, change_rows, ground_truth, records_per_table

from tests.system.conftest import LAKE_DAG_ID, TABLES_DAG_ID, asset_events, task_states, uri_to_path, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")

SUCCESS = "success"


def test_tables_dag_loads_each_landed_export_with_the_changes_the_emulator_made(
    example_dags, asana_emulator, emulator_conn, lake_root
):
    emu = asana_emulator
    lake, tables = example_dags[LAKE_DAG_ID], example_dags[TABLES_DAG_ID]
    tables_root = lake_root / "asana" / f"organization={emu.organization_gid}" / "tables"
    loaded = []
    for day in (15, 16):  # two consecutive exports of the organization, a day apart
        run = lake.test(logical_date=datetime(2026, 1, day, tzinfo=timezone.utc))
        assert run.state == SUCCESS, task_states(LAKE_DAG_ID, run.run_id)
        landed = xcom(LAKE_DAG_ID, run.run_id, "land")

        tables_run = tables.test()

        assert tables_run.state == SUCCESS, task_states(TABLES_DAG_ID, tables_run.run_id)
        result = xcom(TABLES_DAG_ID, tables_run.run_id, "load_tables")
        gid = landed["export_gid"]
        assert result["export_gid"] == gid
        assert result["already_loaded"] is False
        assert datetime.fromisoformat(result["export_created_at"]) == datetime.fromisoformat(
            emu.exports[gid]["created_at"]
        )
        truth = ground_truth(emu.export_changes(gid))
        changes = {name: (t["inserted"], t["updated"], t["deleted"]) for name, t in result["tables"].items()}
        assert {name: c for name, c in changes.items() if any(c)} == {
            name: change_counts(objects) for name, objects in truth.items()
        }
        assert change_rows(tables_root, gid, list(result["tables"])) == truth
        assert {name: t["rows"] for name, t in result["tables"].items()} == records_per_table(
            uri_to_path(landed["uri"])
        )

        events = {e["extra"]["table"]: e for e in asset_events(tables_run.run_id)}
        assert set(events) == set(result["tables"])
        task = events["task"]
        assert task["uri"] == task["asset"] == f"file://{tables_root}/task"  # organization=<gid>, unescaped
        assert task["extra"] == {
            "export_gid": gid,
            "export_created_at": result["export_created_at"],
            "table": "task",
            **{k: v for k, v in result["tables"]["task"].items() if k != "seconds"},
        }
        loaded.append(result)

    later = ground_truth(emu.export_changes(loaded[1]["export_gid"]))
    assert {"update", "delete"} & {change for objects in later.values() for change in objects.values()}
    assert (tables_root / "_exports" / "_delta_log").is_dir()

    # The same export again (a re-run, as a retry would): nothing written, the recorded result.
    again = tables.test()
    assert again.state == SUCCESS
    repeated = xcom(TABLES_DAG_ID, again.run_id, "load_tables")
    assert repeated == {**loaded[1], "already_loaded": True}
