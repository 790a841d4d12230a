"""Synthetic export records: newline-delimited JSON shaped like an Asana organization export."""

from __future__ import annotations

import base64
import random
import time
from collections import Counter
from collections.abc import Iterator

ID_BASE = 1_150_000_000_000_000
#: Object ids of one gzip member live in their own block, so members can be generated independently.
IDS_PER_MEMBER = 1 << 24
EPOCH = 1_420_070_400  # 2015-01-01T00:00:00Z
USERS = 40
TEAM_ID = ID_BASE + 2 * USERS + 1
TEXT_POOL_BYTES = 3 << 20

_TYPES = (
    "Task", "Story", "Comment", "Heart", "Asset", "ItemList", "ProjectMembership",
    "TeamMembership", "User", "DomainUser", "Team",
)  # fmt: skip
_WEIGHTS = (34, 30, 8, 5, 4, 4, 4, 3, 3, 3, 2)
_CUM_WEIGHTS = tuple(sum(_WEIGHTS[: i + 1]) for i in range(len(_WEIGHTS)))
_TRASHABLE = frozenset({"Task", "Story", "ItemList", "Comment"})
_WORDS = (
    "roadmap", "launch", "review", "budget", "design", "sprint", "customer", "invoice", "hiring", "offsite",
    "migration", "audit", "campaign", "onboarding", "retro", "release", "vendor", "contract", "survey", "plan",
)  # fmt: skip
_STORY_KINDS = ("comment", "assigned", "due_date_changed", "added_to_project", "marked_complete", "attachment")
_ACCESS = ("admin", "editor", "viewer")
#: A ``Task`` line without its notes is about this long; fillers subtract it.
_TASK_OVERHEAD = 230


def text_pool(seed: int) -> str:
    """
    Seeded high-entropy text that notes are cut from (letters, digits, spaces and dots only).

    Slices at random offsets of a pool far larger than deflate's 32 KiB window barely compress, so the
    compressed size of the file tracks the amount of text generated.
    """
    raw = random.Random(seed).randbytes(TEXT_POOL_BYTES)
    return base64.b64encode(raw).decode("ascii").translate(str.maketrans("+/=", " ..")).strip()


