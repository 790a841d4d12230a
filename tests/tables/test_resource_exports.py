"""Resource exports upserted into ``resources/<type>`` tables: de-duplication, change rows, idempotence, undo."""

from __future__ import annotations

import pytest

from airflow_provider_asana.tables import load_resource_export, recover
from airflow_provider_asana.tables.errors import BadLineError, LakeTablesError

from tests.tables.helpers import rows, table, write_lines
from tests.tables.resource_lines import line, message, task, team


def load(path, root, gid, **kwargs):
    return load_resource_export(
        path, root, export_gid=gid, export_created_at="2026-11-29T10:00:00Z", **kwargs
    )


@pytest.fixture
def first(tmp_path):
    """A tables root with one resource export loaded: 10 tasks, a team, a message."""
    root = tmp_path / "lake"
    export = write_lines(
        tmp_path / "first.json.gz", [line(task(i)) for i in range(10)] + [line(team(1)), line(message(1))]
    )
    result = load(export, root, "1")
    return root, result


def by_gid(root, name="task"):
    return {r["gid"]: r for r in rows(root, f"resources/{name}")}


def changes(root, gid, name="task"):
    return sorted(
        (c["_change_type"], c["gid"])
        for c in rows(root, f"resources/_changes/{name}")
        if c["_export_gid"] == gid
    )


def test_the_first_load_inserts_every_object_into_its_resource_type_table(first):
    root, result = first
    assert {n: (t["rows"], t["inserted"], t["updated"], t["deleted"]) for n, t in result["tables"].items()} == {
        "task": (10, 10, 0, 0), "team": (1, 1, 0, 0), "message": (1, 1, 0, 0),
    }  # fmt: skip
    tasks = by_gid(root)
    assert "stories" not in tasks[task(3)["gid"]]  # stories and attachments have their own tables
    stories = [r for r in rows(root, "resources/task_story") if r["_parent_gid"] == task(3)["gid"]]
    assert sorted(r["text"].split(":")[0] for r in stories) == ["comment 0 on task 3", "comment 1 on task 3"]
    assert stories[0]["created_by"]["resource_type"] == "user"
    assert len(rows(root, "resources/task_story")) == 20
    assert len(rows(root, "resources/task_attachment")) == 3  # tasks 0, 4, 8
    assert result["tables"]["task"]["children"]["task_story"] == {"rows": 20, "written": 20, "version": 0}
    assert by_gid(root, "team")[team(1)["gid"]]["members"][0]["name"] == "User 0"
    assert len(changes(root, "1")) == 10


def test_an_overlapping_window_writes_only_what_changed(first, tmp_path):
    root, _ = first
    version = table(root, "resources/task").version()
    files_before = set(table(root, "resources/task").file_uris())
    overlap = [line(task(i)) for i in range(3)]  # the same objects again, unchanged
    changed = [line(task(i, minute=30, name="renamed")) for i in (3, 4)]
    new = [line(task(i, minute=30)) for i in (10, 11)]
    result = load(write_lines(tmp_path / "second.json.gz", overlap + changed + new), root, "2")

    counts = result["tables"]["task"]
    assert (counts["rows"], counts["inserted"], counts["updated"]) == (12, 2, 2)
    assert counts["version"] == version + 1
    assert changes(root, "2") == sorted(
        [
            ("update", task(3)["gid"]),
            ("update", task(4)["gid"]),
            ("insert", task(10)["gid"]),
            ("insert", task(11)["gid"]),
        ]
    )
    tasks = by_gid(root)
    assert len(tasks) == len(rows(root, "resources/task")) == 12  # one row per gid: replaced rows are gone
    assert tasks[task(3)["gid"]]["name"] == "renamed"
    assert tasks[task(3)["gid"]]["_export_gid"] == "2"
    assert tasks[task(0)["gid"]]["_export_gid"] == "1"  # an unchanged object keeps the export that wrote it
    assert set(table(root, "resources/task").file_uris()) - files_before  # copy-on-write: new files
    assert "team" not in result["tables"]  # a kind the export does not hold is left alone
    assert table(root, "resources/team").version() == 0


def test_an_updated_task_replaces_its_stories_and_keeps_the_others(first, tmp_path):
    root, _ = first
    version = table(root, "resources/task_story").version()
    fewer = task(3, minute=30, stories=1)  # one story left on task 3
    more = task(4, minute=30, stories=3)
    load(write_lines(tmp_path / "second.json.gz", [line(fewer), line(more)]), root, "2")

    stories = rows(root, "resources/task_story")
    per_task: dict[str, list[str]] = {}
    for r in stories:
        per_task.setdefault(r["_parent_gid"], []).append(r["gid"])
    assert sorted(per_task[fewer["gid"]]) == [fewer["gid"] + "000"]
    assert sorted(per_task[more["gid"]]) == [more["gid"] + f"{i:03d}" for i in range(3)]
    assert len(stories) == 20 - 2 - 2 + 1 + 3
    assert {r["_export_gid"] for r in stories if r["_parent_gid"] == task(0)["gid"]} == {"1"}
    assert table(root, "resources/task_story").version() == version + 1


