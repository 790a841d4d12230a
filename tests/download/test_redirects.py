"""Redirects from the download host: each hop must travel encrypted, as the download URL itself must."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import traceback

import pytest
import responses

from airflow_provider_asana.exceptions import AsanaDownloadError
from airflow_provider_asana.hooks.asana import AsanaHook

from tests.conftest import WORKSPACE, set_asana_connection

BASE = "https://asana.test/api/1.0"
EXPORT_GID = "1300000000000001"
SIGNATURE = "cafef00dsignature42"
URL = f"https://s3.test/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
BODY = gzip.compress(b'{"__type": "Domain"}\n')

pytestmark = pytest.mark.usefixtures("restore_secrets_masker")


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def _finished(api: str, url: str) -> dict:
    return {
        "data": {
            "gid": EXPORT_GID,
            "state": "finished",
            "download_url": url,
            "organization": {"gid": WORKSPACE},
        }
    }


def _fetched(rsps) -> list[str]:
    return [call.request.url.split("?")[0] for call in rsps.calls]


@pytest.mark.parametrize("status", [301, 302, 307])
def test_redirect_to_plain_http_is_refused_without_echoing_the_url(
    asana_conn, rsps, tmp_path, caplog, status
):
    caplog.set_level(logging.DEBUG)
    hop = f"http://s3-mirror.test/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
    rsps.get(f"{BASE}/organization_exports/{EXPORT_GID}", json=_finished(BASE, URL))
    rsps.get(URL, status=status, headers={"Location": hop})
    rsps.get(hop, body=BODY, headers={"Content-Length": str(len(BODY))})

    with pytest.raises(AsanaDownloadError) as raised:
        AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))

    text = str(raised.value)
    assert "redirected to a URL that is not https" in text
    assert "'http'" in text
    assert "s3-mirror.test" in text
    told = text + "".join(traceback.format_exception(raised.value)) + caplog.text
    assert SIGNATURE not in told
    assert "/exports/" not in text
    assert _fetched(rsps) == [
        f"{BASE}/organization_exports/{EXPORT_GID}",
        URL.split("?")[0],
    ]  # hop never asked
    assert os.listdir(tmp_path) == []


def test_redirect_to_https_is_followed(asana_conn, rsps, tmp_path):
    hop = f"https://s3-mirror.test/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
    rsps.get(f"{BASE}/organization_exports/{EXPORT_GID}", json=_finished(BASE, URL))
    rsps.get(URL, status=307, headers={"Location": hop})
    rsps.get(hop, body=BODY, headers={"Content-Length": str(len(BODY))})

    result = AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))

    assert result["sha256"] == hashlib.sha256(BODY).hexdigest()
    assert _fetched(rsps) == [
        f"{BASE}/organization_exports/{EXPORT_GID}",
        URL.split("?")[0],
        hop.split("?")[0],
    ]
    assert "Authorization" not in rsps.calls[2].request.headers


def test_plain_http_redirect_is_followed_from_a_loopback_emulator(monkeypatch, rsps, tmp_path):
    api = "http://127.0.0.1:9/api/1.0"
    url = f"http://127.0.0.1:9/exports/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
    hop = f"http://127.0.0.1:9/mirror/{EXPORT_GID}/export.json.gz?X-Amz-Signature={SIGNATURE}"
    set_asana_connection(monkeypatch, host=api, extra={"workspace": WORKSPACE, "retry_backoff": 0.001})
    rsps.get(f"{api}/organization_exports/{EXPORT_GID}", json=_finished(api, url))
    rsps.get(url, status=302, headers={"Location": hop})
    rsps.get(hop, body=BODY, headers={"Content-Length": str(len(BODY))})

    result = AsanaHook().download_organization_export(EXPORT_GID, str(tmp_path / "export.json.gz"))

    assert result["bytes"] == len(BODY)
    assert _fetched(rsps)[-1] == hop.split("?")[0]
