from __future__ import annotations

import pytest
from airflow.sdk import Asset, AssetAlias

from airflow_provider_asana.transfers.resource_export_to_delta_tables import (
    AsanaResourceExportToDeltaTablesOperator,
)

from tests.tables.helpers import rows, table, write_lines
from tests.tables.resource_lines import line, message, task
from tests.transfers.test_organization_export_to_delta_tables import TABLE_EVENT_KEYS, alias_events, run


def test_upserts_and_emits_one_event_per_resource_table(tmp_path):
    landed = write_lines(tmp_path / "resources.json.gz", [line(task(1)), line(task(2)), line(message(1))])
    lake = tmp_path / "lake"
    tables, load = AssetAlias("asana_resource_tables"), Asset("asana_resource_load")
    op = AsanaResourceExportToDeltaTablesOperator(
        task_id="load_resources", source="{{ params.landed }}", tables_root="{{ params.lake }}",
        export_gid="{{ params.gid }}", export_created_at="2026-11-29T10:00:00Z", outlets=[tables, load],
    )  # fmt: skip
    assert "resource_type" in op.template_fields
    assert "source" in op.template_fields
    op.render_template_fields(
        {"params": {"landed": str(landed), "lake": lake.as_uri(), "gid": "1300000000000001"}}
    )

    result, events = run(op)

    assert set(result["tables"]) == {"task", "message"}
    assert len(rows(lake, "resources/task")) == 2
    by_table = alias_events(events, tables)
    uri, extra = by_table["task"]
    assert uri == f"file://{lake}/resources/task"
    assert set(extra) == TABLE_EVENT_KEYS | {"duplicates", "stale", "children"}
    assert (extra["inserted"], extra["version"], extra["duplicates"]) == (2, 0, 0)
    uri, extra = by_table["task_story"]
    assert uri == f"file://{lake}/resources/task_story"
    assert (extra["rows"], extra["written"], extra["version"]) == (4, 4, 0)
    assert events[load].extra["tables_root"] == f"file://{lake}/resources"
    assert table(lake, "resources/task", extra["version"]).to_pyarrow_table().num_rows == 2

    again, _ = run(op)  # a retry after the load committed writes nothing
    assert again["already_loaded"] is True


def test_a_bad_resource_type_argument_fails_naming_it(tmp_path):
    landed = write_lines(tmp_path / "resources.json.gz", [line(task(1))])
    op = AsanaResourceExportToDeltaTablesOperator(
        task_id="t", source=str(landed), tables_root=str(tmp_path / "lake"), resource_type=""
    )
    with pytest.raises(ValueError, match="resource_type=''"):
        run(op)
    assert not (tmp_path / "lake").exists()
