from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from airflow.sdk import Asset, AssetAlias
from airflow.sdk.execution_time.context import OutletEventAccessors

from airflow_provider_asana.tables.errors import BadLineError, ExportFileError
from airflow_provider_asana.tables.storage import table_location
from airflow_provider_asana.transfers.organization_export_to_delta_tables import (
    AsanaOrganizationExportToDeltaTablesOperator,
)

from tests.tables.helpers import rows, table, write_lines

EXPORT_GID = "1200000000009001"
CREATED_AT = "2026-03-01T06:00:00.123Z"
LINES: list[bytes | str] = [
    '{"__object_id": 1, "__type": "Team", "name": "Platform"}',
    '{"__object_id": 2, "__type": "Task", "name": "Ship it", "completed": "2026-02-27 10:00:00"}',
    '{"__object_id": 3, "__type": "Task", "name": "Write docs", "completed": null}',
    '{"__object_id": 4, "__type": "Comment", "text": "done", "target": 2}',
]
TABLE_EVENT_KEYS = {
    "export_gid", "export_created_at", "table", "rows", "inserted", "updated", "deleted", "version",
    "changes_version", "drifted_columns",
}  # fmt: skip


@pytest.fixture
def landed(tmp_path: Path) -> Path:
    return write_lines(tmp_path / "organization_export.json.gz", LINES)


def operator(source, tables_root, **kwargs) -> AsanaOrganizationExportToDeltaTablesOperator:
    kwargs.setdefault("export_gid", EXPORT_GID)
    kwargs.setdefault("export_created_at", CREATED_AT)
    return AsanaOrganizationExportToDeltaTablesOperator(
        task_id="load_tables", source=source, tables_root=tables_root, **kwargs
    )


def run(op: AsanaOrganizationExportToDeltaTablesOperator) -> tuple[dict, OutletEventAccessors]:
    context = {"outlet_events": OutletEventAccessors()}  # what the Task SDK puts in the context
    result = op.execute(context)  # type: ignore[arg-type]
    return result, context["outlet_events"]


def alias_events(events: OutletEventAccessors, alias: AssetAlias) -> dict[str, tuple[str, dict]]:
    """Table name -> (the event's asset URI, its extra)."""
    return {str(e.extra["table"]): (e.dest_asset_key.uri, e.extra) for e in events[alias].asset_alias_events}


def test_loads_the_export_and_emits_one_event_per_table_on_each_alias(landed, tmp_path):
    lake = tmp_path / "lake"
    tables, load = AssetAlias("asana_tables"), Asset("asana_lake_tables")
    op = operator(str(landed), lake.as_uri(), outlets=[tables, load])

    result, events = run(op)

    assert set(result["tables"]) == {"team", "task", "story"}
    assert result["already_loaded"] is False
    assert result["export_created_at"] == "2026-03-01T06:00:00.123000+00:00"
    assert [r["name"] for r in sorted(rows(lake, "task"), key=lambda r: r["__object_id"])] == [
        "Ship it",
        "Write docs",
    ]
    by_table = alias_events(events, tables)
    assert set(by_table) == {"team", "task", "story"}
    uri, extra = by_table["task"]
    assert uri == f"file://{lake}/task"
    assert set(extra) == TABLE_EVENT_KEYS
    assert extra == {
        "export_gid": EXPORT_GID,
        "export_created_at": result["export_created_at"],
        "table": "task",
        "rows": 2, "inserted": 2, "updated": 0, "deleted": 0,
        "version": 0, "changes_version": 0, "drifted_columns": {},
    }  # fmt: skip
    # The event's version reads the table as of this export.
    assert table(lake, "task", extra["version"]).to_pyarrow_table().num_rows == 2


def test_an_asset_outlet_gets_the_whole_load(landed, tmp_path):
    lake = tmp_path / "lake"
    load = Asset("asana_lake_tables")

    result, events = run(operator(str(landed), str(lake), outlets=[load, AssetAlias("unused_alias")]))

    extra = events[load].extra
    assert {k: extra[k] for k in ("export_gid", "export_created_at", "lines", "rejected")} == {
        "export_gid": EXPORT_GID,
        "export_created_at": result["export_created_at"],
        "lines": 4,
        "rejected": 0,
    }
    assert extra["source_sha256"] == result["source_sha256"]
    assert extra["tables_root"] == f"file://{lake}"
    assert extra["tables"]["story"]["rows"] == 1
    assert extra["tables"]["task"]["inserted"] == 2
    assert "seconds" not in extra["tables"]["task"]  # timings differ between tries; events must not


def test_a_retry_after_the_load_committed_writes_nothing_and_emits_the_same_events(landed, tmp_path):
    lake = tmp_path / "lake"
    tables, load = AssetAlias("asana_tables"), Asset("asana_lake_tables")
    first, first_events = run(operator(str(landed), str(lake), outlets=[tables, load]))
    versions = {name: table(lake, name).version() for name in ("task", "_changes/task", "_exports")}

    again, again_events = run(operator(str(landed), str(lake), outlets=[tables, load]))

    assert again["already_loaded"] is True
    assert {name: table(lake, name).version() for name in versions} == versions
    assert len(rows(lake, "_exports")) == 1
    assert alias_events(again_events, tables) == alias_events(first_events, tables)
    assert again_events[load].extra == first_events[load].extra


