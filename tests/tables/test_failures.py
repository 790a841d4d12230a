"""
A load that fails at any point leaves every table as it was: faults injected at real boundaries (a corrupt or
truncated file, a log entry another writer already took, a SIGKILL), never by patching the loader.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from airflow_provider_asana.tables import load_organization_export, recover
from airflow_provider_asana.tables.errors import ExportFileError, LakeTablesError
from airflow_provider_asana.tables.storage import resolve_tables_root

from tests.tables.helpers import as_of_exports, content, data_files, delta_tables, table
from tests.tables.synthetic import SyntheticOrg

CHUNK = 64 << 10


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    base = tmp_path_factory.mktemp("template")
    org = SyntheticOrg(1500, seed=5, updated=0.05)
    for k in range(2):
        load_organization_export(
            org.write(base / f"{k}.json.gz", k), base / "lake", export_gid=f"g{k}", chunk_bytes=CHUNK
        )
    return base / "lake", org.write(base / "2.json.gz", 2)


@pytest.fixture
def lake(template, tmp_path):
    """A root holding two loaded exports (a copy per test), and the third export of the series."""
    root = tmp_path / "lake"
    shutil.copytree(template[0], root)
    return root, template[1]


def snapshot_of(root: Path) -> tuple:
    return content(root), as_of_exports(root), data_files(root)


def referenced_files(root: Path) -> set[str]:
    return {
        os.path.relpath(uri.removeprefix("file://"), root)
        for name in delta_tables(root)
        for uri in table(root, name).file_uris()
    }


def assert_as_before(root: Path, before: tuple, *, files_left: bool = False) -> None:
    current, exports, files = before
    assert content(root) == current
    assert as_of_exports(root) == exports
    if files_left:  # files of versions that were committed and then undone: no current version names them
        assert not (data_files(root) - files) & referenced_files(root)
    else:
        assert data_files(root) == files
    assert not list((root / "_loads").glob("*.json")) if (root / "_loads").exists() else True


def damaged(path: Path, out: Path, *, truncate: bool) -> Path:
    data = bytearray(path.read_bytes())
    cut = int(len(data) * 0.7)
    if truncate:
        out.write_bytes(bytes(data[:cut]))
    else:
        data[cut : cut + 64] = bytes(64)  # zeroes in the middle of the deflate stream
        out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    ("truncate", "message"),
    [(False, "is not a valid gzip file"), (True, "ends before its gzip end")],
    ids=["corrupt-at-70%", "truncated-at-70%"],
)
def test_a_damaged_file_changes_nothing(lake, tmp_path, truncate, message):
    root, export = lake
    before = snapshot_of(root)

    with pytest.raises(ExportFileError, match=message):
        load_organization_export(
            damaged(export, tmp_path / "bad.json.gz", truncate=truncate), root, export_gid="g2"
        )

    assert_as_before(root, before)


def block_next_commit(root: Path, name: str) -> Path:
    """
    Take the table's next log entry the way a concurrent writer would (a directory: nobody can replace it).
    """
    entry = root / name / "_delta_log" / f"{table(root, name).version() + 1:020d}.json"
    entry.mkdir()
    return entry


@pytest.mark.parametrize("blocked", ["_exports", "task", "_changes/story"])
def test_a_failed_commit_undoes_the_tables_already_committed(lake, blocked):
    root, export = lake
    before = snapshot_of(root)
    obstacle = block_next_commit(root, blocked)

    table_name = "_exports" if blocked == "_exports" else blocked.removeprefix("_changes/")
    with pytest.raises(
        LakeTablesError, match=f"failed while committing table {table_name}.*put back as it was"
    ):
        load_organization_export(export, root, export_gid="g2", chunk_bytes=CHUNK)

    obstacle.rmdir()
    assert_as_before(root, before, files_left=True)
    if blocked == "_exports":  # every table had committed: each was restored to its version before the load
        assert table(root, "task").history(1)[0]["operation"] == "RESTORE"
    result = load_organization_export(export, root, export_gid="g2", chunk_bytes=CHUNK)
    assert result["tables"]["task"]["updated"] > 0  # the change set is computed against the restored version


LOADER = """
import sys
from airflow_provider_asana.tables import load_organization_export
load_organization_export(sys.argv[1], sys.argv[2], export_gid="g2", chunk_bytes=16 << 10)
"""


def kill_when(root: Path, export: Path, ready) -> bool:
    """Run a load in a child process and SIGKILL it as soon as ``ready()``; True if it was killed mid-load."""
    child = subprocess.Popen(
        [sys.executable, "-c", LOADER, str(export), str(root)], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline:
            if ready():
                child.send_signal(signal.SIGKILL)
                break
            time.sleep(0.001)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    return child.returncode == -signal.SIGKILL


def test_a_load_killed_while_writing_leaves_nothing_visible(lake):
    root, export = lake
    before = snapshot_of(root)

    killed = kill_when(
        root, export, lambda: any((root / "_loads").glob("*.json")) and data_files(root) - before[2]
    )

    assert killed, "the load finished before the kill"
    current, exports, _ = before
    assert content(root) == current
    assert as_of_exports(root) == exports
    assert list((root / "_loads").glob("*.json"))  # the journal tells the next load what to undo
    recover(root)
    assert_as_before(root, before, files_left=True)
    result = load_organization_export(export, root, export_gid="g2", chunk_bytes=CHUNK)
    assert result["tables"]["task"]["version"] >= 2


def test_a_load_killed_while_committing_is_undone_by_the_next_load(lake):
    root, export = lake
    before = snapshot_of(root)
    versions = {name: table(root, name).version() for name in delta_tables(root)}

    def committed_one() -> bool:
        return any(
            (root / name / "_delta_log" / f"{v + 1:020d}.json").exists() for name, v in versions.items()
        )

    killed = kill_when(root, export, committed_one)

    assert killed, "the load finished before the kill"
    assert as_of_exports(root) == before[1]  # through _exports, readers never see half a load
    result = load_organization_export(export, root, export_gid="g2", chunk_bytes=CHUNK)  # undoes, then loads
    assert result["already_loaded"] is False
    assert [
        e["export_gid"]
        for e in sorted(table(root, "_exports").to_pyarrow_table().to_pylist(), key=lambda e: e["loaded_at"])
    ] == ["g0", "g1", "g2"]


def test_an_undo_refuses_to_touch_versions_another_writer_made(lake, tmp_path):
    from airflow_provider_asana.tables.journal import undo_table

    root, _ = lake
    version = table(root, "team").version()
    with pytest.raises(LakeTablesError, match="were not all made by that load"):
        undo_table(
            resolve_tables_root(root),
            resolve_tables_root(root).filesystem(),
            "team",
            version - 1,
            "load-x",
            "g",
        )
    assert table(root, "team").version() == version
