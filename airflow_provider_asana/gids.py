"""Asana gids: what one is, and the check that names the argument when a value is not one."""

from __future__ import annotations

import re
from typing import Any

_GID = re.compile(r"[0-9]+")


def is_gid(value: Any) -> bool:
    """Tell whether ``value`` is an Asana gid as Asana sends it: a non-empty string of ASCII digits."""
    return isinstance(value, str) and _GID.fullmatch(value) is not None


def validate_gid(value: Any, argument: str) -> str:
    """
    Return ``value`` if it is an Asana gid (a non-empty string of digits), else raise.

    A non-negative int is accepted and returned as its digits.

    :param value: The candidate gid.
    :param argument: The argument name to put in the error.
    :raises ValueError: ``value`` is not a gid; the message names ``argument`` and the value.
    """
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        value = str(value)
    if not is_gid(value):
        raise ValueError(
            f"{argument} must be an Asana gid, a non-empty string of digits such as '1200000000000001'; "
            f"got {value!r}."
        )
    return value
