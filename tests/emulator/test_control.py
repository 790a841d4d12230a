"""The request log, in-flight accounting, control endpoints, lifecycle and connection details."""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_asana.emulator import AsanaEmulator, Faults, RequestRecord
from airflow_provider_asana.emulator.cli import build_parser, faults_from
from airflow_provider_asana.emulator.records import token_label

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.faults import Declaration

    from tests.emulator.helpers import Api


def _control(emulator: AsanaEmulator, name: str) -> str:
    return emulator.api_url.removesuffix("/api/1.0") + f"/_emulator/{name}"


def test_request_log_records_both_hosts(api: Api) -> None:
    gid, url = api.finished_export()
    requests.get(url, headers={"Range": "bytes=0-9", "User-Agent": "probe/1"}, timeout=10)

    records = api.emulator.requests

    assert [(r.host, r.method, r.status) for r in records] == [
        ("api", "POST", 201), ("api", "GET", 200), ("api", "GET", 200), ("download", "GET", 206),
    ]  # fmt: skip
    post, poll, _, download = records
    assert isinstance(post, RequestRecord)
    assert post.path == "/api/1.0/organization_exports"
    assert post.authorization
    assert poll.query == {"opt_fields": ["created_at,download_url,organization,organization.name,state"]}
    assert download.path == f"/exports/{gid}/organization_export.json.gz"
    assert not download.authorization
    assert (download.range, download.user_agent) == ("bytes=0-9", "probe/1")
    assert "X-Amz-Signature" in download.query
    assert all(abs(r.time - time.time()) < 60 for r in records)
    with pytest.raises(AttributeError):
        post.status = 500  # type: ignore[misc]


def test_request_log_marks_missing_authorization(asana_emulator) -> None:
    requests.get(asana_emulator.api_url + "/users/me", timeout=10)

    (record,) = asana_emulator.requests
    assert (record.authorization, record.status) == (False, 401)


def test_connection_ids_show_keep_alive_reuse(api: Api) -> None:
    for _ in range(3):
        api.get("/users/me")
    requests.get(api.emulator.api_url + "/users/me", timeout=10)
    with requests.Session() as other:
        other.get(api.emulator.api_url + "/users/me", timeout=10)

    ids = [r.connection_id for r in api.emulator.requests]
    assert ids[0] == ids[1] == ids[2]
    assert len(set(ids)) == 3


def test_clear_requests(api: Api) -> None:
    api.get("/users/me")

    api.emulator.clear_requests()

    assert api.emulator.requests == []


