"""
Export several Asana organizations a day, one mapped task group per organization, into the lake.

``plan`` reads the organizations from the Variable ``asana_organizations``; ``export_organization`` is
mapped over them (dynamic task mapping): in each, ``create`` starts that organization's export and waits
for it on the triggerer, ``land`` streams it to
``<lake root>/asana/organization=<gid>/date=<ds>/organization_export.json.gz``. The organizations run
independently: one whose export fails does not stop the others. ``report`` runs once all are done and
says which landed and which failed; if any failed, it fails, so the run is marked failed and alerts fire.

Configuration, all read at run time (parsing this file does no I/O and looks up no connection or Variable):

* Variable ``asana_organizations``: a JSON list, one entry per organization, either its gid or
  ``{"organization_gid": "<gid>", "asana_conn_id": "<connection id>"}``. Organizations without an
  ``asana_conn_id`` use ``asana_default``: one service-account token may serve several organizations,
  or each may have its own connection.
* Variable ``asana_lake_root`` (optional): where the lake lives; default ``file:///tmp/asana-lake``.
* Pool ``asana`` (create it first: ``airflow pools set asana 15 "Asana API"``): the tasks that call
  Asana from a worker share its slots; see the docs for the numbers.
* environment ``ASANA_EXAMPLE_POKE_INTERVAL``: seconds between export state checks (default 120).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, TriggerRule, task, task_group

from airflow_provider_asana.operators.organization_export import AsanaCreateOrganizationExportOperator
from airflow_provider_asana.transfers.organization_export_to_object_storage import (
    AsanaOrganizationExportToObjectStorageOperator,
)

# [START howto_dag_asana_organization_exports_fan_out]
#: Seconds between the trigger's checks of each export's state.
POLL_INTERVAL = float(os.environ.get("ASANA_EXAMPLE_POKE_INTERVAL", "120"))
#: The pool of the tasks that call Asana from a worker: 15 slots, Asana's concurrent write requests per token.
ASANA_POOL = "asana"
ORGANIZATIONS_VARIABLE = "asana_organizations"
DEFAULT_CONN_ID = "asana_default"

with DAG(
    dag_id="asana_organization_exports_fan_out",
    description="Export several Asana organizations daily, each independently, into the lake.",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,  # never two exports of one organization at once
    tags=["asana", "example"],
    doc_md=__doc__,
) as exports_fan_out:

    @task
    def plan(**context: Any) -> list[dict[str, str]]:
        """One ``{organization_gid, asana_conn_id, destination}`` per organization of the Variable."""
        from airflow.sdk import Variable

        entries = Variable.get(ORGANIZATIONS_VARIABLE, default=None, deserialize_json=True)
        expected = (
            f"Set the Variable {ORGANIZATIONS_VARIABLE} to a JSON list of organization gids or of "
            '{"organization_gid": "<gid>", "asana_conn_id": "<connection id>"} objects.'
        )
        if not isinstance(entries, list) or not entries:
            raise ValueError(f"{ORGANIZATIONS_VARIABLE} is {entries!r}, not a non-empty list. {expected}")
        lake_root = Variable.get("asana_lake_root", default="file:///tmp/asana-lake").rstrip("/")
        planned: list[dict[str, str]] = []
        for number, entry in enumerate(entries):
            item = entry if isinstance(entry, dict) else {"organization_gid": entry}
            gid, conn_id = item.get("organization_gid"), item.get("asana_conn_id", DEFAULT_CONN_ID)
            where = f"{ORGANIZATIONS_VARIABLE}[{number}]"
            if not isinstance(gid, str) or not gid.isdigit():
                raise ValueError(
                    f"{where}: organization_gid must be a gid (digits only), got {gid!r}. {expected}"
                )
            if not isinstance(conn_id, str) or not conn_id:
                raise ValueError(
                    f"{where}: asana_conn_id must be a connection id, got {conn_id!r}. {expected}"
                )
            if any(p["organization_gid"] == gid for p in planned):
                raise ValueError(f"{where}: organization {gid} is listed twice; list each organization once.")
            destination = (
                f"{lake_root}/asana/organization={gid}/date={context['ds']}/organization_export.json.gz"
            )
            planned.append({"organization_gid": gid, "asana_conn_id": conn_id, "destination": destination})
        return planned

    @task_group
    def export_organization(organization_gid: str, asana_conn_id: str, destination: str) -> None:
        """Export one organization and land it; its tasks depend only on this organization's."""
        create = AsanaCreateOrganizationExportOperator(
            task_id="create",
            organization_gid=organization_gid,
            asana_conn_id=asana_conn_id,
            wait_for_completion=True,
            deferrable=True,
            poll_interval=POLL_INTERVAL,
            timeout=timedelta(hours=12),
            pool=ASANA_POOL,
            map_index_template="{{ task.organization_gid }}",
            retries=2,
            retry_delay=timedelta(minutes=5),
        )
        AsanaOrganizationExportToObjectStorageOperator(
            task_id="land",
            export_gid=create.output,
            destination=destination,
            asana_conn_id=asana_conn_id,
            overwrite=True,
            pool=ASANA_POOL,
            retries=3,
            retry_delay=timedelta(minutes=2),
        )

    @task(trigger_rule=TriggerRule.ALL_DONE_MIN_ONE_SUCCESS)
    def report(organizations: list[dict[str, str]], **context: Any) -> None:
        """
        Log which organizations landed and which failed (also XCom ``report``); fail if any failed.

        Runs once every organization is done, whatever its outcome.
        """
        import logging

        from airflow.sdk.exceptions import AirflowFailException

        ti = context["ti"]
        landed: dict[str, str] = {}
        failed: dict[str, str] = {}
        for index, organization in enumerate(organizations):
            gid = organization["organization_gid"]
            result = ti.xcom_pull(task_ids="export_organization.land", map_indexes=index)
            if result:
                landed[gid] = result["uri"]
                continue
            export_gid = ti.xcom_pull(task_ids="export_organization.create", map_indexes=index)
            failed[gid] = (
                f"export {export_gid} finished but did not land: see export_organization.land [{index}]"
                if export_gid
                else f"no finished export: see export_organization.create [{index}]"
            )
        log = logging.getLogger(__name__)
        for gid, uri in landed.items():
            log.info("Organization %s landed at %s.", gid, uri)
        for gid, why in failed.items():
            log.error("Organization %s failed: %s.", gid, why)
        ti.xcom_push(key="report", value={"landed": landed, "failed": failed})
        if failed:
            raise AirflowFailException(
                f"{len(failed)} of {len(organizations)} organizations did not land: "
                + "; ".join(f"{gid} ({why})" for gid, why in failed.items())
                + f". The other {len(landed)} landed."
            )

    organizations = plan()
    exports = export_organization.expand_kwargs(organizations)
    exports >> report(organizations)
# [END howto_dag_asana_organization_exports_fan_out]
