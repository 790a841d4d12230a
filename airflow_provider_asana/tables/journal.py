"""
A load's journal, and putting tables back after a failed load.

Before a load writes anything under the tables root it writes ``_loads/<load_id>.json``: the tables it will
touch and the version each was at. It removes the journal after its ``_exports`` row is committed. A load that
fails undoes its work at once; a load that was killed leaves its journal, and the next load undoes it before
starting. Undoing a table:

- committed by the load: ``restore`` to the version it had (a new version with the old files and schema; the
  undone version's files are marked removed and vacuumed after the retention), or, for a table the load
  created, the table's folder is deleted;
- not committed: the load's data files (``<load_id>-*``) are deleted; no version ever named them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
from typing import TYPE_CHECKING, Any

from airflow_provider_asana.tables.delta import commit_properties, open_table, versions_by_load
from airflow_provider_asana.tables.errors import LakeTablesError
from airflow_provider_asana.tables.naming import LOADS_FOLDER

if TYPE_CHECKING:
    from airflow_provider_asana.tables.storage import TablesRoot


def journal_path(load_id: str) -> str:
    return f"{LOADS_FOLDER}/{load_id}.json"


def write_journal(
    root: TablesRoot, fs: Any, load_id: str, export_gid: str, tables: dict[str, int | None]
) -> None:
    body = json.dumps(
        {
            "load_id": load_id,
            "export_gid": export_gid,
            "started_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
            "tables": tables,
        },
        indent=1,
    ).encode()
    path = root.path(journal_path(load_id))
    if root.local:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path + ".tmp", "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.replace(path + ".tmp", path)
    else:
        with fs.open_output_stream(path) as out:
            out.write(body)


def remove_journal(root: TablesRoot, fs: Any, load_id: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        fs.delete_file(root.path(journal_path(load_id)))


def pending_journals(root: TablesRoot, fs: Any) -> list[dict[str, Any]]:
    """Journals left by loads that did not finish (killed, or their undo failed)."""
    import pyarrow.fs as pafs

    selector = pafs.FileSelector(root.path(LOADS_FOLDER), allow_not_found=True)
    journals = []
    for info in fs.get_file_info(selector):
        if info.type == pafs.FileType.File and info.base_name.endswith(".json"):
            with fs.open_input_stream(info.path) as stream:
                journals.append(json.loads(stream.read()))
    return journals


def undo_load(root: TablesRoot, fs: Any, journal: dict[str, Any]) -> None:
    """Put every table of ``journal`` back as it was, then remove the journal."""
    load_id = journal["load_id"]
    for relative, version in journal["tables"].items():
        undo_table(root, fs, relative, version, load_id, journal["export_gid"])
    remove_journal(root, fs, load_id)


def undo_table(
    root: TablesRoot, fs: Any, relative: str, version: int | None, load_id: str, export_gid: str
) -> None:
    """
    Put one table back as it was before load ``load_id``.

    :param version: the version the table had before the load, None if the load created it.
    """
    table = open_table(root, relative)
    if table is not None:
        commits = versions_by_load(table, -1 if version is None else version)
        if commits:
            if any(owner != load_id for owner in commits.values()):
                raise LakeTablesError(
                    f"cannot undo load {load_id} on table {relative}: versions {sorted(commits)} were not "
                    "all made by that load (another load ran on the same tables_root at the same time?). "
                    "Run loads of one "
                    "tables_root one at a time."
                )
            if version is None:
                fs.delete_dir(root.path(relative))
            else:
                table.restore(version, commit_properties=commit_properties(f"{load_id}-undo", export_gid))
            return
    _delete_files(root, fs, relative, load_id)


def _delete_files(root: TablesRoot, fs: Any, relative: str, load_id: str) -> None:
    import pyarrow.fs as pafs

    folder = root.path(relative)
    infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
    for info in infos:
        if info.type == pafs.FileType.File and info.base_name.startswith(load_id):
            fs.delete_file(info.path)
    if root.local and os.path.isdir(folder) and not os.listdir(folder):
        os.rmdir(folder)