def test_arguments_are_templated(landed, tmp_path):
    from airflow.sdk import DAG

    lake = tmp_path / "lake"
    with DAG(dag_id="tables_templating", schedule=None):
        op = AsanaOrganizationExportToDeltaTablesOperator(
            task_id="load_tables",
            source="{{ params.landed }}",
            tables_root="{{ params.lake }}/asana",
            export_gid="{{ params.gid }}",
            export_created_at="{{ params.created_at }}",
            on_bad_line="{{ params.on_bad_line }}",
            retention_hours="{{ params.hours }}",
            temp_dir="{{ params.temp }}",
        )
    assert op.template_fields == (
        "source", "tables_root", "export_gid", "export_created_at", "on_bad_line", "retention_hours", "temp_dir",
    )  # fmt: skip
    params = {
        "landed": landed.as_uri(),
        "lake": lake.as_uri(),
        "gid": EXPORT_GID,
        "created_at": CREATED_AT,
        "on_bad_line": "quarantine",
        "hours": "0",
        "temp": str(tmp_path),
    }

    op.render_template_fields({"params": params})  # type: ignore[arg-type]
    result, _ = run(op)

    assert (op.source, op.retention_hours, op.on_bad_line) == (landed.as_uri(), "0", "quarantine")
    assert result["export_gid"] == EXPORT_GID
    assert rows(lake / "asana", "team")[0]["_export_created_at"] == datetime.datetime(
        2026, 3, 1, 6, 0, 0, 123000, tzinfo=datetime.timezone.utc
    )


def test_init_is_keyword_only_and_looks_nothing_up():
    op = AsanaOrganizationExportToDeltaTablesOperator(
        task_id="t", source="s3://no_such_conn@b/x.json.gz", tables_root="s3://no_such_conn@b/tables"
    )
    assert (op.export_gid, op.export_created_at, op.on_bad_line, op.retention_hours, op.temp_dir) == (
        None, None, "fail", 168, None,
    )  # fmt: skip
    with pytest.raises(TypeError):
        AsanaOrganizationExportToDeltaTablesOperator("t", "/x.json.gz", "/lake")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"source": ""}, "source is '': pass the landed file"),
        ({"source": None}, "source is None: pass the landed file"),
        ({"source": 42}, "source must be a path, a URI or an ObjectStoragePath; got a int"),
        ({"tables_root": "  "}, "tables_root is '  ': pass where the tables live"),
        ({"export_gid": "None"}, "export_gid must be an Asana gid.*got 'None'"),
        ({"export_gid": ""}, "export_gid must be an Asana gid.*got ''"),
        ({"export_created_at": "yesterday"}, "export_created_at='yesterday': use a datetime or ISO 8601"),
        ({"export_created_at": ""}, "export_created_at rendered empty"),
        ({"on_bad_line": "skip"}, "on_bad_line='skip': use 'fail' or 'quarantine'"),
        ({"retention_hours": "a week"}, "retention_hours must be a number of hours.*'a week'"),
        ({"retention_hours": True}, "retention_hours must be a number of hours.*True"),
        ({"retention_hours": "-1"}, "retention_hours=-1.0: use 0 or more hours"),
        ({"temp_dir": "/no/such/folder"}, "temp_dir '/no/such/folder' is not a folder on this worker"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={v[k]!r}" for k in v),
)
def test_bad_arguments_fail_naming_the_argument_before_anything_is_written(
    landed, tmp_path, arguments, error
):
    lake = tmp_path / "lake"
    kwargs = {"source": str(landed), "tables_root": str(lake), **arguments}

    with pytest.raises(ValueError, match=error):
        run(operator(**kwargs))

    assert not lake.exists() or not any(lake.rglob("*.parquet"))


def test_a_bad_line_fails_the_task_naming_the_line(tmp_path):
    landed = write_lines(tmp_path / "bad.json.gz", [LINES[0], "not json"])

    with pytest.raises(BadLineError, match="line 2"):
        run(operator(str(landed), str(tmp_path / "lake")))


def test_a_missing_source_fails_the_task_naming_it(tmp_path):
    missing = tmp_path / "date=2026-03-01" / "organization_export.json.gz"

    with pytest.raises(
        ExportFileError, match=r"source '.*date=2026-03-01/organization_export.json.gz': no such"
    ):
        run(operator(str(missing), str(tmp_path / "lake")))

    assert not (tmp_path / "lake" / "_exports").exists()


@pytest.mark.parametrize(
    ("tables_root", "expected"),
    [
        ("s3://aws_lake@lake/asana/", "s3://lake/asana/task"),
        ("s3://lake/asana", "s3://lake/asana/task"),
        ("gs://gcp@bucket/asana", "gs://bucket/asana/task"),
        ("/data/lake/asana", "file:///data/lake/asana/task"),
        ("file:///data/lake/asana", "file:///data/lake/asana/task"),
        (
            "/data/lake/asana/organization=1/my tables",
            "file:///data/lake/asana/organization=1/my%20tables/task",
        ),
    ],
)
def test_a_tables_event_names_the_table_without_the_connection(tables_root, expected):
    assert table_location(tables_root, "task") == expected
