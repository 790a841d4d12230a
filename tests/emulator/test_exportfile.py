from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_asana.emulator.cache import ExportCache, default_cache_dir
from airflow_provider_asana.emulator.exportfile import write_export
from airflow_provider_asana.emulator.member import MemberJob

#: The record kinds of Asana's sample export besides its story types.
EXPECTED_TYPES = {
    "Domain", "User", "DomainUser", "VerifiedEmail", "Team", "TeamMembership", "ItemList",
    "ProjectMembership", "Task", "Comment", "Asset", "Heart",
}  # fmt: skip
STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")


def _export(size: int, seed: int = 0, **kwargs) -> bytes:
    out = io.BytesIO()
    write_export(out, size, seed, **kwargs)
    return out.getvalue()


def test_same_size_and_seed_give_the_same_bytes() -> None:
    first, second = _export(300_000, 7), _export(300_000, 7)

    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    assert _export(300_000, 8) != first


@pytest.mark.parametrize("size", [1024, 1500, 10_000, 100_000, 1 << 20, 5 << 20])
def test_size_is_close_to_the_request(size: int) -> None:
    data = _export(size)

    assert len(data) == size
    assert gzip.decompress(data)


def test_every_member_is_exactly_its_share() -> None:
    out = io.BytesIO()

    info = write_export(out, 1 << 20, 0, member_size=8 << 10, workers=1)

    assert info.size == len(out.getvalue()) == 1 << 20
    assert [b - a for a, b in zip(info.members, info.members[1:])] == [8 << 10] * 127


def test_below_one_kib_is_refused() -> None:
    with pytest.raises(ValueError, match="an export must be at least 1024 bytes; got 1023"):
        _export(1023)


def test_every_line_is_an_export_record() -> None:
    lines = gzip.decompress(_export(2 << 20)).decode().splitlines()

    records = [json.loads(line) for line in lines]
    assert records[0]["__type"] == "Domain"
    for record in records:
        assert isinstance(record["__object_id"], int)
        assert STAMP.match(record["__creation_time"])
        assert "__trashed_at" not in record or STAMP.match(record["__trashed_at"])
    types = Counter(record["__type"] for record in records)
    stories = {kind for kind in set(types) - EXPECTED_TYPES if kind.endswith(("Story", "Comment"))}
    assert set(types) == EXPECTED_TYPES | stories
    assert len(stories) >= 30
    assert types.most_common(1)[0][0] == "Task"
    assert sum(types[kind] for kind in stories | {"Comment"}) > types["Task"]
    assert any("__trashed_at" in record for record in records)
    assert len({record["__object_id"] for record in records}) == len(records)


def test_object_ids_refer_to_real_users() -> None:
    records = [json.loads(line) for line in gzip.decompress(_export(1 << 20)).splitlines()]

    users = {r["__object_id"] for r in records if r["__type"] == "User"}
    domain_users = {r["__object_id"]: r for r in records if r["__type"] == "DomainUser"}
    tasks = [r for r in records if r["__type"] == "Task"]
    assert {r["assignee"] for r in tasks if "assignee" in r} <= set(domain_users)
    assert {r["creator_du"] for r in tasks} <= set(domain_users)
    assert {du for r in tasks for du in r["followers_du"]} <= set(domain_users)
    assert {r["user"] for r in domain_users.values()} <= users
    assert {r["__trashed_by"] for r in records if "__trashed_by" in r} <= users


def test_multi_member_file_decodes_fully_with_gzip(tmp_path: Path) -> None:
    artifact = ExportCache(tmp_path, member_size=64 << 10).export(300_000)
    data = artifact.path.read_bytes()

    assert len(artifact.members) == 4
    assert all(data[offset : offset + 2] == b"\x1f\x8b" for offset in artifact.members)
    single = zlib.decompressobj(wbits=31)
    first_member = single.decompress(data)
    assert single.unused_data
    whole = gzip.decompress(data)
    assert len(whole) > len(first_member)
    assert sum(artifact.counts.values()) == len(whole.splitlines())
    assert Counter(json.loads(line)["__type"] for line in whole.splitlines()) == artifact.counts


