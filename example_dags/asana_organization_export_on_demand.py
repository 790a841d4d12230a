"""
Export one Asana organization on demand, from the UI's trigger form, to a folder of your choice.

Trigger it with **Trigger Dag** and fill in the form (or ``airflow dags trigger
asana_organization_export_on_demand --conf '{"organization_gid": "1200000000000001"}'``):

* **organization_gid**: the organization to export (digits only; ``AsanaHook().list_workspaces()``
  lists the ones the token sees).
* **destination**: the folder the file lands in. The file is
  ``<destination>/organization=<gid>/export=<export gid>/organization_export.json.gz``: one file per
  export, so runs never collide and nothing is overwritten.
* **verify_gzip**: decode the whole gzip while it streams, so a corrupt export fails the run.

``create`` starts the export and waits for it on the triggerer (deferrable), ``land`` streams it to
the destination. The run emits no asset event: the lake Dag's report only follows the lake.
Uses the ``asana_default`` connection (token in the password). Parsing this file does no I/O.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, Param

from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
from airflow_provider_asana.transfers.organization_export_to_object_storage import (
    AsanaOrganizationExportToObjectStorageOperator,
)

# [START howto_dag_asana_organization_export_on_demand]
ASANA_CONN_ID = "asana_default"
#: Seconds between the trigger's checks of the export's state.
POLL_INTERVAL = float(os.environ.get("ASANA_EXAMPLE_POKE_INTERVAL", "120"))


with DAG(
    dag_id="asana_organization_export_on_demand",
    description="Export one Asana organization to a folder, from the trigger form.",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["asana", "example"],
    doc_md=__doc__,
    params={
        "organization_gid": Param(
            type="string",
            pattern=r"^[0-9]+$",
            title="Organization gid",
            description="The Asana organization (workspace) to export: its gid, digits only, "
            "e.g. 1200000000000001. The token must be a service account of that Enterprise organization.",
        ),
        "destination": Param(
            "file:///tmp/asana-exports",
            type="string",
            minLength=1,
            title="Destination folder",
            description="Folder URI the export lands in, as ObjectStoragePath understands it: "
            "file:///path/to/folder, s3://<aws conn id>@bucket/prefix (Amazon provider), "
            "gs://<gcp conn id>@bucket/prefix, abfs://... (the matching provider must be installed).",
        ),
        "verify_gzip": Param(
            True,
            type="boolean",
            title="Verify the gzip",
            description="Decode the whole file (CRC and length of every gzip member) while it streams, so "
            "a truncated or corrupt export fails the run instead of landing.",
        ),
    },
) as export_on_demand:
    create = AsanaCreateOrganizationExportOperator(
        task_id="create",
        organization_gid="{{ params.organization_gid }}",
        asana_conn_id=ASANA_CONN_ID,
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=12),
        retries=2,
        retry_delay=timedelta(minutes=5),
    )
    land = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land",
        export_gid=create.output,
        destination=(
            "{{ params.destination.rstrip('/') }}/organization={{ params.organization_gid }}"
            "/export={{ ti.xcom_pull(task_ids='create') }}/organization_export.json.gz"
        ),
        asana_conn_id=ASANA_CONN_ID,
        verify_gzip="{{ params.verify_gzip }}",
        retries=3,
        retry_delay=timedelta(minutes=2),
    )
# [END howto_dag_asana_organization_export_on_demand]