def test_the_same_objects_again_commit_nothing(first, tmp_path):
    root, _ = first
    version = table(root, "resources/task").version()
    again = write_lines(tmp_path / "again.json.gz", [line(task(i)) for i in range(10)])
    result = load(again, root, "2")
    assert (result["tables"]["task"]["inserted"], result["tables"]["task"]["updated"]) == (0, 0)
    assert table(root, "resources/task").version() == version
    assert table(root, "resources/task_story").version() == 0
    assert changes(root, "2") == []


def test_a_rerun_of_the_same_export_is_idempotent(first, tmp_path):
    root, result = first
    versions = {n: table(root, f"resources/{n}").version() for n in ("task", "team", "message")}
    again = load(tmp_path / "first.json.gz", root, "1")
    assert again["already_loaded"] is True
    assert again["tables"] == result["tables"]
    assert {n: table(root, f"resources/{n}").version() for n in versions} == versions


def test_duplicates_in_one_file_keep_the_latest_and_older_records_are_left_out(first, tmp_path):
    root, _ = first
    lines = [
        line(task(5, minute=40, name="latest")),
        line(task(5, minute=20, name="earlier")),  # a second filter matched it: an older copy
        line(task(6, minute=50, name="six")),
    ]
    result = load(write_lines(tmp_path / "dups.json.gz", lines), root, "2")
    assert result["tables"]["task"]["duplicates"] == 1
    assert by_gid(root)[task(5)["gid"]]["name"] == "latest"

    older = write_lines(tmp_path / "older.json.gz", [line(task(6, minute=45, name="older six"))])
    result = load(older, root, "3")  # an export made before the last one, loaded after it
    assert (result["tables"]["task"]["updated"], result["tables"]["task"]["stale"]) == (0, 1)
    assert by_gid(root)[task(6)["gid"]]["name"] == "six"


def test_a_field_null_in_the_first_load_takes_its_type_later(first, tmp_path):
    root, _ = first  # every task had "parent": null, every message "stories": []
    sub = task(20, minute=5, parent={"gid": task(1)["gid"], "resource_type": "task", "name": "Task 1"})
    msg = message(2, minute=5)
    msg["stories"] = [{"gid": "1", "resource_type": "story", "text": "a reply"}]
    load(write_lines(tmp_path / "later.json.gz", [line(sub), line(msg)]), root, "2")
    tasks = by_gid(root)
    assert tasks[sub["gid"]]["parent"] == sub["parent"]  # a struct, not JSON text
    assert tasks[task(0)["gid"]]["parent"] is None
    (reply,) = rows(root, "resources/message_story")  # no message had a story before: a new table
    assert {k: reply[k] for k in ("_parent_gid", "gid", "text")} == {
        "_parent_gid": msg["gid"],
        "gid": "1",
        "text": "a reply",
    }
    assert (
        "parent"
        not in load(write_lines(tmp_path / "x.json.gz", [line(task(21))]), root, "3")["tables"]["task"][
            "drifted_columns"
        ]
    )


def test_a_line_without_a_gid_fails_naming_it(tmp_path):
    obj = task(1)
    del obj["gid"]
    export = write_lines(tmp_path / "bad.json.gz", [line(task(0)), line(obj)])
    with pytest.raises(
        BadLineError, match="line 2 of the export is not a JSON object with a resource_type and a gid: no gid"
    ):
        load(export, tmp_path / "lake", "1")
    assert not (tmp_path / "lake" / "resources" / "task").exists()


def test_objects_without_a_resource_type_need_the_argument(tmp_path):
    objs = [{"gid": "11", "name": "a"}, {"gid": "12", "name": "b"}]
    export = write_lines(tmp_path / "fields.json.gz", [line(o) for o in objs])
    with pytest.raises(BadLineError, match="no resource_type field"):
        load(export, tmp_path / "lake", "1")
    result = load(export, tmp_path / "lake", "1", resource_type="task")
    assert result["tables"]["task"]["inserted"] == 2


def test_a_failed_commit_leaves_the_previous_version_readable(first, tmp_path):
    root, _ = first
    before = rows(root, "resources/task")
    version = table(root, "resources/task").version()
    obstacle = (
        root
        / "resources"
        / "_exports"
        / "_delta_log"
        / f"{table(root, 'resources/_exports').version() + 1:020d}.json"
    )
    obstacle.mkdir()  # the next log entry is taken: the last commit of the load fails
    export = write_lines(tmp_path / "second.json.gz", [line(task(i, minute=9, name="new")) for i in range(4)])
    with pytest.raises(LakeTablesError, match="put back as it was"):
        load(export, root, "2")
    obstacle.rmdir()
    assert sorted(map(str, rows(root, "resources/task"))) == sorted(map(str, before))
    assert table(root, "resources/task").history(1)[0]["operation"] == "RESTORE"
    assert table(root, "resources/task_story").history(1)[0]["operation"] == "RESTORE"
    assert sorted(map(str, rows(root, "resources/task", version))) == sorted(map(str, before))
    result = load(export, root, "2")
    assert result["tables"]["task"]["updated"] == 4


