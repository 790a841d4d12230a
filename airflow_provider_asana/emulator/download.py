"""The download host: an S3 stand-in serving export files (organization, resource, graph) to presigned URLs."""

from __future__ import annotations

import secrets
import socket
import time
from typing import TYPE_CHECKING, BinaryIO

from airflow_provider_asana.emulator.errors import s3_error
from airflow_provider_asana.emulator.formats import http_date, iso8601_ms
from airflow_provider_asana.emulator.presign import Verdict
from airflow_provider_asana.emulator.ranges import UNSATISFIABLE, parse_range
from airflow_provider_asana.emulator.server import BaseHandler

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.cache import Artifact

XML = "application/xml"
CONTENT_TYPE = "application/gzip"
ONE_AUTH = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string "
    "parameter or the Authorization header should be specified"
)
SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method."
)
INCOMPLETE = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
    "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)
_THROTTLE_TICK = 0.05


class DownloadHandler(BaseHandler):
    """
    GET and HEAD of export files: query authentication, ETag, ranges, and the download faults.

    Bodies go out with :meth:`socket.socket.sendfile`: ``os.sendfile`` where the platform has it (disk
    speed, no copies through Python), a buffered ``send()`` loop otherwise.
    """

    host_kind = "download"
    server_version = "AmazonS3"

    def dispatch(self) -> None:
        if self.command not in ("GET", "HEAD"):
            message = "The specified method is not allowed against this resource."
            self._s3_error(405, "MethodNotAllowed", message, {"Allow": "GET, HEAD"})
            return
        if "Authorization" in self.headers:
            self._s3_error(400, "InvalidArgument", ONE_AUTH, ArgumentName="Authorization")
            return
        check = self.app.signer.check(self.url_path, self.query)
        if check.verdict is Verdict.ANONYMOUS:
            self._s3_error(403, "AccessDenied", "Access Denied")
        elif check.verdict is Verdict.INCOMPLETE:
            self._s3_error(400, "AuthorizationQueryParametersError", INCOMPLETE)
        elif check.verdict is Verdict.BAD_SIGNATURE:
            self._s3_error(403, "SignatureDoesNotMatch", SIGNATURE_MISMATCH)
        elif check.verdict is Verdict.EXPIRED:
            expiry = {
                "X-Amz-Expires": check.expires or "",
                "Expires": iso8601_ms(check.expires_at or 0),
                "ServerTime": iso8601_ms(time.time()),
            }
            self._s3_error(403, "AccessDenied", "Request has expired", None, **expiry)
        else:
            found = self.app.download(check.path or "")
            if found is None:
                self._s3_error(
                    404, "NoSuchKey", "The specified key does not exist.", Key=self.url_path.lstrip("/")
                )
                return
            self._serve(*found)

    def _serve(self, artifact: Artifact, modified: float) -> None:
        faults = self.app.faults
        size = artifact.size
        etag = f'"{artifact.etag}"'
        headers = {
            "ETag": etag,
            "Last-Modified": http_date(modified),
            "Accept-Ranges": "bytes",
            **self._request_ids(),
        }
        if_match = self.headers.get("If-Match")
        if if_match and if_match.strip() != "*" and etag not in if_match:
            message = "At least one of the pre-conditions you specified did not hold"
            self._s3_error(412, "PreconditionFailed", message, Condition="If-Match")
            return
        if_none_match = self.headers.get("If-None-Match")
        if if_none_match and (etag in if_none_match or if_none_match.strip() == "*"):
            self.send_head(304, CONTENT_TYPE, 0, headers)
            return
        wanted = None if faults.ignore_range else self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if wanted and if_range and if_range.strip() != etag:
            wanted = None
        span = parse_range(wanted, size)
        if span == UNSATISFIABLE:
            body = s3_error(
                "InvalidRange", "The requested range is not satisfiable",
                RangeRequested=wanted or "", ActualObjectSize=str(size),
            )  # fmt: skip
            self.send_bytes(416, body, XML, {"Content-Range": f"bytes */{size}", **self._request_ids()})
            return
        first, last = span or (0, size - 1)
        if span is not None:
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
        length = last - first + 1
        announced = None if faults.omit_content_length else length
        self.send_head(206 if span else 200, CONTENT_TYPE, announced, headers)
        if self.command == "HEAD":
            return
        with artifact.path.open("rb") as source:
            if faults.take("drop_download"):
                self._send_then_drop(source, first, length)
            elif faults.slow_download_bps:
                self._send_throttled(source, first, length, faults.slow_download_bps)
            else:
                self.connection.sendfile(source, first, length)

    def _send_then_drop(self, source: BinaryIO, offset: int, length: int) -> None:
        faults = self.app.faults
        cut = faults.drop_after_bytes if faults.drop_after_bytes is not None else length // 2
        cut = max(0, min(cut, length - 1))
        if cut:
            self.connection.sendfile(source, offset, cut)
        if faults.drop_stall:
            time.sleep(faults.drop_stall)
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)
        self.connection.close()

    def _send_throttled(self, source: BinaryIO, offset: int, length: int, rate: int) -> None:
        chunk = max(1, min(1 << 16, int(rate * _THROTTLE_TICK)))
        started = time.monotonic()
        sent = 0
        while sent < length:
            count = min(chunk, length - sent)
            self.connection.sendfile(source, offset + sent, count)
            sent += count
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)

    def _s3_error(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None, **extra: str
    ) -> None:
        self.send_bytes(
            status, s3_error(code, message, **extra), XML, {**(headers or {}), **self._request_ids()}
        )

    @staticmethod
    def _request_ids() -> dict[str, str]:
        return {"x-amz-request-id": secrets.token_hex(8).upper(), "x-amz-id-2": secrets.token_urlsafe(48)}
