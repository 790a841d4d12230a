from __future__ import annotations

import hashlib
import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests

from tests.emulator.helpers import Api


def _xml_code(response: requests.Response) -> str:
    assert response.headers["Content-Type"] == "application/xml"
    text = response.text
    return text[text.index("<Code>") + 6 : text.index("</Code>")]


def _with_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    query[name] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_download_serves_the_export_file_byte_for_byte(api: Api) -> None:
    gid, url = api.finished_export()

    response = requests.get(url, timeout=10)

    path = api.emulator.export_file(gid)
    assert response.status_code == 200
    assert response.content == path.read_bytes()
    assert hashlib.sha256(response.content).hexdigest() == api.emulator.export_sha256(gid)
    assert int(response.headers["Content-Length"]) == path.stat().st_size == 64 << 10


def test_download_headers_are_s3_like(api: Api) -> None:
    gid, url = api.finished_export()

    response = requests.get(url, timeout=10)

    headers = response.headers
    assert headers["Content-Type"] == "application/gzip"
    assert "Content-Encoding" not in headers
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"] == f'"{api.emulator.export_etag(gid)}"'
    assert headers["ETag"] == f'"{hashlib.md5(response.content).hexdigest()}"'
    assert headers["Server"] == "AmazonS3"
    assert headers["x-amz-request-id"]
    assert headers["Last-Modified"].endswith(" GMT")


def test_etag_is_stable_across_urls_and_differs_between_exports_of_a_sequence(api: Api) -> None:
    first_gid, first = api.finished_export()
    again = api.get_export(first_gid).json()["data"]["download_url"]
    second_gid, second = api.finished_export()

    etags = [requests.head(url, timeout=10).headers["ETag"] for url in (first, again, second, first)]

    assert etags[0] == etags[1] == etags[3] == f'"{api.emulator.export_etag(first_gid)}"'
    assert etags[2] == f'"{api.emulator.export_etag(second_gid)}"' != etags[0]