def _day(epoch: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def _stamp(epoch: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(epoch))


class MemberRecords:
    """
    The records of one gzip member: deterministic for ``(seed, member)``.

    Lines are formatted directly rather than through ``json``: every value is a number, a literal or text
    from :data:`_WORDS` and the pool, none of which needs escaping, and this is the hot loop of generation.

    :param seed: The export's seed.
    :param member: The member's index; member 0 opens with the ``Domain``, its users and a team.
    :param pool: The :func:`text_pool` for ``seed``.
    """

    def __init__(self, seed: int, member: int, pool: str) -> None:
        self._rng = random.Random(seed * 1_000_003 + member)
        self._pool = pool
        self._next_id = ID_BASE + member * IDS_PER_MEMBER + (0 if member == 0 else 1_000)
        self._clock = EPOCH + member * 86_400
        self._day_number = -1
        self._day_text = ""
        self._text_limit: int | None = None
        self.counts: Counter[str] = Counter()
        self._opening = self._opening_records() if member == 0 else iter(())

    def batch(self, approx_bytes: int, *, text_limit: int | None = None) -> bytes:
        """
        Records totalling about ``approx_bytes`` (at least one record), newline-terminated.

        :param text_limit: Cap on each record's free text, so that no single record overshoots.
        """
        self._text_limit = text_limit
        lines: list[str] = []
        size = 0
        kinds = iter(())
        while size < approx_bytes:
            line = next(self._opening, None)
            if line is None:
                kind = next(kinds, None)
                if kind is None:
                    kinds = iter(self._rng.choices(_TYPES, cum_weights=_CUM_WEIGHTS, k=64))
                    kind = next(kinds)
                line = self._record(kind)
            lines.append(line)
            size += len(line)
        return "".join(lines).encode()

    def filler(self, approx_bytes: int) -> bytes:
        """One ``Task`` whose notes are sized so that the line is about ``approx_bytes`` long."""
        self._text_limit = None
        return self._record("Task", notes_length=max(0, approx_bytes - _TASK_OVERHEAD)).encode()

    def _opening_records(self) -> Iterator[str]:
        yield self._record("Domain")
        for _ in range(USERS):
            yield self._record("User")
            yield self._record("DomainUser")
        yield self._record("Team")

    def _record(self, kind: str, *, notes_length: int | None = None) -> str:
        rnd = self._rng.random
        object_id = self._next_id
        self._next_id += 1
        self._clock += 1 + int(rnd() * 89)
        line = f'{{"__object_id":{object_id},"__type":"{kind}","__creation_time":"{self._now()}"'
        if kind in _TRASHABLE and rnd() < 0.03:
            line += f',"__trashed_at":"{_stamp(self._clock + 3_600 + int(rnd() * 90 * 86_400))}"'
        self.counts[kind] += 1
        return line + self._fields(kind, object_id, notes_length) + "}\n"

    def _now(self) -> str:
        day, second = divmod(self._clock, 86_400)
        if day != self._day_number:
            self._day_number, self._day_text = day, _day(self._clock)
        hours, rest = divmod(second, 3_600)
        return f"{self._day_text} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"

    def _fields(self, kind: str, object_id: int, notes_length: int | None) -> str:
        rnd = self._rng.random
        user = ID_BASE + 1 + 2 * int(rnd() * USERS)
        nearby = max(ID_BASE, object_id - 1 - int(rnd() * 5_000))
        if kind == "Task":
            length = notes_length if notes_length is not None else int(self._rng.expovariate(1 / 1_800))
            completed = "true" if rnd() < 0.4 else "false"
            due = _day(self._clock + int(rnd() * 60) * 86_400)
            return (
                f',"name":"{self._title()}","assignee":{user},"completed":{completed},"due_on":"{due}",'
                f'"items":[{nearby}],"notes":"{self._text(length)}"'
            )
        if kind == "Story":
            story = _STORY_KINDS[int(rnd() * len(_STORY_KINDS))]
            text = self._text(int(self._rng.expovariate(1 / 1_100)))
            return f',"story_type":"{story}","creator":{user},"target":{nearby},"text":"{text}"'
        if kind == "Comment":
            text = self._text(int(self._rng.expovariate(1 / 600)))
            return f',"creator":{user},"target":{nearby},"text":"{text}"'
        if kind == "Heart":
            return f',"user":{user},"target":{nearby}'
        if kind == "Asset":
            name = f"{_WORDS[int(rnd() * len(_WORDS))]}-{int(rnd() * 10_000)}.pdf"
            size = 1_000 + int(rnd() * 50_000_000)
            return f',"name":"{name}","content_type":"application/pdf","size":{size},"container":{nearby}'
        if kind == "ItemList":
            text = self._text(int(rnd() * 400))
            return f',"name":"{self._title()}","team":{TEAM_ID},"archived":false,"description":"{text}"'
        if kind == "ProjectMembership":
            access = _ACCESS[int(rnd() * len(_ACCESS))]
            return f',"project":{nearby},"user":{user},"access_level":"{access}"'
        if kind == "TeamMembership":
            return f',"team":{TEAM_ID},"user":{user},"is_limited_access":false'
        if kind == "User":
            number = (object_id - ID_BASE + 1) // 2
            return f',"name":"Emulated User {number}","email":"user{number}@example.com"'
        if kind == "DomainUser":
            member = object_id - 1 if object_id - ID_BASE <= 2 * USERS else user
            return f',"user":{member},"domain":{ID_BASE},"role":"member"'
        if kind == "Team":
            return f',"name":"{_WORDS[int(rnd() * len(_WORDS))].title()} team","domain":{ID_BASE}'
        return ',"name":"Emulated Enterprise Org","is_organization":true'

    def _title(self) -> str:
        rnd = self._rng.random
        words = [_WORDS[int(rnd() * len(_WORDS))] for _ in range(2 + int(rnd() * 4))]
        return " ".join(words).capitalize()

    def _text(self, length: int) -> str:
        pool = self._pool
        length = min(length, len(pool) // 2, length if self._text_limit is None else self._text_limit)
        if length <= 0:
            return ""
        start = int(self._rng.random() * (len(pool) - length))
        return pool[start : start + length]
