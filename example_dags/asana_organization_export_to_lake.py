"""
Land a daily Asana organization export in a lake; asset-triggered Dags report on it and load it into tables.

Three Dags live in this file:

``asana_organization_export_to_lake`` (``@daily``)
    ``create`` starts an organization export and waits for it on the triggerer (deferrable: no worker
    slot is held for the minutes to hours an export takes), ``land`` streams the gzip into object
    storage under a ``date=`` partition and emits an event on the ``asana_organization_export`` asset
    whose extra carries the transfer's result: ``{"uri", "bytes", "sha256", "export_gid", "created_at",
    "organization_gid"}``.

``asana_organization_export_report`` (scheduled on that asset)
    Finds the landed file from the newest asset event, streams it through gzip and counts the records
    per ``__type``.

``asana_organization_export_to_tables`` (scheduled on that asset)
    Loads the landed file into Delta Lake tables under ``<lake root>/asana/organization=<gid>/tables``, one
    per record kind, with the objects inserted, updated and deleted since the previous export, and emits
    one event per table through the ``asana_organization_tables`` asset alias.

Configuration, all read at run time through templates (parsing this file does no I/O and looks up no
connection or Variable):

* connection ``asana_default``: the token in the password; extra ``workspace`` is the organization gid.
* Variable ``asana_organization_gid`` (optional): overrides the connection's ``workspace``.
* Variable ``asana_lake_root`` (optional): where the lake lives, any URI ``ObjectStoragePath``
  understands, e.g. ``s3://aws_default@my-bucket/raw``; default ``file:///tmp/asana-lake``.
* environment ``ASANA_EXAMPLE_POKE_INTERVAL``: seconds between export state checks (default 120;
  Asana suggests polling every few minutes).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, Asset, AssetAlias, task

from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
from airflow_provider_asana.transfers.organization_export_to_delta_tables import (
    AsanaOrganizationExportToDeltaTablesOperator,
)
from airflow_provider_asana.transfers.organization_export_to_object_storage import (
    AsanaOrganizationExportToObjectStorageOperator,
)

# [START howto_dag_asana_organization_export_to_lake]
#: The landed export: produced by ``land`` below, consumed by the report Dag below (both in this file, so
#: no shared module is imported at parse time). Other Dags refer to it as ``Asset.ref(name=...)`` or by an
#: identical definition. The ``x-`` prefix is Airflow's convention for a custom scheme: the URI is taken
#: verbatim, where an unknown plain scheme makes Airflow load every provider to look for a normalizer.
ASANA_EXPORT_ASSET = Asset(name="asana_organization_export", uri="x-asana://organization-export")

ASANA_CONN_ID = "asana_default"
#: Seconds between the trigger's checks of the export's state.
POLL_INTERVAL = float(os.environ.get("ASANA_EXAMPLE_POKE_INTERVAL", "120"))

#: The organization: Variable ``asana_organization_gid``, else the connection's ``workspace`` extra (or its
#: older ``extra__asana__workspace`` spelling). Rendered at run time, in each task that uses it; the
#: connection is only read when the Variable is unset. If both are missing it renders empty and the
#: create task fails, saying what to set.
ORGANIZATION_GID = (
    "{% set gid = var.value.get('asana_organization_gid', '') %}"
    "{% if not gid %}"
    f"{{% set extra = conn.get('{ASANA_CONN_ID}').extra_dejson %}}"
    "{% set gid = extra.get('workspace') or extra.get('extra__asana__workspace') or '' %}"
    "{% endif %}{{ gid }}"
)
LAKE_ROOT = "{{ var.value.get('asana_lake_root', 'file:///tmp/asana-lake').rstrip('/') }}"

with DAG(
    dag_id="asana_organization_export_to_lake",
    description="Export the Asana organization daily and land the gzip in the lake.",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["asana", "example"],
    doc_md=__doc__,
) as export_to_lake:
    # [START howto_operator_asana_create_organization_export]
    create = AsanaCreateOrganizationExportOperator(
        task_id="create",
        organization_gid=ORGANIZATION_GID,
        asana_conn_id=ASANA_CONN_ID,
        # Start the export and wait in this task until it is finished, on the triggerer: no worker slot is
        # held while Asana works. Returns the export gid.
        wait_for_completion=True,
        deferrable=True,
        poll_interval=POLL_INTERVAL,
        timeout=timedelta(hours=12),
        # A retry re-attaches to the export an earlier try started while it runs, or replaces one that
        # ended in error. A try whose create request got no clear answer fails without retries: clear the
        # task to start anew.
        retries=2,
        retry_delay=timedelta(minutes=5),
    )
    # [END howto_operator_asana_create_organization_export]
    # [START howto_transfer_asana_organization_export_to_object_storage]
    # overwrite=True: the object key is a function of the logical date only, so re-running a date (a clear,
    # a retry after the file landed, a backfill) replaces that date's partition atomically instead of
    # failing because the file exists. Note Asana only exports "now": re-running an old date stores
    # today's snapshot under that date.
    land = AsanaOrganizationExportToObjectStorageOperator(
        task_id="land",
        export_gid=create.output,
        destination=(
            f"{LAKE_ROOT}/asana/organization={ORGANIZATION_GID}/date={{{{ ds }}}}/organization_export.json.gz"
        ),
        asana_conn_id=ASANA_CONN_ID,
        overwrite=True,
        outlets=[ASANA_EXPORT_ASSET],
        # Each try asks Asana for a fresh download URL and resumes nothing stale.
        retries=3,
        retry_delay=timedelta(minutes=2),
    )
    # [END howto_transfer_asana_organization_export_to_object_storage]
# [END howto_dag_asana_organization_export_to_lake]


# [START howto_dag_asana_organization_export_report]
def landed_export(context: Any) -> dict[str, Any]:
    """
    Return the extra of the landing event a run is about: ``{"uri", "export_gid", "created_at", ...}``.

    Scheduled on the asset: the newest of the events that triggered the run. Run by hand (or ``airflow dags
    test``): the asset's newest event, fetched alone (the task needs ``inlets=[ASANA_EXPORT_ASSET]``).
    """
    triggering = context.get("triggering_asset_events") or {}
    events = list(triggering[ASANA_EXPORT_ASSET]) if ASANA_EXPORT_ASSET in triggering else []
    if events:
        event = max(events, key=lambda e: e.timestamp)
    else:
        newest = list(context["inlet_events"][ASANA_EXPORT_ASSET].ascending(False).limit(1))
        if not newest:
            raise RuntimeError(
                f"No event on asset {ASANA_EXPORT_ASSET.name!r} yet: run asana_organization_export_to_lake first."
            )
        event = newest[0]
    extra = dict(event.extra or {})
    if not extra.get("uri"):
        raise RuntimeError(
            f"The newest {ASANA_EXPORT_ASSET.name!r} event has no 'uri' in its extra: {extra!r}"
        )
    return extra


with DAG(
    dag_id="asana_organization_export_report",
    description="Count the records of the newest landed Asana organization export, per __type.",
    schedule=[ASANA_EXPORT_ASSET],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["asana", "example"],
    doc_md="""
