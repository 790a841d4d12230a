"""The example Dags, run end to end with ``dag.test()`` (triggers run inline) against the emulator."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.conftest import set_asana_connection
from tests.system.conftest import (
    LAKE_DAG_ID,
    ON_DEMAND_DAG_ID,
    REPORT_DAG_ID,
    asset_events,
    count_types,
    deferred_export_gids,
    sha256_of,
    task_states,
    uri_to_path,
    xcom,
)

pytestmark = pytest.mark.usefixtures("airflow_db")

SUCCESS = "success"


def _rendered(dag_id: str, run_id: str, task_id: str) -> dict:
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as RTIF
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rendered = session.scalar(
            select(RTIF.rendered_fields).where(
                RTIF.dag_id == dag_id, RTIF.run_id == run_id, RTIF.task_id == task_id
            )
        )
    assert rendered is not None, f"no rendered fields for {dag_id} {run_id} {task_id}"
    return rendered


def test_lake_dag_lands_the_export_and_the_report_counts_it(
    example_dags, asana_emulator, emulator_conn, lake_root, monkeypatch
):
    emu = asana_emulator
    lake, report = example_dags[LAKE_DAG_ID], example_dags[REPORT_DAG_ID]

    # 1. The organization comes from the connection's workspace extra (no Variable set).
    started = datetime.now(timezone.utc)
    run = lake.test(logical_date=datetime(2026, 1, 15, tzinfo=timezone.utc))

    assert run.state == SUCCESS, task_states(LAKE_DAG_ID, run.run_id)
    gid = xcom(LAKE_DAG_ID, run.run_id, "create")
    assert gid in emu.exports
    assert emu.exports[gid]["state"] == "finished"
    landed = xcom(LAKE_DAG_ID, run.run_id, "land")
    partition = lake_root / "asana" / f"organization={emu.organization_gid}" / "date=2026-01-15"
    expected = partition / "organization_export.json.gz"
    assert uri_to_path(landed["uri"]) == expected
    assert landed["export_gid"] == gid
    assert sha256_of(expected) == emu.export_sha256(gid) == landed["sha256"]
    assert expected.stat().st_size == landed["bytes"] == emu.exports[gid]["size"]
    assert _rendered(LAKE_DAG_ID, run.run_id, "create")["organization_gid"] == emu.organization_gid
    # create deferred at once, without a check on the worker: the state checks were the trigger's two
    # (pending, then finished: the emulator's polls_to_finish); land then asked what the export is (its
    # created_at and organization, once) and for the download URL.
    gets = [r.query["opt_fields"][0] for r in emu.requests if r.method == "GET" and r.path.endswith(gid)]
    checks = [
        fields for fields in gets if "download_url" not in fields and fields != "created_at,organization"
    ]
    assert len(checks) == 2
    assert gets.count("created_at,organization") == 1
    assert deferred_export_gids(since=started) == {gid}
    # One export started; the download carried no Asana token.
    assert sum(r.method == "POST" for r in emu.requests) == 1
    downloads = [r for r in emu.requests if r.host == "download"]
    assert downloads
    assert not any(r.authorization for r in downloads)

    events = asset_events(run.run_id)
    assert events == [
        {
            "asset": "asana_organization_export",
            "uri": "x-asana://organization-export",
            "extra": {
                "export_gid": gid,
                "bytes": landed["bytes"],
                "sha256": landed["sha256"],
                "uri": landed["uri"],
                "created_at": emu.exports[gid]["created_at"],
                "organization_gid": emu.organization_gid,
            },
        }
    ]

    # 2. The report Dag, run by hand, reads the newest asset event and counts what landed.
    report_run = report.test()

    assert report_run.state == SUCCESS, task_states(REPORT_DAG_ID, report_run.run_id)
    counted = xcom(REPORT_DAG_ID, report_run.run_id, "count_records")
    recomputed = count_types(expected)
    assert counted == {"uri": landed["uri"], "records": sum(recomputed.values()), "by_type": recomputed}
    assert counted["records"] > 0
    assert "Task" in counted["by_type"]

    # 3. Re-running the same date replaces the partition (overwrite=True); this time the Variable names the
    #    organization, overriding a connection whose workspace extra would fail (a non-Enterprise org).
    set_asana_connection(
        monkeypatch,
        host=emu.api_url,
        password=emu.token,
        extra={"workspace": emu.non_enterprise_organization_gid, "retry_backoff": 0.01},
    )
    monkeypatch.setenv("AIRFLOW_VAR_ASANA_ORGANIZATION_GID", emu.organization_gid)
    emu.clear_requests()

    rerun = lake.test(logical_date=datetime(2026, 1, 15, 12, tzinfo=timezone.utc))

    assert rerun.state == SUCCESS, task_states(LAKE_DAG_ID, rerun.run_id)
    second_gid = xcom(LAKE_DAG_ID, rerun.run_id, "create")
    assert second_gid != gid
    relanded = xcom(LAKE_DAG_ID, rerun.run_id, "land")
    assert relanded["uri"] == landed["uri"]
    assert sha256_of(expected) == emu.export_sha256(second_gid) == relanded["sha256"]
    assert _rendered(LAKE_DAG_ID, rerun.run_id, "create")["organization_gid"] == emu.organization_gid
    assert asset_events(rerun.run_id)[0]["extra"]["export_gid"] == second_gid

    report_rerun = report.test()
    assert report_rerun.state == SUCCESS
    assert xcom(REPORT_DAG_ID, report_rerun.run_id, "count_records")["uri"] == relanded["uri"]


def test_on_demand_dag_lands_one_file_per_export(example_dags, asana_emulator, emulator_conn, tmp_path):
    emu = asana_emulator
    dag = example_dags[ON_DEMAND_DAG_ID]
    folder = tmp_path / "exports"

    run = dag.test(
        run_conf={
            "organization_gid": emu.organization_gid,
            "destination": folder.as_uri() + "/",
            "verify_gzip": True,
        }
    )

    assert run.state == SUCCESS, task_states(ON_DEMAND_DAG_ID, run.run_id)
    gid = xcom(ON_DEMAND_DAG_ID, run.run_id, "create")
    landed = xcom(ON_DEMAND_DAG_ID, run.run_id, "land")
    expected = (
        folder / f"organization={emu.organization_gid}" / f"export={gid}" / "organization_export.json.gz"
    )
    assert uri_to_path(landed["uri"]) == expected
    assert sha256_of(expected) == emu.export_sha256(gid) == landed["sha256"]
    assert asset_events(run.run_id) == []  # on-demand exports do not feed the lake's report
    requested = [r.path for r in emu.requests if r.method == "POST"]
    assert requested == ["/api/1.0/organization_exports"]


def test_on_demand_verify_gzip_param_reaches_the_transfer(
    example_dags, asana_emulator, emulator_conn, tmp_path
):
    """The emulator serves a truncated gzip: verify_gzip=True fails the run, False lands the bytes as served."""
    emu = asana_emulator
    emu.set_faults(truncate_gzip=True)
    dag = example_dags[ON_DEMAND_DAG_ID]
    dag.get_task("land").retries = 0  # fail fast instead of waiting out the retry delay

    checked = dag.test(
        run_conf={"organization_gid": emu.organization_gid, "destination": (tmp_path / "checked").as_uri()}
    )  # verify_gzip defaults to True

    assert checked.state == "failed"
    assert task_states(ON_DEMAND_DAG_ID, checked.run_id) == {"create": SUCCESS, "land": "failed"}
    assert not any(p.is_file() for p in (tmp_path / "checked").rglob("*"))

    unchecked = dag.test(
        run_conf={
            "organization_gid": emu.organization_gid,
            "destination": (tmp_path / "unchecked").as_uri(),
            "verify_gzip": False,
        }
    )

    assert unchecked.state == SUCCESS, task_states(ON_DEMAND_DAG_ID, unchecked.run_id)
    gid = xcom(ON_DEMAND_DAG_ID, unchecked.run_id, "create")
    landed = uri_to_path(xcom(ON_DEMAND_DAG_ID, unchecked.run_id, "land")["uri"])
    assert sha256_of(landed) == emu.export_sha256(gid)  # the truncated file, exactly as served


@pytest.mark.parametrize(
    "conf",
    [
        {"organization_gid": "acme"},
        {"organization_gid": "12 34"},
        {"organization_gid": "1200000000000001", "destination": ""},
        {"organization_gid": "1200000000000001", "verify_gzip": "yes"},
        {},
    ],
    ids=["letters", "space", "empty-destination", "non-boolean-verify", "missing-organization"],
)
def test_on_demand_params_refuse_bad_input_before_any_call(example_dags, asana_emulator, emulator_conn, conf):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        example_dags[ON_DEMAND_DAG_ID].test(run_conf=conf)

    assert asana_emulator.requests == []
