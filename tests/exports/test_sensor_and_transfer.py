"""The job sensor (poke and deferrable) and the job transfer into object storage, at the HTTP boundary."""

from __future__ import annotations

import hashlib
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, TaskDeferred

from airflow_provider_asana.exceptions import AsanaAPIError, AsanaExportFailedError
from airflow_provider_asana.sensors.export_job import AsanaExportJobSensor
from airflow_provider_asana.transfers.export_job_to_object_storage import (
    AsanaExportJobToObjectStorageOperator,
)
from airflow_provider_asana.triggers.export_job import AsanaExportJobTrigger

from tests.exports.conftest import (
    BODY,
    COMPLETED_AT,
    CREATED_AT,
    DOWNLOAD_URL,
    EXPORT_GID,
    JOB_GID,
    JOB_URL,
    SIGNATURE,
    asana_error,
    calls,
    job,
)

pytestmark = pytest.mark.usefixtures("restore_secrets_masker")


def _sensor(**kwargs) -> AsanaExportJobSensor:
    kwargs.setdefault("poke_interval", 5)
    return AsanaExportJobSensor(task_id="wait", job_gid=JOB_GID, **kwargs)


# -- sensor -----------------------------------------------------------------------------------------------


def test_sensor_pokes_until_the_job_succeeded(asana_conn, rsps, sleeps):
    rsps.get(JOB_URL, json=job("not_started"))
    rsps.get(JOB_URL, json=job("in_progress"))
    rsps.get(JOB_URL, json=job("succeeded"))
    assert _sensor().execute({}) == JOB_GID
    assert len(calls(rsps, "GET", JOB_URL)) == 3
    assert all("download_url" not in c.request.params["opt_fields"] for c in rsps.calls)


def test_sensor_fails_on_a_failed_job(asana_conn, rsps):
    rsps.get(JOB_URL, json=job("failed", subtype="graph_export_request"))
    with pytest.raises(
        AsanaExportFailedError, match=r"Asana graph export job 1400000000000001 ended in status"
    ):
        _sensor().execute({})


def test_sensor_fails_on_a_status_it_does_not_know(asana_conn, rsps):
    rsps.get(JOB_URL, json=job("paused"))
    with pytest.raises(AsanaAPIError, match=r"unknown status 'paused' \(known: not_started, in_progress"):
        _sensor().execute({})


def test_sensor_never_fail_skips_a_failure_to_ask(asana_conn, rsps):
    rsps.get(JOB_URL, status=404, json=asana_error("job: Not a recognized ID"))
    with pytest.raises(AirflowSkipException, match="never_fail"):
        _sensor(never_fail=True).execute({})


def test_deferrable_sensor_checks_once_then_defers_with_ids_only(asana_conn, rsps):
    rsps.get(JOB_URL, json=job("in_progress"))
    with pytest.raises(TaskDeferred) as deferred:
        _sensor(deferrable=True, timeout=600).execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, AsanaExportJobTrigger)
    assert trigger.serialize()[1]["job_gid"] == JOB_GID
    assert len(rsps.calls) == 1

    event = {"status": "timeout", "job_gid": JOB_GID, "message": "still 'in_progress'.", "status_code": None}
    with pytest.raises(AirflowSensorTimeout):
        _sensor(deferrable=True).resume_execution("execute_complete", {"event": event}, {})
    success = {**event, "status": "success", "message": "succeeded."}
    assert _sensor(deferrable=True).resume_execution("execute_complete", {"event": success}, {}) == JOB_GID


def test_start_from_trigger_takes_the_job_gid_literally():
    sensor = _sensor(deferrable=True, start_from_trigger=True, timeout=60)
    assert sensor.start_trigger_args.trigger_kwargs["job_gid"] == JOB_GID
    assert sensor.start_trigger_args.trigger_cls.endswith("AsanaExportJobTrigger")
    with pytest.raises(ValueError, match=r"job_gid must be a job gid \(digits only\)"):
        AsanaExportJobSensor(task_id="w", job_gid="abc", deferrable=True, start_from_trigger=True)


# -- transfer ---------------------------------------------------------------------------------------------


def _context(asset: Asset) -> dict:
    return {"outlet_events": {asset: SimpleNamespace(extra=None)}}


def test_transfer_lands_the_file_and_announces_what_it_is(asana_conn, rsps, tmp_path):
    rsps.get(JOB_URL, json=job("succeeded"))
    rsps.get(DOWNLOAD_URL, body=BODY, headers={"Content-Length": str(len(BODY))})
    asset = Asset("asana_tasks")
    target = tmp_path / "tasks.jsonl.gz"
    parameters = [{"resource_type": "task", "filters": {"modified_at.after": "2026-11-29 08:00:00+00:00"}}]
    operator = AsanaExportJobToObjectStorageOperator(
        task_id="land",
        job_gid=JOB_GID,
        destination=str(target),
        export_request_parameters=parameters,
        overwrite="false",
        outlets=[asset],
    )
    context = _context(asset)

    result = operator.execute(context)

    assert target.read_bytes() == BODY
    assert result == {
        "uri": result["uri"],
        "bytes": len(BODY),
        "sha256": hashlib.sha256(BODY).hexdigest(),
        "job_gid": JOB_GID,
        "export_gid": EXPORT_GID,
        "kind": "resource_export",
        "created_at": CREATED_AT,
        "completed_at": COMPLETED_AT,
        "resource_types": ["task"],
        "export_request_parameters": [
            {"resource_type": "task", "filters": {"modified_at.after": "2026-11-29T08:00:00Z"}}
        ],
    }
    assert context["outlet_events"][asset].extra == result
    assert SIGNATURE not in repr(result)


def test_transfer_refuses_bad_switches_before_any_request(asana_conn, rsps, tmp_path):
    operator = AsanaExportJobToObjectStorageOperator(
        task_id="land", job_gid=JOB_GID, destination=str(tmp_path / "t.jsonl.gz"), verify_gzip="yes"
    )
    with pytest.raises(ValueError, match="verify_gzip must be True or False"):
        operator.execute({})
    assert len(rsps.calls) == 0
