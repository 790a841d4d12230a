from __future__ import annotations

import argparse
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from airflow_provider_asana.emulator.cli import build_parser, faults_from, parse_size
from airflow_provider_asana.emulator.lifecycle import ChangeRates


@pytest.mark.parametrize(
    ("text", "size"),
    [("1048576", 1 << 20), ("10MiB", 10 << 20), ("1GiB", 1 << 30), ("500KB", 500_000), ("64k", 64 << 10),
     ("2 MB", 2_000_000), ("1.5KiB", 1536), ("7b", 7)],
)  # fmt: skip
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "10XB", "-1", "1e6"])
def test_parse_size_rejects_junk(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_size(text)


def test_every_fault_flag_reaches_faults() -> None:
    args = build_parser().parse_args(
        "--rate-limit 2 --rate-limit-methods get --retry-after 3 --server-error 1 --server-error-status 503 "
        "--server-error-methods POST --html-error 4 --html-error-status 504 --latency 0.5 --forbidden "
        "--non-enterprise --export-state error --job-status failed --drop-download 1 --drop-after-bytes 10 --drop-stall 0.2 "
        "--truncate-gzip --bad-lines --expire-urls 2 --ignore-range --slow-download-bps 1000 "
        "--omit-content-length".split()
    )

    assert faults_from(args).as_dict() == {
        "rate_limit": 2, "rate_limit_retry_after": 3.0, "rate_limit_methods": ["GET"],
        "server_error": 1, "server_error_status": 503, "server_error_methods": ["POST"],
        "html_error": 4, "html_error_status": 504, "latency": 0.5, "forbidden": True, "non_enterprise": True,
        "export_state": "error", "job_status": "failed", "drop_download": 1, "drop_after_bytes": 10, "drop_stall": 0.2,
        "truncate_gzip": True, "bad_lines": True, "expire_urls": 2, "ignore_range": True,
        "slow_download_bps": 1000, "omit_content_length": True,
    }  # fmt: skip


def test_change_rates_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["--change-rates", "update=0.2,trash=0"]).change_rates == ChangeRates(
        update=0.2, trash=0
    )
    assert build_parser().parse_args([]).change_rates == ChangeRates()
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--change-rates", "updates=0.2"])
    assert "unknown change rate 'updates'" in capsys.readouterr().err


def test_background_generation_flag() -> None:
    assert build_parser().parse_args([]).prepare_in_background is True
    assert build_parser().parse_args(["--no-background-generation"]).prepare_in_background is False


def test_defaults() -> None:
    args = build_parser().parse_args([])

    assert (args.port, args.download_port, args.export_size, args.polls_to_finish) == (8765, 8766, 1 << 20, 2)
    assert faults_from(args).as_dict() == faults_from(build_parser().parse_args([])).as_dict()
    assert build_parser().parse_args(["--polls-to-finish", "none"]).polls_to_finish is None


def _command() -> list[str]:
    script = Path(sys.executable).with_name("asana-emulator")
    return [str(script)] if script.exists() else [sys.executable, "-m", "airflow_provider_asana.emulator.cli"]


def test_console_script_serves_until_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [*_command(), "--port", "0", "--download-port", "0", "--export-size", "16KiB", "--token", "cli-token",
         "--cache-dir", str(tmp_path / "cache"), "--ready-file", str(ready), "--polls-to-finish", "1",
         "--next-job-sequence", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the emulator never became ready"
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        headers = {"Authorization": "Bearer cli-token"}

        me = requests.get(info["api_url"] + "/users/me", headers=headers, timeout=10)
        created = requests.post(
            info["api_url"] + "/organization_exports",
            json={"data": {"organization": info["organization_gid"]}},
            headers=headers,
            timeout=10,
        ).json()["data"]
        finished = requests.get(
            info["api_url"] + f"/organization_exports/{created['gid']}",
            params={"opt_fields": "download_url"},
            headers=headers,
            timeout=10,
        ).json()["data"]
        download = requests.get(finished["download_url"], timeout=10)
        control = info["api_url"].removesuffix("/api/1.0") + "/_emulator/next_job_sequence"
        next_job = requests.get(control, timeout=10).json()
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)

    assert process.returncode == 0, stderr
    assert me.status_code == 200
    assert next_job == {"sequence": 2}
    assert len(download.content) == 16 << 10
    assert finished["download_url"].startswith(info["download_base"])
    assert info["token"] == "cli-token"
    assert info["non_enterprise_organization_gid"] != info["organization_gid"]
    assert ":0" not in info["api_url"]
    assert ":0/" not in info["download_base"]
    for key in ("api_url", "download_base", "token", "organization_gid", "non_enterprise_organization_gid"):
        assert info[key] in stdout
    (line,) = [line for line in stdout.splitlines() if line.startswith("AIRFLOW_CONN_ASANA_DEFAULT=")]
    connection = json.loads(shlex.split(line.split("=", 1)[1])[0])
    assert connection == {
        "conn_type": "asana",
        "host": info["api_url"],
        "password": "cli-token",
        "extra": {"workspace": info["organization_gid"]},
    }


@pytest.mark.parametrize(
    ("arguments", "named"),
    [(["--export-size", "12"], "export_size"), (["--next-job-sequence", "-1"], "sequence")],
)
def test_bad_arguments_exit_2(arguments: list[str], named: str) -> None:
    result = subprocess.run(
        [*_command(), *arguments], capture_output=True, text=True, timeout=20, check=False
    )

    assert result.returncode == 2
    assert named in result.stderr
