from __future__ import annotations

import gzip
import hashlib
import http.client
import threading
import time
import zlib
from urllib.parse import urlsplit

import pytest
import requests

from airflow_provider_asana.emulator import Faults
from airflow_provider_asana.emulator.errors import RATE_LIMIT_MESSAGE

from tests.emulator.helpers import Api


def _read_until_broken(url: str, headers: dict | None = None) -> tuple[int, int, Exception | None]:
    """
    Download with http.client; return (Content-Length, bytes received, the error that ended it).

    (urllib3 drops the bytes of a short final read when it raises, so it cannot count them.)
    """
    parts = urlsplit(url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", f"{parts.path}?{parts.query}", headers=headers or {})
        response = connection.getresponse()
        content_length = response.getheader("Content-Length")
        assert content_length is not None
        length = int(content_length)
        try:
            return length, len(response.read()), None
        except http.client.IncompleteRead as error:
            return length, len(error.partial), error
    finally:
        connection.close()


def test_rate_limit_on_post_answers_429_with_retry_after(api: Api) -> None:
    api.emulator.set_faults(rate_limit=1)

    limited = api.create_export()
    after = api.create_export()

    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "1"
    assert limited.json()["errors"][0]["message"] == RATE_LIMIT_MESSAGE
    assert after.status_code == 201
    assert len(api.emulator.exports) == 1


def test_rate_limit_counts_down_and_honours_methods(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]
    api.emulator.set_faults(rate_limit=2, rate_limit_methods="get", rate_limit_retry_after=0.25)

    post = api.create_export()
    first, second, third = (api.get_export(gid) for _ in range(3))

    assert post.status_code == 201
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "0.25"
    assert api.emulator.faults.rate_limit == 0
    assert api.emulator.exports[gid]["polls"] == 1


def test_integral_retry_after_is_sent_as_an_int(api: Api) -> None:
    api.emulator.set_faults(rate_limit=1, rate_limit_retry_after=7.0)

    assert api.get("/users/me").headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_answers_json_with_a_phrase(api: Api, status: int) -> None:
    api.emulator.set_faults(server_error=1, server_error_status=status)

    failed = api.get("/users/me")
    after = api.get("/users/me")

    error = failed.json()["errors"][0]
    assert failed.status_code == status
    assert error["phrase"]
    assert len(error["phrase"].split()) == 5
    assert error["help"]
    assert after.status_code == 200


def test_server_error_methods_filter(api: Api) -> None:
    api.emulator.set_faults(server_error=1, server_error_methods=("POST",))

    assert api.get("/users/me").status_code == 200
    assert api.create_export().status_code == 500
    assert api.create_export().status_code == 201


def test_only_5xx_errors_carry_a_phrase(api: Api) -> None:
    assert "phrase" not in api.get_export("123").json()["errors"][0]


def test_html_error_answers_a_proxy_page(api: Api) -> None:
    api.emulator.set_faults(html_error=1)

    failed = api.get("/users/me")

    assert failed.status_code == 502
    assert failed.headers["Content-Type"] == "text/html"
    assert "<html>" in failed.text
    assert "502 Bad Gateway" in failed.text
    with pytest.raises(requests.exceptions.JSONDecodeError):
        failed.json()
    assert api.get("/users/me").status_code == 200


def test_html_error_status_is_configurable_and_precedes_auth(asana_emulator) -> None:
    asana_emulator.set_faults(html_error=1, html_error_status=504)

    response = requests.get(asana_emulator.api_url + "/users/me", timeout=10)

    assert response.status_code == 504
    assert "504 Gateway Timeout" in response.text


def test_latency_delays_every_api_request(api: Api) -> None:
    api.emulator.set_faults(latency=0.2)

    started = time.monotonic()
    response = api.get("/users/me")
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed >= 0.2


def test_forbidden_makes_export_calls_403(api: Api) -> None:
    gid = api.create_export().json()["data"]["gid"]
    api.emulator.set_faults(forbidden=True)

    create = api.create_export()
    get = api.get_export(gid)

    assert (create.status_code, get.status_code) == (403, 403)
    assert create.json()["errors"][0]["message"] == "Forbidden"
    assert api.get("/users/me").status_code == 200


def test_non_enterprise_makes_every_org_402(api: Api) -> None:
    api.emulator.set_faults(non_enterprise=True)

    response = api.create_export()

    assert response.status_code == 402
    assert "Enterprise" in response.json()["errors"][0]["message"]


def test_export_state_error_ends_exports_in_error(api: Api) -> None:
    finished_gid, _ = api.finished_export()
    api.emulator.set_faults(export_state="error")
    gid = api.create_export().json()["data"]["gid"]

    states = [api.get_export(gid).json()["data"] for _ in range(3)]

    assert [s["state"] for s in states] == ["started", "error", "error"]
    assert all(s["download_url"] is None for s in states)
    assert api.get_export(finished_gid).json()["data"]["state"] == "finished"


def test_expire_urls_mints_already_expired_urls(api: Api) -> None:
    gid, _ = api.finished_export()
    api.emulator.set_faults(expire_urls=1)

    expired = api.get_export(gid).json()["data"]["download_url"]
    fresh = api.get_export(gid).json()["data"]["download_url"]

    denied = requests.get(expired, timeout=10)
    assert denied.status_code == 403
    assert "<Code>AccessDenied</Code>" in denied.text
    assert "Request has expired" in denied.text
    assert requests.get(fresh, timeout=10).status_code == 200


def test_expire_urls_is_not_consumed_by_gets_without_download_url(api: Api) -> None:
    gid, _ = api.finished_export()
    api.emulator.set_faults(expire_urls=1)

    api.get_export(gid, fields="state")

    assert api.emulator.faults.expire_urls == 1


def test_drop_download_sends_half_then_closes(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(drop_download=1)

    length, received, error = _read_until_broken(url)

    assert length == 64 << 10
    assert received == length // 2
    assert error is not None
    assert _read_until_broken(url) == (length, length, None)


def test_drop_download_breaks_a_requests_stream(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(drop_download=1)

    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        _stream_to_the_end(url)


def _stream_to_the_end(url: str) -> None:
    with requests.get(url, stream=True, timeout=10) as response:
        for _ in response.iter_content(1 << 16):
            pass


def test_drop_download_of_a_range_and_explicit_byte_count(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(drop_download=2, drop_after_bytes=1000)

    ranged = _read_until_broken(url, {"Range": "bytes=100-20099"})
    whole = _read_until_broken(url)

    assert ranged[:2] == (20000, 1000)
    assert ranged[2] is not None
    assert whole[:2] == (64 << 10, 1000)
    assert whole[2] is not None


def test_drop_download_with_nothing_sent(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(drop_download=1, drop_after_bytes=0)

    length, received, error = _read_until_broken(url)

    assert (length, received) == (64 << 10, 0)
    assert error is not None


def test_drop_stall_waits_before_closing(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(drop_download=1, drop_stall=0.3)

    started = time.monotonic()
    _, received, error = _read_until_broken(url)
    elapsed = time.monotonic() - started

    assert error is not None
    assert received == 32 << 10
    assert elapsed >= 0.3


def test_drop_download_spares_head(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(drop_download=1)

    assert requests.head(url, timeout=10).status_code == 200
    assert api.emulator.faults.drop_download == 1


def test_truncate_gzip_serves_a_consistent_but_broken_file(api: Api) -> None:
    gid, url = api.finished_export()
    whole = requests.get(url, timeout=10)
    api.emulator.set_faults(truncate_gzip=True)

    response = requests.get(api.get_export(gid).json()["data"]["download_url"], timeout=10)

    body = response.content
    assert response.status_code == 200
    assert int(response.headers["Content-Length"]) == len(body)
    assert 0.55 * len(whole.content) < len(body) < 0.65 * len(whole.content)
    assert whole.content.startswith(body)
    assert response.headers["ETag"] == f'"{hashlib.md5(body).hexdigest()}"' != whole.headers["ETag"]
    assert api.emulator.export_sha256(gid) == hashlib.sha256(body).hexdigest()
    with pytest.raises((EOFError, gzip.BadGzipFile, zlib.error)):
        gzip.decompress(body)


def test_ignore_range_answers_200_with_everything(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(ignore_range=True)

    response = requests.get(url, headers={"Range": "bytes=0-9"}, timeout=10)

    assert response.status_code == 200
    assert "Content-Range" not in response.headers
    assert len(response.content) == 64 << 10


def test_omit_content_length_sends_the_body_until_the_connection_closes(api: Api) -> None:
    _, url = api.finished_export()
    whole = requests.get(url, timeout=10)
    api.emulator.set_faults(omit_content_length=True)

    response = requests.get(url, timeout=10)

    assert "Content-Length" not in response.headers
    assert "Transfer-Encoding" not in response.headers
    assert response.headers["Connection"] == "close"
    assert response.content == whole.content


def test_slow_download_throttles_the_body(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.set_faults(slow_download_bps=256 << 10)

    started = time.monotonic()
    response = requests.get(url, timeout=10)
    elapsed = time.monotonic() - started

    assert len(response.content) == 64 << 10
    assert 0.2 <= elapsed < 2


def test_faults_are_off_by_default() -> None:
    faults = Faults()

    counters = ("rate_limit", "server_error", "html_error", "drop_download", "expire_urls")
    assert not any(faults.take(name) for name in counters)
    assert (faults.latency, faults.forbidden, faults.non_enterprise, faults.export_state) == (
        0.0,
        False,
        False,
        None,
    )
    assert (faults.truncate_gzip, faults.ignore_range, faults.slow_download_bps) == (False, False, None)
    assert faults.omit_content_length is False


@pytest.mark.parametrize(
    "changes",
    [{"bogus": 1}, {"rate_limit": -1}, {"server_error_status": 418}, {"export_state": "finished"},
     {"latency": "slow"}, {"forbidden": 1}, {"slow_download_bps": 0}, {"rate_limit": True}],
)  # fmt: skip
def test_invalid_faults_are_rejected_atomically(changes: dict) -> None:
    faults = Faults(rate_limit=3)

    (name,) = changes
    with pytest.raises(ValueError, match=name):  # "unknown fault(s): <name>" or "fault <name> must be"
        faults.update(drop_stall=1.0, **changes)

    assert (faults.rate_limit, faults.drop_stall) == (3, 0.0)


def test_constructor_faults_are_live_and_clearable(asana_emulator_factory) -> None:
    faults = Faults()
    emulator = asana_emulator_factory(faults=faults)
    api = Api(emulator)

    faults.update(forbidden=True)
    forbidden = api.create_export().status_code
    emulator.clear_faults()

    assert emulator.faults is faults
    assert forbidden == 403
    assert faults.forbidden is False
    assert api.create_export().status_code == 201


def test_faults_are_not_consumed_by_unauthenticated_requests(asana_emulator) -> None:
    asana_emulator.set_faults(rate_limit=1)

    response = requests.get(asana_emulator.api_url + "/users/me", timeout=10)

    assert response.status_code == 401
    assert asana_emulator.faults.rate_limit == 1


def test_counters_are_consumed_exactly_once_under_contention() -> None:
    faults = Faults(rate_limit=100)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        taken = [faults.take("rate_limit", "GET") for _ in range(50)]
        with lock:
            results.extend(taken)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(results) == 100
    assert faults.rate_limit == 0
