"""Load a landed Asana organization export into Delta Lake tables, one per record kind, with change tables."""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, AssetAlias, BaseOperator
from airflow.sdk.definitions.asset import AssetRef

from airflow_provider_asana.gids import validate_gid

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: What a per-table event's extra holds of the load's per-table result (not its timings).
TABLE_EVENT_KEYS = (
    "rows",
    "inserted",
    "updated",
    "deleted",
    "version",
    "changes_version",
    "drifted_columns",
)
#: What an ``Asset`` outlet's event extra holds of the load's result.
LOAD_EVENT_KEYS = ("export_gid", "export_created_at", "source_sha256", "lines", "rejected")


class AsanaOrganizationExportToDeltaTablesOperator(BaseOperator):
    """
    Load a landed organization export (the ``.json.gz``) into Delta Lake tables, one per record kind.

    :func:`airflow_provider_asana.tables.load_organization_export` does the work: one table per ``__type``
    under ``tables_root`` (``task``, ``story``, ``user``, ...), a change table each (``_changes/<table>``:
    the objects inserted, updated and deleted since the previous export), and one ``_exports`` row per
    export, all committed or none. A retry after a load that committed writes nothing and returns the
    recorded result (the export gid is already in ``_exports``), and emits the same events again.

    Asset events: each :class:`~airflow.sdk.AssetAlias` in ``outlets`` gets one event per table the export
    was loaded into, for ``Asset(uri=<the table's location>)`` (``s3://bucket/prefix/task``,
    ``file:///data/lake/asana/task``: the root without its connection id), whose extra is
    ``{"export_gid", "export_created_at", "table", "rows", "inserted", "updated", "deleted", "version",
    "changes_version", "drifted_columns"}``. Each :class:`~airflow.sdk.Asset` (or ``Asset.ref``) in
    ``outlets`` stands for the whole load: its event's extra is ``{"export_gid", "export_created_at",
    "source_sha256", "lines", "rejected", "tables_root", "tables"}``, ``tables`` holding the same counts per
    table. Read a table as of the export with ``DeltaTable(uri, version=extra["version"])``.

    Two loads must not run on one ``tables_root`` at a time: give the Dag ``max_active_runs=1`` or the task
    a pool with one slot. Needs the ``tables`` extra (``deltalake``, ``pyarrow``, ``duckdb``).

    :param source: The landed export (templated): a path or a URI ``ObjectStoragePath`` understands, such as
        the ``uri`` the transfer operator returns and puts in its Asset event's extra.
    :param tables_root: Where the tables live (templated): an absolute path, ``file://``,
        ``s3://<aws_conn_id>@bucket/prefix``, ``gs://<conn_id>@bucket/prefix`` or
        ``abfs://<conn_id>@container/prefix``. One organization per root: its changes are computed
        export after export.
    :param export_gid: The export's gid (templated), e.g. the transfer's ``export_gid``. None: the file's
        SHA-256 names the export (one more read of the file).
    :param export_created_at: When Asana made the export (templated): a ``datetime`` or ISO 8601 text, such
        as the transfer's ``created_at``. None: the file's modification time.
    :param on_bad_line: (templated) ``"fail"`` (the default): a line that is not a JSON object with a
        ``__type`` fails the task, naming its line number; ``"quarantine"``: such lines go to
        ``<tables_root>/_rejected`` and the rest loads.
    :param retention_hours: (templated: a number or its text) Table versions older than this are vacuumed
        after the load, never the current one; default 168 (7 days).
    :param temp_dir: (templated) A local folder for staged chunks: about the export's compressed size.
        Default: the system's temporary folder.
    :return: The load's result: ``export_gid``, ``export_created_at``, ``source_sha256``, ``lines``,
        ``rejected``, ``tables`` (per table ``rows``, ``inserted``, ``updated``, ``deleted``, ``version``,
        ``changes_version``, ``drifted_columns``, ``seconds``) and ``already_loaded``.
    """

    template_fields: Sequence[str] = (
        "source",
        "tables_root",
        "export_gid",
        "export_created_at",
        "on_bad_line",
        "retention_hours",
        "temp_dir",
    )

    def __init__(
        self,
        *,
        source: str | os.PathLike[str] | ObjectStoragePath,
        tables_root: str | os.PathLike[str] | ObjectStoragePath,
        export_gid: str | None = None,
        export_created_at: datetime.datetime | str | None = None,
        on_bad_line: str = "fail",
        retention_hours: float | str = 168,
        temp_dir: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.tables_root = tables_root
        self.export_gid = export_gid
        self.export_created_at = export_created_at
        self.on_bad_line = on_bad_line
        self.retention_hours = retention_hours
        self.temp_dir = temp_dir

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_asana.tables import load_organization_export

        source = _location(self.source, "source", "the landed file, e.g. the transfer's XCom 'uri'")
        tables_root = _location(self.tables_root, "tables_root", "where the tables live")
        export_gid = None if self.export_gid is None else validate_gid(self.export_gid, "export_gid")
        if self.export_created_at == "":
            raise ValueError(
                "export_created_at rendered empty: pass ISO 8601 text such as the transfer's 'created_at' "
                "(2026-01-31T12:00:00Z), or None to take the file's modification time."
            )
        result = load_organization_export(
            source,
            tables_root,
            export_gid=export_gid,
            export_created_at=self.export_created_at,
            on_bad_line=self.on_bad_line,
            retention_hours=_hours(self.retention_hours),
            temp_dir=_folder(self.temp_dir),
        )
        if result["already_loaded"]:
            self.log.info(
                "Export %s was already loaded (a retry, or the same export again): nothing was written; "
                "emitting the recorded result's events.",
                result["export_gid"],
            )
        self._emit_events(context, result, tables_root)
        return result

    def _emit_events(self, context: Context, result: dict[str, Any], tables_root: Any) -> None:
        from airflow_provider_asana.tables.storage import table_location

        per_table = {
            name: {key: counts[key] for key in TABLE_EVENT_KEYS} for name, counts in result["tables"].items()
        }
        common = {"export_gid": result["export_gid"], "export_created_at": result["export_created_at"]}
        load: dict[str, Any] = {
            **{key: result[key] for key in LOAD_EVENT_KEYS},
            "tables_root": table_location(tables_root, "").rstrip("/"),
            "tables": per_table,
        }
        for outlet in self.outlets:
            if isinstance(outlet, AssetAlias):
                events = context["outlet_events"][outlet]
                for name, counts in per_table.items():
                    table: dict[str, Any] = {**common, "table": name, **counts}
                    events.add(Asset(uri=table_location(tables_root, name)), extra=table)
            elif isinstance(outlet, (Asset, AssetRef)):
                context["outlet_events"][outlet].extra = dict(load)


def _location(value: Any, name: str, what: str) -> Any:
    """Return a path or URI argument, refusing what cannot be one (``None``, empty text)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueError(
            f"{name} is {value!r}: pass {what}, as a path or a URI such as s3://<conn_id>@bucket/key."
        )
    if not isinstance(value, (str, os.PathLike)) and not hasattr(value, "fs"):
        raise ValueError(
            f"{name} must be a path, a URI or an ObjectStoragePath; got a {type(value).__name__}: {value!r:.80}."
        )
    return value


def _hours(value: Any) -> float:
    """Read ``retention_hours``: a number, or the text a template renders one to."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    raise ValueError(
        f"retention_hours must be a number of hours (or a template rendering one, such as '168'); got {value!r}."
    )


def _folder(value: Any) -> str | None:
    """Check ``temp_dir``: None, or a folder that exists on this worker."""
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or not os.path.isdir(value):
        raise ValueError(
            f"temp_dir {value!r} is not a folder on this worker: pass an existing local folder, or None for "
            "the system's temporary folder."
        )
    return os.fspath(value)