def test_sidecar_holds_size_etag_sha256_and_counts(tmp_path: Path) -> None:
    artifact = ExportCache(tmp_path).export(100_000, 3)
    data = artifact.path.read_bytes()

    meta = json.loads(Path(str(artifact.path) + ".meta.json").read_text())
    assert artifact.path.name == "export-100000-3.json.gz"
    assert meta["size"] == artifact.size == len(data)
    assert meta["etag"] == artifact.etag == hashlib.md5(data).hexdigest()
    assert meta["sha256"] == artifact.sha256 == hashlib.sha256(data).hexdigest()
    assert meta["counts"] == artifact.counts
    assert sum(meta["counts"].values()) == len(gzip.decompress(data).splitlines())


def test_cached_files_are_reused(tmp_path: Path) -> None:
    first = ExportCache(tmp_path).export(50_000)
    mtime = first.path.stat().st_mtime_ns

    second = ExportCache(tmp_path).export(50_000)

    assert second == first
    assert second.path.stat().st_mtime_ns == mtime


def test_a_stale_or_damaged_cache_entry_is_regenerated(tmp_path: Path) -> None:
    artifact = ExportCache(tmp_path).export(50_000)
    artifact.path.write_bytes(b"damaged")

    again = ExportCache(tmp_path).export(50_000)

    assert again.path.read_bytes() != b"damaged"
    assert hashlib.sha256(again.path.read_bytes()).hexdigest() == artifact.sha256


def test_concurrent_generators_in_threads_agree(tmp_path: Path) -> None:
    results = []
    threads = [
        threading.Thread(target=lambda: results.append(ExportCache(tmp_path).export(2 << 20)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len({artifact.sha256 for artifact in results}) == 1
    assert hashlib.sha256(results[0].path.read_bytes()).hexdigest() == results[0].sha256
    assert not list(tmp_path.glob("*.tmp"))


def test_concurrent_generators_in_processes_agree(tmp_path: Path) -> None:
    script = (
        "import sys; from airflow_provider_asana.emulator.cache import ExportCache; "
        "print(ExportCache(sys.argv[1]).export(3 << 20).sha256)"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    digests = {process.communicate(timeout=60)[0].strip() for process in processes}

    assert len(digests) == 1
    assert hashlib.sha256((tmp_path / "export-3145728-0.json.gz").read_bytes()).hexdigest() == digests.pop()
    assert not list(tmp_path.glob("*.tmp"))


def test_truncated_copy_fails_to_decode(tmp_path: Path) -> None:
    cache = ExportCache(tmp_path, member_size=64 << 10)
    full = cache.export(300_000)
    truncated = cache.truncated(300_000)
    data = truncated.path.read_bytes()

    assert full.path.read_bytes().startswith(data)
    assert 0.59 * full.size <= truncated.size <= 0.61 * full.size
    assert truncated.size not in full.members
    assert truncated.etag == hashlib.md5(data).hexdigest()
    with pytest.raises((EOFError, gzip.BadGzipFile, zlib.error)):
        gzip.decompress(data)


def test_default_cache_dir_honours_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASANA_EMULATOR_CACHE", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"

    monkeypatch.delenv("ASANA_EMULATOR_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "airflow-provider-asana-emulator"


def test_worker_processes_write_the_same_file_as_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_asana.emulator import exportfile, genworker

    started = []
    real = genworker.members_in_processes

    def spy(*args: Any) -> Any:
        started.append(args)
        return real(*args)

    monkeypatch.setattr(exportfile, "PROCESS_THRESHOLD", 0)
    monkeypatch.setattr(exportfile, "members_in_processes", spy)

    in_processes = _export(400_000, 2, member_size=64 << 10, workers=2)
    in_threads = _export(400_000, 2, member_size=64 << 10, workers=1)

    assert len(started) == 1
    assert in_processes == in_threads


def test_threads_take_over_when_processes_cannot_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_asana.emulator import exportfile, genworker

    def no_processes(*args, **kwargs):
        raise OSError("no fork here")

    monkeypatch.setattr(exportfile, "PROCESS_THRESHOLD", 0)
    monkeypatch.setattr(genworker.subprocess, "Popen", no_processes)

    assert _export(200_000, 2, member_size=64 << 10, workers=2) == _export(
        200_000, 2, member_size=64 << 10, workers=1
    )


def test_a_failing_worker_process_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow_provider_asana.emulator import genworker

    monkeypatch.setattr(genworker.sys, "executable", shutil.which("false"))

    jobs = [MemberJob(0, index, 64 << 10, 3) for index in range(3)]
    with pytest.raises(RuntimeError, match="worker stopped early"):
        list(genworker.members_in_processes(jobs, 2))