def test_recover_undoes_a_killed_resource_load(first, tmp_path):
    """A load killed after its task commit: its journal stays; ``recover`` puts the table back."""
    import json

    root, _ = first
    before = sorted(map(str, rows(root, "resources/task")))
    version = table(root, "resources/task").version()
    export = write_lines(tmp_path / "second.json.gz", [line(task(i, minute=9, name="new")) for i in range(4)])
    obstacle = (
        root
        / "resources"
        / "_exports"
        / "_delta_log"
        / f"{table(root, 'resources/_exports').version() + 1:020d}.json"
    )
    obstacle.mkdir()
    journal_copy = {}

    import airflow_provider_asana.tables.journal as journal

    real_undo = journal.undo_load

    def killed(root_, fs, j):  # the process dies before it can undo: only the journal is left
        journal_copy.update(j)
        raise KeyboardInterrupt

    journal.undo_load = killed
    try:
        with pytest.raises(KeyboardInterrupt):
            load(export, root, "2")
    finally:
        journal.undo_load = real_undo
    obstacle.rmdir()
    assert table(root, "resources/task").version() == version + 1  # the new version is there...
    assert list((root / "resources" / "_loads").glob("*.json"))
    assert json.loads(next((root / "resources" / "_loads").glob("*.json")).read_text())["export_gid"] == "2"
    recover(root)  # ...and undone
    assert sorted(map(str, rows(root, "resources/task"))) == before
    assert not list((root / "resources" / "_loads").glob("*.json"))


KILLED_LOADER = """
import sys
from airflow_provider_asana.tables import load_resource_export
load_resource_export(sys.argv[1], sys.argv[2], export_gid="2", chunk_bytes=64 << 10)
"""


def test_a_load_killed_after_its_first_commit_leaves_the_previous_version_readable(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "lake"
    load(write_lines(tmp_path / "first.json.gz", [line(task(i, stories=4)) for i in range(400)]), root, "1")
    before = {n: sorted(map(str, rows(root, f"resources/{n}"))) for n in ("task", "task_story")}
    second = write_lines(
        tmp_path / "second.json.gz", [line(task(i, minute=9, stories=6)) for i in range(400)]
    )
    entry = root / "resources" / "task" / "_delta_log" / f"{1:020d}.json"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOADER, str(second), str(root)], stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while child.poll() is None and time.monotonic() < deadline and not entry.exists():
            time.sleep(0.001)
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL, "the load finished before the kill"
    assert table(root, "resources/task").version() == 1  # committed, but not in _exports
    exports = rows(root, "resources/_exports")
    assert [e["export_gid"] for e in exports] == ["1"]
    as_of = {t["table"]: t["version"] for t in exports[0]["tables"]}
    for name in before:
        assert sorted(map(str, rows(root, f"resources/{name}", as_of[name]))) == before[name]

    recover(root)  # what the next load does first

    assert {n: sorted(map(str, rows(root, f"resources/{n}"))) for n in before} == before
    result = load(second, root, "2")
    assert result["tables"]["task"]["updated"] == 400


def test_types_that_widen_between_staged_files_upsert_into_one_typed_table(tmp_path):
    early = [task(i, stories=0, parent=None, followers=[]) for i in range(6)]  # "stories": [], "parent": null
    for obj in early[:3]:
        obj["stories"] = [{"gid": f"{obj['gid']}1", "resource_type": "story", "num_likes": None}]
    late = [task(i, stories=2) for i in range(6, 12)]
    for obj in late:
        for story in obj["stories"]:
            story["num_likes"] = 3
    late[0]["parent"] = {"gid": task(0)["gid"], "resource_type": "task", "name": "Task 0"}
    late[1]["followers"] = [{"gid": "9", "resource_type": "user", "name": "Nine"}]
    export = write_lines(tmp_path / "widening.json.gz", [line(o) for o in early + late])

    result = load(export, tmp_path / "lake", "1", chunk_bytes=2048)  # a few lines a chunk: several files

    root = tmp_path / "lake"
    assert result["tables"]["task"]["drifted_columns"] == {}
    tasks = by_gid(root)
    assert tasks[late[0]["gid"]]["parent"] == late[0]["parent"]  # a struct, not JSON text
    assert tasks[late[1]["gid"]]["followers"] == late[1]["followers"]  # empty arrays before: typed later
    assert tasks[early[0]["gid"]]["followers"] == []
    stories = rows(root, "resources/task_story")
    assert len(stories) == 3 + 2 * 6
    assert sorted({r["num_likes"] for r in stories}, key=str) == [3, None]  # an integer column