Runs whenever `asana_organization_export_to_lake` lands an export (an event on the
`asana_organization_export` asset). Reads the file named by the newest event's `extra["uri"]`,
streaming it through gzip (the file may be many GB: it is never held in memory), and counts
records per `__type`. Triggered by hand (or `airflow dags test`) it reports on the newest event.
""",
) as export_report:

    @task(inlets=[ASANA_EXPORT_ASSET])
    def count_records(**context) -> dict:
        """Count the landed export's records per ``__type``; return ``{"uri", "records", "by_type"}``."""
        import gzip
        import json
        import logging
        from collections import Counter

        from airflow.sdk import ObjectStoragePath

        uri = landed_export(context)["uri"]
        by_type: Counter[str] = Counter()
        with ObjectStoragePath(uri).open("rb") as raw, gzip.open(raw, "rb") as unzipped:
            for number, line in enumerate(unzipped, start=1):
                if not line.strip():
                    continue
                try:
                    by_type[json.loads(line).get("__type", "<none>")] += 1
                except (ValueError, AttributeError) as e:
                    raise ValueError(f"{uri}: line {number} is not a JSON object: {e}") from None
        records = sum(by_type.values())
        log = logging.getLogger(__name__)
        log.info("%s holds %d records.", uri, records)
        for kind, count in by_type.most_common():
            log.info("  %s: %d", kind, count)
        return {"uri": uri, "records": records, "by_type": dict(sorted(by_type.items()))}

    count_records()
# [END howto_dag_asana_organization_export_report]


# [START howto_dag_asana_organization_export_to_tables]
#: One event per table each load writes, on ``Asset(uri=<the table's location>)`` (e.g.
#: ``s3://my-bucket/raw/asana/organization=<gid>/tables/task``): schedule a Dag on this alias to run after
#: every load, or on one table's asset.
ASANA_TABLES = AssetAlias(name="asana_organization_tables")

with DAG(
    dag_id="asana_organization_export_to_tables",
    description="Load each landed Asana organization export into Delta Lake tables, with its changes.",
    schedule=[ASANA_EXPORT_ASSET],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    # One load at a time on a tables root: changes are computed against the export loaded before.
    max_active_runs=1,
    tags=["asana", "example"],
    doc_md="""
Runs whenever `asana_organization_export_to_lake` lands an export (an event on the
`asana_organization_export` asset) and loads it into Delta Lake tables under
`<lake root>/asana/organization=<gid>/tables`: one table per record kind, the objects inserted, updated
and deleted since the previous export in `_changes/<table>`, one `_exports` row per export. Each table gets
an event through the `asana_organization_tables` asset alias, its counts in the extra. Triggered by hand
(or `airflow dags test`) it loads the newest landed export; a retry, or the same export again, writes
nothing.
""",
) as export_to_tables:

    @task(inlets=[ASANA_EXPORT_ASSET], multiple_outputs=True)
    def landed(**context) -> dict:
        """The landing event's extra, one XCom per key: ``uri``, ``export_gid``, ``created_at``, ..."""
        extra = landed_export(context)
        missing = [key for key in ("export_gid", "created_at", "organization_gid") if not extra.get(key)]
        if missing:
            raise RuntimeError(
                f"The newest {ASANA_EXPORT_ASSET.name!r} event has no {', '.join(missing)} in its extra "
                "(landed by an older provider?): run asana_organization_export_to_lake again."
            )
        return extra

    export = landed()
    # [START howto_transfer_asana_organization_export_to_delta_tables]
    load_tables = AsanaOrganizationExportToDeltaTablesOperator(
        task_id="load_tables",
        source=export["uri"],
        tables_root=(
            f"{LAKE_ROOT}/asana/organization="
            "{{ ti.xcom_pull(task_ids='landed', key='organization_gid') }}/tables"
        ),
        export_gid=export["export_gid"],
        export_created_at=export["created_at"],
        outlets=[ASANA_TABLES],
        retries=2,
        retry_delay=timedelta(minutes=5),
    )
    # [END howto_transfer_asana_organization_export_to_delta_tables]
# [END howto_dag_asana_organization_export_to_tables]
