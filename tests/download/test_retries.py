"""The download under the one retry policy, against the emulator: stalls, not attempts, end a download."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.hooks.asana import AsanaHook

from tests.download.support import connect, downloads, finished_export, same_bytes, temporaries

MIB = 1 << 20


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "landing" / "export.json.gz"


def test_requests_that_get_further_do_not_count_as_stalls(asana_emulator_factory, monkeypatch, dest):
    emu = asana_emulator_factory(export_size=MIB)
    connect(monkeypatch, emu)  # 4 download stalls allowed
    hook = AsanaHook()
    gid = finished_export(hook, emu)
    emu.set_faults(drop_download=5, drop_after_bytes=100_000)

    hook.download_organization_export(gid, dest)

    # Five broken requests, more than the 4 stalls allowed: each brought 100,000 new bytes.
    assert [(r.status, r.range) for r in downloads(emu)] == [(200, None)] + [
        (206, f"bytes={n * 100_000}-") for n in range(1, 6)
    ]
    assert same_bytes(dest, emu.export_file(gid))


def test_max_download_stalls_not_max_attempts_ends_a_download(asana_emulator_factory, monkeypatch, dest):
    emu = asana_emulator_factory()
    connect(monkeypatch, emu, max_attempts=1, max_download_stalls=3)
    hook = AsanaHook()
    gid = finished_export(hook, emu)
    emu.set_faults(expire_urls=100)

    with pytest.raises(AsanaDownloadError, match="3 requests in a row made no progress") as raised:
        hook.download_organization_export(gid, dest)

    assert "max_download_stalls" in str(raised.value)
    assert [r.status for r in downloads(emu)] == [403] * 3
    assert not dest.exists()
    assert temporaries(dest.parent) == []