def test_head_sends_headers_without_a_body(api: Api) -> None:
    _, url = api.finished_export()

    response = requests.head(url, timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Length"] == str(64 << 10)
    assert response.content == b""


@pytest.mark.parametrize(
    ("header", "first", "last"),
    [("bytes=0-0", 0, 0), ("bytes=100-199", 100, 199), ("bytes=65000-", 65000, 65535), ("bytes=-10", 65526, 65535),
     ("bytes=65500-99999", 65500, 65535), ("bytes=-100000", 0, 65535)],
)  # fmt: skip
def test_range_requests_answer_206_with_the_right_bytes(api: Api, header: str, first: int, last: int) -> None:
    gid, url = api.finished_export()
    whole = api.emulator.export_file(gid).read_bytes()

    response = requests.get(url, headers={"Range": header}, timeout=10)

    assert response.status_code == 206
    assert response.headers["Content-Range"] == f"bytes {first}-{last}/{len(whole)}"
    assert response.headers["Content-Length"] == str(last - first + 1)
    assert response.content == whole[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=65536-", "bytes=70000-70010", "bytes=-0"])
def test_unsatisfiable_range_is_416(api: Api, header: str) -> None:
    _, url = api.finished_export()

    response = requests.get(url, headers={"Range": header}, timeout=10)

    assert response.status_code == 416
    assert response.headers["Content-Range"] == f"bytes */{64 << 10}"
    assert _xml_code(response) == "InvalidRange"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1", "bytes=9-3"])
def test_unsupported_ranges_get_the_whole_object(api: Api, header: str) -> None:
    _, url = api.finished_export()

    response = requests.get(url, headers={"Range": header}, timeout=10)

    assert response.status_code == 200
    assert len(response.content) == 64 << 10


def test_if_range_with_a_stale_etag_sends_the_whole_object(api: Api) -> None:
    _, url = api.finished_export()
    etag = requests.head(url, timeout=10).headers["ETag"]

    fresh = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": etag}, timeout=10)
    stale = requests.get(url, headers={"Range": "bytes=0-9", "If-Range": '"0000"'}, timeout=10)

    assert (fresh.status_code, len(fresh.content)) == (206, 10)
    assert (stale.status_code, len(stale.content)) == (200, 64 << 10)


def test_if_match_mismatch_is_412(api: Api) -> None:
    _, url = api.finished_export()

    assert requests.get(url, headers={"If-Match": '"0000"'}, timeout=10).status_code == 412


def test_authorization_header_is_400_invalid_argument(api: Api) -> None:
    _, url = api.finished_export()

    response = requests.get(url, headers={"Authorization": f"Bearer {api.emulator.token}"}, timeout=10)

    assert response.status_code == 400
    assert _xml_code(response) == "InvalidArgument"
    assert "Only one auth mechanism allowed" in response.text
    assert api.emulator.token not in response.text


@pytest.mark.parametrize(
    "param", ["X-Amz-Signature", "X-Amz-Date", "X-Emulator-Expires-At-Ms", "X-Amz-Expires"]
)
def test_tampered_url_is_403_signature_does_not_match(api: Api, param: str) -> None:
    _, url = api.finished_export()
    original = parse_qs(urlsplit(url).query)[param][0]
    tampered = _with_param(url, param, original[:-1] + ("1" if original[-1] != "1" else "2"))

    response = requests.get(tampered, timeout=10)

    assert response.status_code == 403
    assert _xml_code(response) == "SignatureDoesNotMatch"


def test_url_of_another_export_path_is_403(api: Api) -> None:
    _, url = api.finished_export()
    other_gid, _ = api.finished_export()
    parts = urlsplit(url)

    other_path = f"/exports/{other_gid}/organization_export.json.gz"
    response = requests.get(urlunsplit(parts._replace(path=other_path)), timeout=10)

    assert _xml_code(response) == "SignatureDoesNotMatch"


def test_missing_query_auth_is_403_and_partial_is_400(api: Api) -> None:
    gid, url = api.finished_export()
    bare = f"{api.emulator.download_base}/exports/{gid}/organization_export.json.gz"
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items() if k != "X-Amz-Credential"}

    anonymous = requests.get(bare, timeout=10)
    partial = requests.get(bare + "?" + urlencode(query), timeout=10)

    assert (anonymous.status_code, _xml_code(anonymous)) == (403, "AccessDenied")
    assert (partial.status_code, _xml_code(partial)) == (400, "AuthorizationQueryParametersError")


def test_url_expires_after_its_ttl(asana_emulator_factory) -> None:
    api = Api(asana_emulator_factory(url_ttl=0.3))
    _, url = api.finished_export()

    assert requests.get(url, timeout=10).status_code == 200
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["1"]
    time.sleep(0.35)
    expired = requests.get(url, timeout=10)

    assert expired.status_code == 403
    assert _xml_code(expired) == "AccessDenied"
    assert "<Message>Request has expired</Message>" in expired.text
    assert "<X-Amz-Expires>1</X-Amz-Expires>" in expired.text


def test_non_get_methods_are_405(api: Api) -> None:
    _, url = api.finished_export()

    response = requests.put(url, data=b"x", timeout=10)

    assert response.status_code == 405
    assert _xml_code(response) == "MethodNotAllowed"


def test_download_connections_are_kept_alive(api: Api) -> None:
    _, url = api.finished_export()
    api.emulator.clear_requests()

    with requests.Session() as session:
        for _ in range(3):
            session.get(url, headers={"Range": "bytes=0-99"}, timeout=10)

    downloads = [r for r in api.emulator.requests if r.host == "download"]
    assert len(downloads) == 3
    assert len({r.connection_id for r in downloads}) == 1
    assert [r.range for r in downloads] == ["bytes=0-99"] * 3
    assert all(r.status == 206 and not r.authorization for r in downloads)


def test_a_large_export_streams_at_disk_speed(asana_emulator_factory) -> None:
    emulator = asana_emulator_factory(export_size=32 << 20, polls_to_finish=1)
    api = Api(emulator)
    gid, url = api.finished_export()

    digest = hashlib.sha256()
    started = time.monotonic()
    with requests.get(url, stream=True, timeout=10) as response:
        for block in response.iter_content(1 << 20):
            digest.update(block)
    elapsed = time.monotonic() - started

    assert digest.hexdigest() == emulator.export_sha256(gid)
    assert elapsed < 5


def test_download_falls_back_when_sendfile_is_unavailable(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def unavailable(*args, **kwargs):
        raise socket._GiveupOnSendfile("os.sendfile() not available on this platform")

    gid, url = api.finished_export()
    monkeypatch.setattr(socket.socket, "_sendfile_use_sendfile", unavailable)

    whole = requests.get(url, timeout=10)
    ranged = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)

    data = api.emulator.export_file(gid).read_bytes()
    assert whole.content == data
    assert ranged.content == data[10:20]


@pytest.mark.parametrize("method", ["POST", "DELETE", "PATCH", "TRACE", "PROPFIND", "FOO"])
def test_every_other_method_is_405_in_s3_xml(api: Api, method: str) -> None:
    _, url = api.finished_export()

    response = requests.request(method, url, timeout=10)

    assert response.status_code == 405
    assert _xml_code(response) == "MethodNotAllowed"
    assert response.headers["Allow"] == "GET, HEAD"
    assert "x-amz-request-id" in response.headers