def test_max_in_flight_counts_concurrent_requests_per_token(asana_emulator) -> None:
    asana_emulator.set_faults(latency=0.3)
    barrier = threading.Barrier(5)

    def call(token: str) -> None:
        barrier.wait()
        requests.get(
            asana_emulator.api_url + "/users/me", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    threads = [threading.Thread(target=call, args=(asana_emulator.token,)) for _ in range(4)]
    threads.append(threading.Thread(target=call, args=("other",)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert asana_emulator.max_in_flight(asana_emulator.token) == 4
    assert asana_emulator.max_in_flight("other") == 1
    assert asana_emulator.max_in_flight() == 4
    assert asana_emulator.stats()["max_in_flight"][token_label(asana_emulator.token)] == 4


def test_control_endpoints(api: Api) -> None:
    emulator = api.emulator
    gid, _ = api.finished_export()

    logged = requests.get(_control(emulator, "requests"), timeout=10).json()
    exports = requests.get(_control(emulator, "exports"), timeout=10).json()
    stats = requests.get(_control(emulator, "stats"), timeout=10).json()
    info = requests.get(_control(emulator, "info"), timeout=10).json()

    assert [(r["method"], r["status"]) for r in logged] == [("POST", 201), ("GET", 200), ("GET", 200)]
    assert exports[gid]["state"] == "finished"
    assert exports[gid]["organization"] == emulator.organization_gid
    assert exports[gid]["sha256"] == emulator.export_sha256(gid)
    assert exports[gid]["size"] == 64 << 10
    assert stats["by_method"] == {"api POST": 1, "api GET": 2}
    assert info["api_url"] == emulator.api_url
    assert info["download_base"] == emulator.download_base
    assert len(emulator.requests) == 3

    assert requests.delete(_control(emulator, "requests"), timeout=10).status_code == 200
    assert emulator.requests == []


def test_faults_over_http(api: Api) -> None:
    emulator = api.emulator
    url = _control(emulator, "faults")

    changed = requests.put(
        url, json={"rate_limit": 1, "rate_limit_methods": ["GET"], "latency": 0.01}, timeout=10
    )
    limited = api.get("/users/me")
    rejected = requests.put(url, json={"server_error_status": 418}, timeout=10)
    current = requests.get(url, timeout=10).json()
    cleared = requests.delete(url, timeout=10).json()

    assert changed.status_code == 200
    assert changed.json()["rate_limit_methods"] == ["GET"]
    assert limited.status_code == 429
    assert rejected.status_code == 400
    assert "server_error_status" in rejected.json()["error"]
    assert (current["rate_limit"], current["latency"]) == (0, 0.01)
    assert (cleared["latency"], cleared["rate_limit_methods"]) == (0.0, ["GET", "POST"])
    assert [r.status for r in emulator.requests] == [429]


def test_export_size_over_http_and_in_process(api: Api) -> None:
    emulator = api.emulator
    before, _ = api.finished_export()

    answer = requests.put(_control(emulator, "export_size"), json={"export_size": 20_000}, timeout=10)
    after, url = api.finished_export()

    assert answer.json() == {"export_size": 20_000}
    assert emulator.export_file(before).stat().st_size == 64 << 10
    assert len(requests.get(url, timeout=10).content) == emulator.export_file(after).stat().st_size == 20_000
    with pytest.raises(ValueError, match="export_size must be"):
        emulator.set_export_size(100)


def test_unknown_control_endpoint_is_404(asana_emulator) -> None:
    assert requests.get(_control(asana_emulator, "nope"), timeout=10).status_code == 404


def test_connection_details_round_trip_through_airflow(asana_emulator) -> None:
    from airflow.sdk import Connection

    from_json = Connection.from_json(asana_emulator.connection_json, conn_id="asana_default")
    from_uri = Connection.from_uri(asana_emulator.connection_uri, conn_id="asana_default")

    for connection in (from_json, from_uri):
        assert connection.conn_type == "asana"
        assert connection.host == asana_emulator.api_url
        assert connection.password == asana_emulator.token
        assert connection.extra_dejson == {"workspace": asana_emulator.organization_gid}
    assert json.loads(asana_emulator.connection_json)["extra"] == {"workspace": "1200000000000001"}


def test_lifecycle(asana_emulator_cache_dir) -> None:
    emulator = AsanaEmulator(export_size=64 << 10, cache_dir=asana_emulator_cache_dir)
    with pytest.raises(RuntimeError):
        emulator.api_url

    with emulator as running:
        assert running is emulator
        url = emulator.api_url
        assert urlsplit(url).port == emulator.port != emulator.download_port
        with pytest.raises(RuntimeError):
            emulator.start()
        keep_alive = requests.Session()
        keep_alive.get(url + "/users/me", timeout=10)

    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/users/me", timeout=2)
    emulator.stop()
    keep_alive.close()


def test_fixed_ports_and_conflicts(asana_emulator, asana_emulator_factory) -> None:
    with pytest.raises(OSError, match="Address already in use"):
        asana_emulator_factory(port=asana_emulator.port)


@pytest.mark.parametrize(
    "kwargs",
    [{"token": ""}, {"export_size": 10}, {"polls_to_finish": 0}, {"seconds_to_finish": 0}, {"url_ttl": 0}],
)
def test_invalid_arguments(kwargs: dict) -> None:
    (name,) = kwargs
    with pytest.raises(ValueError, match=f"^{name} must be"):
        AsanaEmulator(**kwargs)


def test_access_log_only_when_verbose(asana_emulator_factory, capfd: pytest.CaptureFixture[str]) -> None:
    quiet = asana_emulator_factory()
    loud = asana_emulator_factory(verbose=True)

    requests.get(quiet.api_url + "/users/me", timeout=10)
    quiet_err = capfd.readouterr().err
    requests.get(loud.api_url + "/users/me", timeout=10)
    loud_err = capfd.readouterr().err

    assert quiet_err == ""
    assert "GET /api/1.0/users/me" in loud_err
    assert "401" in loud_err


# -- every fault, generated from its one declaration -----------------------------------------------------

FAULTS = Faults.declarations()


@pytest.mark.parametrize("fault", FAULTS, ids=[fault.name for fault in FAULTS])
def test_every_declared_fault_has_a_flag_and_a_control_api_key(fault: Declaration, asana_emulator) -> None:
    argv = [fault.flag] if fault.kind == "switch" else [fault.flag, fault.values.example]
    from_flag = faults_from(build_parser().parse_args(argv)).as_dict()[fault.name]
    url = _control(asana_emulator, "faults")

    changed = requests.put(url, json={fault.name: from_flag}, timeout=10)
    current = requests.get(url, timeout=10).json()
    rejected = requests.put(url, json={fault.name: {"not": "a value"}}, timeout=10)
    cleared = requests.delete(url, timeout=10).json()

    assert from_flag != Faults().as_dict()[fault.name]
    assert changed.status_code == 200
    assert changed.json()[fault.name] == current[fault.name] == from_flag
    assert rejected.status_code == 400
    assert f"fault {fault.name} must be" in rejected.json()["error"]
    assert cleared[fault.name] == Faults().as_dict()[fault.name]


@pytest.mark.parametrize("name", Faults.names("counter"))
def test_every_counter_counts_down(name: str) -> None:
    armed: dict[str, Any] = {name: 2}
    faults = Faults(**armed)

    assert [faults.take(name), faults.take(name), faults.take(name)] == [True, True, False]
    assert getattr(faults, name) == 0


def test_faults_are_declared_once_with_distinct_flags() -> None:
    flags = [fault.flag for fault in FAULTS]

    assert len(set(flags)) == len(flags) == len(Faults.names()) > 15
    assert {fault.kind for fault in FAULTS} == {"counter", "switch", "value"}
    assert all(fault.help for fault in FAULTS)
