"""Presigned download URLs in the shape of S3's SigV4 query authentication, signed with a local secret."""

from __future__ import annotations

import enum
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

from airflow_provider_asana.emulator.formats import amz_date

FILE_NAME = "organization_export.json.gz"
#: The objects the download host serves: ``/exports/<gid>/...`` (organization exports), ``/jobs/<gid>/...``.
PATH_PATTERN = re.compile(r"^/(?:exports|jobs)/[0-9]+/[a-z_]+\.jsonl?\.gz$")
#: Expiry with millisecond precision (S3's ``X-Amz-Expires`` is whole seconds), so tests can use 0.3 s TTLs.
EXPIRES_AT_MS = "X-Emulator-Expires-At-Ms"
REQUIRED = (
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
)  # fmt: skip
ALGORITHM = "AWS4-HMAC-SHA256"


class Verdict(enum.Enum):
    """The outcome of checking a download request's query authentication."""

    VALID = "valid"
    ANONYMOUS = "anonymous"
    INCOMPLETE = "incomplete"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"


@dataclass(frozen=True)
class Check:
    """:class:`Verdict` plus what an error answer quotes: the object's path and the expiry."""

    verdict: Verdict
    path: str | None = None
    expires: str | None = None
    expires_at: float | None = None


def export_path(gid: str) -> str:
    """Return the object path of an export's file on the download host."""
    return f"/exports/{gid}/{FILE_NAME}"


class UrlSigner:
    """
    Mints and checks presigned URLs.

    :param base: The download host's base URL, e.g. ``http://127.0.0.1:8766``.
    :param secret: The signing key; random if None (each emulator signs with its own).
    """

    def __init__(self, base: str, secret: bytes | None = None) -> None:
        self.base = base.rstrip("/")
        self._secret = secret or secrets.token_bytes(32)

    def mint(self, path: str, ttl: float, *, now: float | None = None, expired: bool = False) -> str:
        """
        Mint a URL for the object at ``path`` (e.g. :func:`export_path`) valid for ``ttl`` seconds from ``now``.

        :param expired: Date it in the past so that it has already expired when handed out.
        """
        issued = time.time() if now is None else now
        if expired:
            issued -= ttl + 3_600
        stamp = amz_date(issued)
        params = {
            "X-Amz-Algorithm": ALGORITHM,
            "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
            "X-Amz-Credential": f"EMULATOR/{stamp[:8]}/us-east-1/s3/aws4_request",
            "X-Amz-Date": stamp,
            "X-Amz-Expires": str(max(1, math.ceil(ttl))),
            "X-Amz-Security-Token": secrets.token_urlsafe(24),
            "X-Amz-SignedHeaders": "host",
            EXPIRES_AT_MS: str(int((issued + ttl) * 1000)),
            "x-id": "GetObject",
        }
        params["X-Amz-Signature"] = self._sign(path, params)
        query = "&".join(f"{_quote(key)}={_quote(value)}" for key, value in sorted(params.items()))
        return f"{self.base}{path}?{query}"

    def check(self, path: str, query: Mapping[str, list[str]], *, now: float | None = None) -> Check:
        """Check the query authentication of a request for ``path``."""
        params = {key: values[-1] for key, values in query.items() if values}
        if "X-Amz-Algorithm" not in params and "X-Amz-Signature" not in params:
            return Check(Verdict.ANONYMOUS)
        if any(name not in params for name in REQUIRED) or params["X-Amz-Algorithm"] != ALGORITHM:
            return Check(Verdict.INCOMPLETE)
        match = PATH_PATTERN.match(path)
        expected = self._sign(path, {k: v for k, v in params.items() if k != "X-Amz-Signature"})
        if match is None or not hmac.compare_digest(expected, params["X-Amz-Signature"]):
            return Check(Verdict.BAD_SIGNATURE)
        expires_at = int(params.get(EXPIRES_AT_MS, "0")) / 1000
        now = time.time() if now is None else now
        if now >= expires_at:
            return Check(Verdict.EXPIRED, path, params["X-Amz-Expires"], expires_at)
        return Check(Verdict.VALID, path, params["X-Amz-Expires"], expires_at)

    def _sign(self, path: str, params: Mapping[str, str]) -> str:
        canonical = "&".join(f"{_quote(key)}={_quote(value)}" for key, value in sorted(params.items()))
        string_to_sign = f"GET\n{path}\n{canonical}\nhost:\nUNSIGNED-PAYLOAD"
        return hmac.new(self._secret, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _quote(value: str) -> str:
    return quote(value, safe="-_.~")
