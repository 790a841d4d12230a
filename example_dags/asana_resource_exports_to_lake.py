"""
Load what changed in Asana every hour (resource exports), and export one project on demand (graph export).

Two Dags live in this file, beside the daily organization export of ``asana_organization_export_to_lake.py``:

``asana_resource_exports_hourly`` (every hour)
    ``create`` asks Asana for a resource export of the tasks and messages whose ``modified_at`` lies in the
    run's data interval, widened by ``OVERLAP`` at the start, and waits for it on the triggerer (one
    deferrable task); ``land`` streams the gzip to
    ``<lake root>/asana/organization=<gid>/resources/hour=<data interval start>/resource_export.jsonl.gz``;
    ``load_tables`` upserts it by ``gid`` into ``<lake root>/asana/organization=<gid>/tables/resources/``
    (``task``, ``task_story``, ``task_attachment``, ``message``, ... and their change tables), the tables root
    the daily organization export is loaded into. An object exported twice (the overlap, a re-run) is
    written once: the same record again writes no row and no change row. A resource export holds only
    undeleted objects: deletions come from the daily organization export.

``asana_graph_export_on_demand`` (no schedule)
    Triggered from the UI's form with a project gid: ``create`` starts a graph export of that project (the
    project, its sections, its tasks and subtasks) and waits for it, ``land`` streams it to
    ``<destination>/project=<gid>/job=<job gid>/graph_export.jsonl.gz``.

Asana runs one resource or graph export per workspace at a time (a second create is refused with 403), so
the ``create`` tasks of both Dags run in one pool with **one slot that counts deferred tasks**: create it
before the Dags run (a task in a missing pool is never scheduled), one pool per workspace:

    airflow pools set asana_exports 1 "One Asana export at a time in the workspace" --include-deferred

Configuration, all read at run time through templates (parsing this file does no I/O and looks up no
connection or Variable):

* connection ``asana_default``: the token in the password; extra ``workspace`` is the organization gid.
* Variable ``asana_organization_gid`` (optional): overrides the connection's ``workspace``.
* Variable ``asana_lake_root`` (optional): where the lake lives; default ``file:///tmp/asana-lake``.
* environment ``ASANA_EXAMPLE_POKE_INTERVAL``: seconds between job status checks (default 120);
  ``ASANA_EXAMPLE_EXPORTS_POOL``: the pool's name (default ``asana_exports``).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, AssetAlias, CronDataIntervalTimetable, Param

from airflow_provider_asana.operators.graph_export import AsanaCreateGraphExportOperator
from airflow_provider_asana.operators.resource_export import AsanaCreateResourceExportOperator
from airflow_provider_asana.transfers.export_job_to_object_storage import (
    AsanaExportJobToObjectStorageOperator,
)
from airflow_provider_asana.transfers.resource_export_to_delta_tables import (
    AsanaResourceExportToDeltaTablesOperator,
)

# [START howto_dag_asana_resource_exports_hourly]
ASANA_CONN_ID = "asana_default"
#: Seconds between the trigger's checks of the job's status.
POLL_INTERVAL = float(os.environ.get("ASANA_EXAMPLE_POKE_INTERVAL", "120"))
#: One slot, counting deferred tasks: one export at a time in the workspace (see the module docstring).
EXPORTS_POOL = os.environ.get("ASANA_EXAMPLE_EXPORTS_POOL", "asana_exports")
#: How far before its data interval a run's window starts. Asana's filters are exclusive and its exports
#: are eventually consistent: an object modified just before the hour ended may be missing from that
#: hour's export and is then caught by the next one. Objects in both are de-duplicated by the upsert.
OVERLAP = timedelta(minutes=10)

#: The organization (workspace): Variable ``asana_organization_gid``, else the connection's ``workspace``
#: extra, as in ``asana_organization_export_to_lake.py``; rendered when a task runs.
ORGANIZATION_GID = (
    "{% set gid = var.value.get('asana_organization_gid', '') %}"
    "{% if not gid %}"
    f"{{% set extra = conn.get('{ASANA_CONN_ID}').extra_dejson %}}"
    "{% set gid = extra.get('workspace') or extra.get('extra__asana__workspace') or '' %}"
    "{% endif %}{{ gid }}"
)
LAKE_ROOT = "{{ var.value.get('asana_lake_root', 'file:///tmp/asana-lake').rstrip('/') }}"

#: The run's window: ``(data_interval_start - OVERLAP, data_interval_end)``, ISO 8601 with a time zone.
WINDOW = {
    "modified_at.after": (
        f"{{{{ (data_interval_start - macros.timedelta(seconds={OVERLAP.total_seconds():g})).isoformat() }}}}"
    ),
    "modified_at.before": "{{ data_interval_end.isoformat() }}",
}
#: Tasks (with their stories and attachments) and messages changed in the window; each type's default fields.
CHANGES = [
    {"resource_type": "task", "filters": WINDOW},
    {"resource_type": "message", "filters": WINDOW},
]
#: One event per table each load writes, on ``Asset(uri=<the table's location>)``.
ASANA_RESOURCE_TABLES = AssetAlias(name="asana_resource_tables")

with DAG(
    dag_id="asana_resource_exports_hourly",
    description="Every hour, upsert the Asana tasks and messages modified in the hour into lake tables.",
    # On the hour, each run with a one-hour data interval, the window of its export (a plain "@hourly" is a
    # trigger timetable in Airflow 3: its runs' data interval is empty).
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    # Without catchup only the latest hour runs, so any past date will do; a manual run may ask for any hour
    # after it (the tests' emulated organizations live in 2019-2020). Set it to when the load should begin
    # before turning catchup on.
    start_date=datetime(2000, 1, 1),
    # Safe with catchup or a backfill (the window is a function of the data interval only, and Asana
    # exports each object as it is now, in the window of its latest modified_at), but not needed: the daily
    # organization export loads the full state.
    catchup=False,
    # Runs one at a time, in order: the loads of one tables root must not overlap, and a late run never
    # holds the pool while an earlier one waits.
    max_active_runs=1,
    tags=["asana", "example"],
    doc_md=__doc__,
) as resource_exports_hourly:
    create = AsanaCreateResourceExportOperator(
        task_id="create",
        export_request_parameters=CHANGES,
        workspace_gid=ORGANIZATION_GID,
        asana_conn_id=ASANA_CONN_ID,
        # Wait in this task, on the triggerer: the pool's slot (include-deferred) is held until the export
        # has ended, so no second export of the workspace starts meanwhile.
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(minutes=50),
        pool=EXPORTS_POOL,
        # A retry re-attaches to the job an earlier try started, or starts anew after a failed job.
        retries=2,
        retry_delay=timedelta(minutes=2),
    )
    # overwrite=True: the key is a function of the data interval, so a re-run replaces that hour's file
    # atomically; the tables keep every export loaded (by export gid), and an unchanged object is not
    # written again.
    land = AsanaExportJobToObjectStorageOperator(
        task_id="land",
        job_gid=create.output,
        destination=(
            f"{LAKE_ROOT}/asana/organization={ORGANIZATION_GID}/resources"
            "/hour={{ data_interval_start | ts_nodash }}/resource_export.jsonl.gz"
        ),
        asana_conn_id=ASANA_CONN_ID,
        export_request_parameters=CHANGES,
        overwrite=True,
        multiple_outputs=True,  # one XCom per key of the result too: uri, export_gid, created_at, ...
        retries=3,
        retry_delay=timedelta(minutes=2),
    )
    load_tables = AsanaResourceExportToDeltaTablesOperator(
        task_id="load_tables",
        source=land.output["uri"],
        # The organization export's tables root: these tables go under resources/.
        tables_root=f"{LAKE_ROOT}/asana/organization={ORGANIZATION_GID}/tables",
        export_gid=land.output["export_gid"],
        export_created_at=land.output["created_at"],
        outlets=[ASANA_RESOURCE_TABLES],
        retries=2,
        retry_delay=timedelta(minutes=2),
    )
# [END howto_dag_asana_resource_exports_hourly]


# [START howto_dag_asana_graph_export_on_demand]
with DAG(
    dag_id="asana_graph_export_on_demand",
    description="Export one Asana project (graph export) to a folder, from the trigger form.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["asana", "example"],
    doc_md=__doc__,
    params={
        "project_gid": Param(
            type="string",
            pattern=r"^[0-9]+$",
            title="Project gid",
            description="The Asana project to export with its sections, tasks and subtasks: its gid, digits "
            "only (the number in the project's URL). The token must see it.",
        ),
        "destination": Param(
            "file:///tmp/asana-exports",
            type="string",
            minLength=1,
            title="Destination folder",
            description="Folder URI the export lands in, as ObjectStoragePath understands it: "
            "file:///path/to/folder, s3://<aws conn id>@bucket/prefix (Amazon provider), ...",
        ),
    },
) as graph_export_on_demand:
    create_graph = AsanaCreateGraphExportOperator(
        task_id="create",
        parent_gid="{{ params.project_gid }}",
        asana_conn_id=ASANA_CONN_ID,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=2),
        pool=EXPORTS_POOL,  # the workspace's one export at a time, shared with the hourly Dag
        retries=2,
        retry_delay=timedelta(minutes=2),
    )
    AsanaExportJobToObjectStorageOperator(
        task_id="land",
        job_gid=create_graph.output,
        destination=(
            "{{ params.destination.rstrip('/') }}/project={{ params.project_gid }}"
            "/job={{ ti.xcom_pull(task_ids='create') }}/graph_export.jsonl.gz"
        ),
        asana_conn_id=ASANA_CONN_ID,
        retries=3,
        retry_delay=timedelta(minutes=2),
    )
# [END howto_dag_asana_graph_export_on_demand]
