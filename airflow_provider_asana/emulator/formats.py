"""Wire formats shared by both hosts: JSON bodies and timestamps."""

from __future__ import annotations

import json
import time


def dumps(body: object, *, pretty: bool = False) -> bytes:
    """Encode a JSON body the way the API does (compact, or indented for ``opt_pretty``)."""
    if pretty:
        return (json.dumps(body, indent=2) + "\n").encode()
    return json.dumps(body, separators=(",", ":")).encode()


def iso8601_ms(epoch: float) -> str:
    """``2012-02-22T02:06:58.147Z``: Asana's date-time format."""
    millis = int(round(epoch * 1000))
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(millis // 1000)) + f".{millis % 1000:03d}Z"


def amz_date(epoch: float) -> str:
    """``20240131T235959Z``: the SigV4 ``X-Amz-Date`` format."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(int(epoch)))


def http_date(epoch: float) -> str:
    """Format an RFC 7231 date, as in ``Last-Modified``."""
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(int(epoch)))
