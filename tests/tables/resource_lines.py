"""Resource-export lines shaped like Asana's API objects (task with stories and attachments, team, message)."""

from __future__ import annotations

import json
import random
from typing import Any


def user(n: int) -> dict[str, Any]:
    return {"gid": str(9000 + n), "resource_type": "user", "name": f"User {n}"}


_WORDS = ["".join(random.Random(i).choices("abcdefghijklmnopqrstuvwxyz", k=3 + i % 7)) for i in range(4000)]


def prose(rng: random.Random, words: int) -> str:
    """Text drawn from a 4,000-word vocabulary: compresses about like real notes and comments."""
    return " ".join(rng.choices(_WORDS, k=words))


def iso(minute: int) -> str:
    return f"2026-11-29T{minute // 60 % 24:02d}:{minute % 60:02d}:00.000Z"


def task(
    n: int, *, minute: int = 0, name: str | None = None, stories: int = 2, **extra: Any
) -> dict[str, Any]:
    """Task ``n`` (gid ``1200000000000000 + n``) as a resource export writes it, modified at ``minute``."""
    gid = str(1_200_000_000_000_000 + n)
    rng = random.Random(n * 7919 + minute)
    obj: dict[str, Any] = {
        "gid": gid,
        "resource_type": "task",
        "name": name if name is not None else f"Task {n} — ünïcode",
        "resource_subtype": "default_task",
        "completed": False,
        "completed_at": None,
        "created_at": iso(0),
        "modified_at": iso(minute),
        "assignee": user(n % 5) if n % 3 else None,
        "parent": None,
        "notes": prose(rng, 30),
        "custom_fields": [
            {
                "gid": "77",
                "resource_type": "custom_field",
                "name": "Cost",
                "type": "number",
                "number_value": n,
            }
        ],
        "memberships": [{"project": {"gid": "55", "resource_type": "project", "name": "Roadmap"}}],
        "stories": [
            {
                "gid": f"{gid}{i:03d}",
                "resource_type": "story",
                "created_at": iso(i),
                "created_by": user(i % 5),
                "resource_subtype": "comment_added",
                "text": f"comment {i} on task {n}: {prose(rng, 12)}",
            }
            for i in range(stories)
        ],
        "attachments": [
            {
                "gid": f"{gid}900",
                "resource_type": "attachment",
                "name": "spec.pdf",
                "host": "asana",
                "size": 1024,
            }
        ]
        if n % 4 == 0
        else [],
    }
    obj.update(extra)
    return obj


def team(n: int, members: int = 3) -> dict[str, Any]:
    return {
        "gid": str(1_300_000_000_000_000 + n),
        "resource_type": "team",
        "name": f"Team {n}",
        "members": [user(i) for i in range(members)],
    }


def message(n: int, *, minute: int = 0) -> dict[str, Any]:
    return {
        "gid": str(1_400_000_000_000_000 + n),
        "resource_type": "message",
        "resource_subtype": "status_update",
        "created_at": iso(0),
        "modified_at": iso(minute),
        "text": f"status {n}",
        "stories": [],
        "attachments": [],
    }


def line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
