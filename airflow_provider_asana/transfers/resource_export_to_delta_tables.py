"""Upsert a landed Asana resource export into Delta Lake tables keyed by ``gid``, one per resource type."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow_provider_asana.transfers.organization_export_to_delta_tables import (
    AsanaOrganizationExportToDeltaTablesOperator,
)


class AsanaResourceExportToDeltaTablesOperator(AsanaOrganizationExportToDeltaTablesOperator):
    """
    Upsert a landed resource export (gzip JSON Lines of API objects) into ``<tables_root>/resources/<type>``.

    :func:`airflow_provider_asana.tables.load_resource_export` does the work: objects upsert by ``gid`` into
    one table per ``resource_type`` (``resources/task`` with its ``stories`` and ``attachments`` nested,
    ``resources/team`` with ``members``, ``resources/message``), their change rows (``insert``/``update``)
    into ``resources/_changes/<table>``, one ``resources/_exports`` row per export, all committed or none. An
    object re-exported unchanged (an overlapping window) is not written again. A resource export holds only
    undeleted objects: deletions come from organization exports
    (:class:`AsanaOrganizationExportToDeltaTablesOperator` on the same ``tables_root``).

    Asset events, retries and arguments are those of :class:`AsanaOrganizationExportToDeltaTablesOperator`;
    the tables' URIs are ``<tables_root>/resources/<table>``, and each table's extra also has ``duplicates``
    and ``stale`` (what the upsert left out).

    :param source: The landed resource export (templated): a path or a URI ``ObjectStoragePath``
        understands.
    :param tables_root: Where the tables live (templated), as for the organization export's operator; the
        resource tables go under ``resources/``.
    :param export_gid: The resource export's gid (templated); None: the file's SHA-256.
    :param export_created_at: When Asana made the export (templated); None: the file's modification time.
    :param resource_type: (templated) The kind of objects whose lines have no ``resource_type`` (an export
        asked with ``fields`` that leave it out); None: such a line is a bad line.
    :param on_bad_line: (templated) as for the organization export's operator.
    :param retention_hours: (templated) as for the organization export's operator.
    :param temp_dir: (templated) as for the organization export's operator.
    :return: The load's result (:func:`~airflow_provider_asana.tables.load_resource_export`).
    """

    template_fields: Sequence[str] = (
        *AsanaOrganizationExportToDeltaTablesOperator.template_fields,
        "resource_type",
    )
    table_prefix = "resources/"

    def __init__(self, *, resource_type: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resource_type = resource_type

    def _load(self, source: Any, tables_root: Any, **kwargs: Any) -> dict[str, Any]:
        from airflow_provider_asana.tables import load_resource_export

        return load_resource_export(source, tables_root, resource_type=self.resource_type, **kwargs)
