"""
``load_organization_export``: one landed export into the lake tables, all or nothing.

1. Undo any load that died on this tables root (its journal is still there).
2. Stage: inflate the file once, route lines by ``__type``, parse and stage chunks locally
   (:mod:`~airflow_provider_asana.tables.stage`). Nothing under the tables root changes.
3. Journal, then write every table's data files: snapshots, change rows, rejected lines, the ``_exports`` row.
   Files no commit names are invisible to readers.
4. Commit each table (tiny log writes), the ``_exports`` row last; remove the journal; vacuum.

A failure anywhere in 3-4 undoes what was done (:mod:`~airflow_provider_asana.tables.journal`) and raises.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
import os
import tempfile
import time
import uuid
from typing import TYPE_CHECKING, Any

from airflow_provider_asana.tables.errors import ExportFileError, LakeTablesError

if TYPE_CHECKING:
    from airflow_provider_asana.tables.snapshot import TableResult

log = logging.getLogger(__name__)

ON_BAD_LINE = ("fail", "quarantine")


def load_organization_export(
    source: Any,
    tables_root: Any,
    *,
    export_gid: str | None = None,
    export_created_at: datetime.datetime | str | None = None,
    on_bad_line: str = "fail",
    retention_hours: float = 168,
    temp_dir: str | None = None,
    storage_options: dict[str, str] | None = None,
    chunk_bytes: int = 4 << 20,
    memory_limit: str = "256MB",
) -> dict[str, Any]:
    """
    Load one organization export into Delta Lake tables, one per record kind, with change tables.

    :param source: the landed ``.json.gz``: a local path, ``file://`` URI, ``ObjectStoragePath`` or any URI it
        understands (``s3://<conn_id>@bucket/key``).
    :param tables_root: where the tables live: a local path, ``file://``, ``s3://<conn_id>@bucket/prefix``,
        ``gs://...`` or ``abfs://...``; credentials come from the named Airflow connection.
    :param export_gid: the export's gid (the transfer operator returns it). Default: the SHA-256 of the file,
        which costs one more read of the file.
    :param export_created_at: when Asana made the export (``datetime`` or ISO 8601 text; naive means UTC).
        Default: the file's modification time, else now.
    :param on_bad_line: ``"fail"``: a line that is not a JSON object with a ``__type`` fails the load, naming
        its line number; ``"quarantine"``: such lines go to ``<tables_root>/_rejected`` and the load goes on.
    :param retention_hours: table versions older than this are vacuumed after the load (never the current
        one); 0 keeps only the current version.
    :param temp_dir: local folder for staged chunks and spill files (needs about the compressed size of the
        export); default: the system's temp folder.
    :param storage_options: delta-rs storage options that override those built from the connection.
    :param chunk_bytes: lines of one table parsed at a time; memory grows with it (routing buffers hold up to
        8 chunks).
    :param memory_limit: DuckDB's memory limit while computing changes (it spills to ``temp_dir`` past it).
    :return: ``export_gid``, ``export_created_at``, ``source_sha256``, ``lines``, ``rejected`` and ``tables``:
        per table ``rows``, ``inserted``, ``updated``, ``deleted``, ``version`` (the snapshot's Delta
        version), ``changes_version`` and ``drifted_columns``; ``already_loaded`` is true when ``_exports``
        already had this export (the recorded result is returned and nothing is written).
    """
    from airflow_provider_asana.tables.naming import ORGANIZATION
    from airflow_provider_asana.tables.storage import resolve_tables_root

    root = resolve_tables_root(tables_root, storage_options)
    return _run(
        _Kind(ORGANIZATION, "TableLoad", carry_tables=True), source, root, export_gid, export_created_at,
        on_bad_line, retention_hours, temp_dir, chunk_bytes, memory_limit,
    )  # fmt: skip


def load_resource_export(
    source: Any,
    tables_root: Any,
    *,
    export_gid: str | None = None,
    export_created_at: datetime.datetime | str | None = None,
    resource_type: str | None = None,
    on_bad_line: str = "fail",
    retention_hours: float = 168,
    temp_dir: str | None = None,
    storage_options: dict[str, str] | None = None,
    chunk_bytes: int = 4 << 20,
    memory_limit: str = "256MB",
) -> dict[str, Any]:
    """
    Upsert one resource export (gzip JSON Lines of API objects) into Delta tables keyed by ``gid``.

    One table per ``resource_type`` under ``<tables_root>/resources`` (``resources/task``, ``resources/team``,
    ``resources/message``), its change rows in ``resources/_changes/<table>`` (inserts and updates: a resource
    export holds only undeleted objects, so deletions come from organization exports), one row per loaded
    export in ``resources/_exports``, all committed or none. An object already in the table with the same
    record is not written again: an overlapping window re-loaded writes no change rows. Several lines naming
    one object keep the largest ``modified_at`` (then the last line); a record older than the table's (by
    ``modified_at``) is left out (``stale``).

    :param source: the landed ``.json.gz`` (``.jsonl.gz``), as for :func:`load_organization_export`.
    :param tables_root: as for :func:`load_organization_export`; the tables go under ``resources/``.
    :param export_gid: the resource export's gid (default: the file's SHA-256). A retry of an export already
        loaded writes nothing and returns the recorded result.
    :param export_created_at: when Asana made the export (default: the file's modification time).
    :param resource_type: the kind of objects that have no ``resource_type`` field (an export asked with
        ``fields`` that leave it out); None: such a line is a bad line.
    :param on_bad_line: as for :func:`load_organization_export`; a line without a ``gid`` is a bad line.
    :param retention_hours: as for :func:`load_organization_export`.
    :param temp_dir: as for :func:`load_organization_export`.
    :param storage_options: as for :func:`load_organization_export`.
    :param chunk_bytes: as for :func:`load_organization_export`.
    :param memory_limit: DuckDB's memory limit while it finds the objects to write.
    :return: as :func:`load_organization_export` returns; per table ``deleted`` is always 0, and
        ``duplicates`` (lines naming an object another line names) and ``stale`` (records older than the
        table's) count what was left out.
    """
    from airflow_provider_asana.tables.naming import resource_format

    if resource_type is not None and (not isinstance(resource_type, str) or not resource_type.strip()):
        raise ValueError(
            f"resource_type={resource_type!r}: pass the resource type of lines that have none (such as "
            "'task'), or None."
        )
    root = _resources_root(tables_root, storage_options)
    return _run(
        _Kind(resource_format(resource_type), "UpsertTableLoad", carry_tables=False), source, root, export_gid,
        export_created_at, on_bad_line, retention_hours, temp_dir, chunk_bytes, memory_limit,
    )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class _Kind:
    """What kind of export a load reads: its record format, how a table loads, whether tables carry over."""

    fmt: Any
    table_load: str
    #: A table of the previous load that this export has no record for still gets a version (its objects
    #: were deleted): organization exports are snapshots, resource exports are not.
    carry_tables: bool


def _resources_root(tables_root: Any, storage_options: dict[str, str] | None) -> Any:
    from airflow_provider_asana.tables.naming import RESOURCES_FOLDER
    from airflow_provider_asana.tables.storage import resolve_tables_root

    root = resolve_tables_root(tables_root, storage_options)
    return dataclasses.replace(
        root, uri=root.table_uri(RESOURCES_FOLDER), display=f"{root.display.rstrip('/')}/{RESOURCES_FOLDER}"
    )


def _run(
    kind: _Kind,
    source: Any,
    root: Any,
    export_gid: str | None,
    export_created_at: datetime.datetime | str | None,
    on_bad_line: str,
    retention_hours: float,
    temp_dir: str | None,
    chunk_bytes: int,
    memory_limit: str,
) -> dict[str, Any]:
    if on_bad_line not in ON_BAD_LINE:
        raise ValueError(f"on_bad_line={on_bad_line!r}: use 'fail' or 'quarantine'")
    if retention_hours < 0:
        raise ValueError(f"retention_hours={retention_hours!r}: use 0 or more hours")
    created_at = _created_at(export_created_at)

    from airflow_provider_asana.tables.exports import loaded_exports, recorded_result

    fs = root.filesystem()
    _recover(root, fs)
    exports = loaded_exports(root)
    first_sha = None
    if export_gid is None:
        from airflow_provider_asana.tables.source import sha256_of

        export_gid = first_sha = sha256_of(source)
    recorded = recorded_result(exports, str(export_gid))
    if recorded is not None:
        log.info(
            "Export %s is already loaded into %s: returning the recorded result", export_gid, root.display
        )
        return {**recorded, "already_loaded": True}
    with tempfile.TemporaryDirectory(prefix="asana-tables-", dir=temp_dir) as work:
        load = _Load(
            kind,
            root,
            fs,
            work,
            str(export_gid),
            created_at,
            on_bad_line,
            retention_hours,
            chunk_bytes,
            memory_limit,
        )
        load.stage(source, first_sha)
        return load.write_and_commit(exports)


def recover(tables_root: Any, *, storage_options: dict[str, str] | None = None) -> None:
    """
    Undo every load that died on ``tables_root``: killed, its journal is still in ``_loads/``.

    Resource-export loads keep theirs in ``resources/_loads/``; both are looked at.
    Readers of the latest versions then see the last complete export again. Every load does this first.

    :param tables_root: as for :func:`load_organization_export`.
    :param storage_options: as for :func:`load_organization_export`.
    """
    from airflow_provider_asana.tables.storage import resolve_tables_root

    root = resolve_tables_root(tables_root, storage_options)
    _recover(root, root.filesystem())
    resources = _resources_root(tables_root, storage_options)
    _recover(resources, resources.filesystem())


def _recover(root: Any, fs: Any) -> None:
    from airflow_provider_asana.tables.exports import loaded_exports
    from airflow_provider_asana.tables.journal import pending_journals, remove_journal, undo_load

    journals = pending_journals(root, fs)
    if not journals:
        return
    exports = loaded_exports(root)
    done = set(exports.column("load_id").to_pylist()) if exports is not None else set()
    for journal in journals:
        if journal["load_id"] in done:
            remove_journal(root, fs, journal["load_id"])  # it committed; only the journal's removal was lost
            continue
        log.warning(
            "Undoing load %s of export %s on %s: it did not finish",
            journal["load_id"],
            journal["export_gid"],
            root.display,
        )
        undo_load(root, fs, journal)


def _release_memory() -> None:
    """Hand the memory pyarrow's allocator keeps for reuse back to the system."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _write_table(table_load: Any) -> Any:
    try:
        return table_load.write()
    finally:
        _release_memory()


def _created_at(value: datetime.datetime | str | None) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(
                f"export_created_at={value!r}: use a datetime or ISO 8601 text such as 2026-01-31T12:00:00Z"
            ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.astimezone(datetime.timezone.utc)


class _Load:
    def __init__(
        self,
        kind: _Kind,
        root: Any,
        fs: Any,
        work: str,
        export_gid: str,
        created_at: datetime.datetime | None,
        on_bad_line: str,
        retention_hours: float,
        chunk_bytes: int,
        memory_limit: str,
    ) -> None:
        self.kind, self.fmt = kind, kind.fmt
        self.root, self.fs, self.work = root, fs, work
        self.export_gid = export_gid
        self.created_at = created_at
        self.on_bad_line = on_bad_line
        self.retention_hours = retention_hours
        self.chunk_bytes = chunk_bytes
        self.memory_limit = memory_limit
        self.load_id = "load-{}-{}".format(
            datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S"), uuid.uuid4().hex[:12]
        )
        self.source_name = ""
        self.sha256 = ""
        self.lines = 0
        self.staged: dict[str, Any] = {}
        self.stager: Any = None
        self.seconds: dict[str, float] = {}

    # -- pass 1 ----------------------------------------------------------------------------------------------
    def stage(self, source: Any, first_sha: str | None) -> None:
        from airflow_provider_asana.tables.source import inflate, open_source, prefetch
        from airflow_provider_asana.tables.stage import Stager

        started = time.perf_counter()
        staging = os.path.join(self.work, "staged")
        os.makedirs(staging)
        digest = hashlib.sha256()
        try:
            with open_source(source) as opened:
                self.source_name = opened.name
                if self.created_at is None:
                    self.created_at = opened.modified or datetime.datetime.now(datetime.timezone.utc)
                self.stager = Stager(
                    staging,
                    export_columns=self.export_columns,
                    on_bad_line=self.on_bad_line,
                    chunk_bytes=self.chunk_bytes,
                    buffer_bytes=8 * self.chunk_bytes,
                    fmt=self.fmt,
                )
                for block in prefetch(inflate(opened, digest)):
                    self.stager.feed(block)
                self.staged = self.stager.finish()
        finally:
            if self.stager is not None:
                self.stager.close()
            _release_memory()
        self.sha256 = digest.hexdigest()
        if first_sha is not None and first_sha != self.sha256:
            raise ExportFileError(f"source {self.source_name!r} changed while it was read: load it again")
        self.lines = self.stager.lines
        self.seconds["stage"] = time.perf_counter() - started
        log.info(
            "Staged %s lines of %s into %d tables in %.1f s",
            f"{self.lines:,}", self.source_name, len(self.staged), self.seconds["stage"],
        )  # fmt: skip

    # -- pass 2 ----------------------------------------------------------------------------------------------
    def write_and_commit(self, exports: Any) -> dict[str, Any]:
        from airflow_provider_asana.tables import exports as exports_table, snapshot, upsert
        from airflow_provider_asana.tables.delta import open_table
        from airflow_provider_asana.tables.journal import remove_journal, undo_load, write_journal
        from airflow_provider_asana.tables.naming import EXPORTS_TABLE, REJECTED_TABLE, changes_table

        table_load = getattr(snapshot, self.kind.table_load, None) or getattr(upsert, self.kind.table_load)
        last = exports_table.latest(exports)
        known = {t["table"] for t in last["tables"]} if last and self.kind.carry_tables else set()
        names = sorted(set(self.staged) | known)
        loads = [
            table_load(
                self,
                name,
                self.staged.get(name),
                open_table(self.root, name),
                open_table(self.root, changes_table(name)),
            )
            for name in names
        ]
        loads = [t for t in loads if t.has_work()]
        rejected = open_table(self.root, REJECTED_TABLE)
        exports_delta = open_table(self.root, EXPORTS_TABLE)
        touched: dict[str, int | None] = {}
        for t in loads:
            touched.update(t.touched())
        if self.stager.rejected:
            touched[REJECTED_TABLE] = rejected.version() if rejected is not None else None
        touched[EXPORTS_TABLE] = exports_delta.version() if exports_delta is not None else None
        journal = {"load_id": self.load_id, "export_gid": self.export_gid, "tables": touched}
        write_journal(self.root, self.fs, self.load_id, self.export_gid, touched)
        step = "writing the data files"
        try:
            for t in loads:  # one at a time: two in parallel were no faster here and took 50 MiB more
                _write_table(t)
            rejected_files = self._write_rejected()
            committed: dict[str, TableResult] = {}
            for t in loads:
                step = f"committing table {t.name}"
                committed[t.name] = t.commit()
            result = self._result(committed)
            if rejected_files is not None:
                step = f"committing table {REJECTED_TABLE}"
                result["rejected_version"] = self._commit_rejected(rejected_files)
            step = f"committing table {EXPORTS_TABLE}"
            self._commit_exports(result)
        except BaseException as exc:
            log.error("Load %s of export %s failed while %s: undoing it", self.load_id, self.export_gid, step)
            try:
                undo_load(self.root, self.fs, journal)
            except Exception:
                log.exception(
                    "Undoing load %s failed; the next load on %s undoes it (its journal is %s)",
                    self.load_id, self.root.display, f"_loads/{self.load_id}.json",
                )  # fmt: skip
                raise
            if isinstance(exc, Exception) and not isinstance(exc, LakeTablesError):
                raise LakeTablesError(
                    f"loading export {self.export_gid} into {self.root.display} failed while {step}: "
                    f"{type(exc).__name__}: {exc}. Every table was put back as it was; load the export again."
                ) from exc
            raise
        remove_journal(self.root, self.fs, self.load_id)
        self._vacuum(loads)
        return result

    def _result(self, committed: dict[str, TableResult]) -> dict[str, Any]:
        created_at = self.created_at or datetime.datetime.now(datetime.timezone.utc)  # stage() set it
        return {
            "export_gid": self.export_gid,
            "export_created_at": created_at.isoformat(),
            "source_sha256": self.sha256,
            "lines": self.lines,
            "rejected": self.stager.rejected,
            "tables": {name: r.as_dict() for name, r in sorted(committed.items())},
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "already_loaded": False,
        }

    def _write_rejected(self) -> Any:
        if not self.stager.rejected:
            return None
        import pyarrow.parquet as pq

        from airflow_provider_asana.tables.delta import FileWriter
        from airflow_provider_asana.tables.naming import REJECTED_TABLE

        data = pq.read_table(self.stager.rejected_path)
        data = self.export_columns(data, first=True)
        writer = FileWriter(self.root, self.fs, REJECTED_TABLE, self.load_id, data.schema)
        writer.write(data)
        self._rejected_schema = data.schema
        return writer.close()

    def _commit_rejected(self, files: Any) -> int:
        from airflow_provider_asana.tables.delta import commit
        from airflow_provider_asana.tables.naming import REJECTED_TABLE

        return commit(
            self.root, REJECTED_TABLE, files, self._rejected_schema,
            mode="append", load_id=self.load_id, export_gid=self.export_gid,
        )  # fmt: skip

    def _commit_exports(self, result: dict[str, Any]) -> None:
        from airflow_provider_asana.tables import exports as exports_table
        from airflow_provider_asana.tables.delta import FileWriter, commit
        from airflow_provider_asana.tables.naming import EXPORTS_TABLE

        row = exports_table.exports_row(
            result,
            load_id=self.load_id,
            source=self.source_name,
            loaded_at=datetime.datetime.now(datetime.timezone.utc),
        )
        writer = FileWriter(self.root, self.fs, EXPORTS_TABLE, self.load_id, exports_table.SCHEMA)
        writer.write(row)
        commit(
            self.root, EXPORTS_TABLE, writer.close(), exports_table.SCHEMA,
            mode="append", load_id=self.load_id, export_gid=self.export_gid,
        )  # fmt: skip

    def export_columns(self, data: Any, *, first: bool = False) -> Any:
        """Set ``_export_gid`` and ``_export_created_at`` of ``data`` to this export (added if missing)."""
        import pyarrow as pa

        from airflow_provider_asana.tables.naming import EXPORT_CREATED_AT, EXPORT_GID
        from airflow_provider_asana.tables.schema import TIMESTAMP

        n = data.num_rows
        columns = [
            (EXPORT_GID, pa.repeat(pa.scalar(self.export_gid, pa.string()), n)),
            (EXPORT_CREATED_AT, pa.repeat(pa.scalar(self.created_at, TIMESTAMP), n)),
        ]
        for position, (name, values) in enumerate(columns):
            index = data.schema.get_field_index(name)
            if index >= 0:
                data = data.set_column(index, name, values)
            elif first:
                data = data.add_column(position, name, values)
            else:
                data = data.append_column(name, values)
        return data

    def _vacuum(self, loads: list[Any]) -> None:
        from airflow_provider_asana.tables.delta import open_table

        for t in loads:
            for relative in t.touched():
                table = open_table(self.root, relative)
                if table is None:
                    continue
                try:
                    table.vacuum(
                        retention_hours=int(self.retention_hours),
                        dry_run=False,
                        enforce_retention_duration=False,
                    )
                except Exception as exc:
                    log.warning("Vacuum of %s failed (%s); the next load tries again", relative, exc)


__all__ = ["LakeTablesError", "load_organization_export", "load_resource_export", "recover"]
