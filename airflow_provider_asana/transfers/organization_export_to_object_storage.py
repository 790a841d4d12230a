"""Transfer a finished Asana organization export into object storage."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import Asset, BaseOperator
from airflow.sdk.definitions.asset import AssetRef

from airflow_provider_asana.download import Destination, download_file, report_lineage
from airflow_provider_asana.gids import validate_gid
from airflow_provider_asana.hooks.asana import EXPORT_FILE_NAME, AsanaHook

if TYPE_CHECKING:
    from airflow.sdk import Context, ObjectStoragePath

#: The export's fields the result carries besides its gid.
EXPORT_IDENTITY_FIELDS = ("created_at", "organization")


class AsanaOrganizationExportToObjectStorageOperator(BaseOperator):
    """
    Stream a finished Asana organization export (a gzip of JSON lines) to a file or object store.

    The hook describes the export's file (:meth:`AsanaHook.organization_export_source`: fresh download URLs,
    timeouts, retry policy) and the download engine (:mod:`airflow_provider_asana.download`) streams it to
    the destination; the hook never sees the destination.
    The download URL is fetched from Asana right before the transfer (and again if it expires during
    it), the transfer resumes where it stopped after a dropped connection, and the file appears at
    ``destination`` only once complete and checked: a failed run leaves nothing there, and an object
    already there untouched. Each :class:`~airflow.sdk.Asset` in ``outlets``, or reference to one
    (``Asset.ref(name=...)``, ``Asset.ref(uri=...)``), gets an event whose extra is the task's result
    (``uri`` tells an Asset-scheduled DAG where to read, ``created_at`` and ``organization_gid`` what it is:
    ``AsanaOrganizationExportToDeltaTablesOperator`` takes them).

    :param export_gid: The export's gid (templated), e.g. the XCom of
        :class:`~airflow_provider_asana.operators.organization_export.AsanaCreateOrganizationExportOperator`;
        the export must be ``finished`` (wait with ``AsanaOrganizationExportSensor``).
    :param destination: Where the file lands (templated): an absolute path or a URI that
        :class:`~airflow.sdk.ObjectStoragePath` understands, such as ``file:///data/asana/export.json.gz`` or
        ``s3://aws_conn_id@bucket/asana/export.json.gz``.
    :param asana_conn_id: The Asana connection id (templated).
    :param overwrite: (templated: a bool, or ``"true"``/``"false"`` as ``{{ params.x }}`` renders) Replace
        an object already at ``destination``. If False (the default) the task fails before downloading
        when something is there.
    :param verify_gzip: (templated like ``overwrite``) Decode the whole gzip (every member, CRC-32 and
        length trailers) while it streams. On by default: a truncated or corrupt export must fail the task
        rather than land as if it were good, and the decoding runs on its own thread alongside the
        download, so it costs little wall time. Off stores exactly what the server sent, checked only
        against its announced size.
    :return: ``{"uri", "bytes", "sha256", "export_gid", "created_at", "organization_gid"}``: where the file
        landed, its size and SHA-256, and the export's gid, creation time (Asana's ISO 8601 text) and
        organization (never the download URL).
    """

    template_fields: Sequence[str] = (
        "export_gid",
        "destination",
        "asana_conn_id",
        "overwrite",
        "verify_gzip",
    )

    def __init__(
        self,
        *,
        export_gid: str,
        destination: str | ObjectStoragePath,
        asana_conn_id: str = AsanaHook.default_conn_name,
        overwrite: bool | str = False,
        verify_gzip: bool | str = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.export_gid = export_gid
        self.destination = destination
        self.asana_conn_id = asana_conn_id
        self.overwrite = overwrite
        self.verify_gzip = verify_gzip

    def execute(self, context: Context) -> dict[str, Any]:
        overwrite = _as_bool(self.overwrite, "overwrite")
        verify_gzip = _as_bool(self.verify_gzip, "verify_gzip")
        export_gid = validate_gid(self.export_gid, "export_gid")
        destination = Destination(self.destination, overwrite=overwrite, example_name=EXPORT_FILE_NAME)
        hook = AsanaHook(asana_conn_id=self.asana_conn_id)
        # What the file is, for whoever reads it next; asked before the download, so that a failure here
        # leaves nothing landed for a retry to trip over.
        export = hook.get_organization_export(export_gid, opt_fields=EXPORT_IDENTITY_FIELDS)
        source = hook.organization_export_source(export_gid)
        landed = download_file(source, destination, verify_gzip=verify_gzip)
        report_lineage(hook, landed.uri)
        result = {
            **landed.as_dict(),
            "export_gid": export_gid,
            "created_at": export.get("created_at"),
            "organization_gid": (export.get("organization") or {}).get("gid"),
        }
        for outlet in self.outlets:
            if isinstance(outlet, (Asset, AssetRef)):
                context["outlet_events"][outlet].extra = dict(result)
        return result


def _as_bool(value: Any, name: str) -> bool:
    """Read a bool, or the text a template renders a bool to."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(f"{name} must be True or False (or a template rendering 'true'/'false'); got {value!r}.")
