"""``Range: bytes=...`` as S3 reads it: one range, or the whole object."""

from __future__ import annotations

import re

UNSATISFIABLE = (-1, -1)
_SPEC = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """
    Parse the inclusive ``(first, last)`` byte positions a ``Range`` header asks for in ``size`` bytes.

    :return: None to send the whole object (no header, a malformed one, or several ranges, which S3
        ignores); :data:`UNSATISFIABLE` when the range lies outside the object (answer 416).
    """
    if not header:
        return None
    match = _SPEC.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return (max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        return UNSATISFIABLE
    return (start, size - 1 if not last else min(int(last), size - 1))
