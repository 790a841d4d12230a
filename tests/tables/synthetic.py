"""
A seeded generator of export-shaped JSON lines, for the lake-tables tests and benchmarks only.

Stateless: object ``i`` of export ``k`` is a pure function of ``(seed, i, k)``, so an export of any size streams
out in constant memory and the change set between two exports (the ground truth) is computed, not remembered.
Types and fields follow the table of the export file in Asana's sample export: story types share one shape,
timestamps are ``YYYY-MM-DD HH:MM:SS`` text, references are raw numeric ids (``_du``: DomainUser ids), text
holds Unicode, quotes and newlines. Text comes from a small vocabulary, so files compress about as well as
real JSON lines (5-8:1), unlike the emulator's export files.
"""

from __future__ import annotations

import datetime
import gzip
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

MASK = (1 << 64) - 1
ID_BASE = 1_100_000_000_000
EPOCH = datetime.datetime(2024, 1, 1)

STORY_TYPES = (
    "Comment", "TaskAddedToListComment", "TaskRemovedFromListComment", "TaskCompletedComment",
    "TaskAssignedComment", "AddedFollowerComment", "TaskDueDateChangedStory", "TaskHeartedStory",
    "CommentHeartedStory", "ProjectOwnerSetStory", "ProjectDueDateChangedStory", "ProjectShareStory",
    "AddAttachmentStory",
)  # fmt: skip
#: Distinct record bodies per type: a body is picked by the record's hash, the head (id, times) is the
#: record's own.
POOL = 4096
#: (type, share of the objects); story types share one slot, split evenly.
KINDS = (
    ("Story", 0.55), ("Task", 0.25), ("Heart", 0.04), ("ItemList", 0.03), ("ProjectMembership", 0.03),
    ("Asset", 0.03), ("DomainUser", 0.02), ("User", 0.02), ("VerifiedEmail", 0.01), ("TeamMembership", 0.015),
    ("Team", 0.005),
)  # fmt: skip
WORDS = [
    json.dumps(w, ensure_ascii=False)[1:-1]
    for w in (
        "the plan review ship launch budget draft design sprint roadmap owner status update blocked done "
        "customer feedback meeting notes agenda follow up quarter goal metric invoice contract legal hiring "
        "onboarding bug fix release deploy test staging production cleanup refactor docs spec api mobile web "
        "ios android backend frontend data pipeline report dashboard weekly monthly kickoff retro naïve café "
        '♥ 日本語 Größe résumé "quoted" line\nbreak tab\tstop back\\slash emoji🎉 Ünïcödé'
    ).split(" ")
]


def mix(*values: int) -> int:
    """
    A 64-bit hash of integers: CPython hashes tuples of ints the same way in every process; the splitmix64
    finaliser decorrelates tuples that differ in one item.
    """
    x = hash(values) & MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & MASK
    return x ^ (x >> 31)


def timestamp(seconds: int) -> str:
    return (EPOCH + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")


def snake_table(type_name: str) -> str:
    """The table a type lands in (the loader's rule, restated independently for the ground truth)."""
    if type_name == "Comment" or type_name.endswith(("Story", "Comment")):
        return "story"
    out = ""
    for i, ch in enumerate(type_name):
        if ch.isupper() and i and not type_name[i - 1].isupper():
            out += "_"
        out += ch.lower()
    return out


class SyntheticOrg:
    """
    A series of exports of one made-up organization.

    :param objects: objects in export 0 (the Domain is one more).
    :param seed: everything derives from it.
    :param inserted: new objects per later export, as a share of ``objects``.
    :param updated: share of the live objects changed in each later export (a fifth of them get trashed).
    :param deleted: share of the live objects gone in each later export.
    """

    def __init__(
        self,
        objects: int,
        *,
        seed: int = 0,
        inserted: float = 0.01,
        updated: float = 0.01,
        deleted: float = 0.01,
    ) -> None:
        self.objects = objects
        self.seed = seed
        self.per_export = max(1, round(objects * inserted)) if inserted else 0
        self.updated = int(updated * (1 << 32))
        self.deleted = int(deleted * (1 << 32))
        bounds, total = [], 0.0
        for name, share in KINDS:
            total += share
            bounds.append((int(total / sum(s for _, s in KINDS) * (1 << 32)), name))
        self._bounds = bounds
        self._pools: dict[str, dict[int, str]] = {}

    # -- the life of object i ------------------------------------------------------------------------------
    def _created(self, i: int) -> int:
        return 0 if i < self.objects else 1 + (i - self.objects) // self.per_export

    def _chance(self, i: int, k: int, salt: int) -> int:
        return mix(self.seed, i, k, salt) >> 32

    def _deleted_by(self, i: int, k: int) -> bool:
        return i > 0 and any(self._chance(i, e, 1) < self.deleted for e in range(self._created(i) + 1, k + 1))

    def _updated_at(self, i: int, k: int) -> bool:
        return i > 0 and k > self._created(i) and self._chance(i, k, 2) < self.updated

    def alive(self, i: int, k: int) -> bool:
        return self._created(i) <= k and not self._deleted_by(i, k)

    def type_of(self, i: int) -> str:
        if i == 0:
            return "Domain"
        draw = mix(self.seed, i, 0, 3) >> 32
        name = next(name for bound, name in self._bounds if draw < bound)
        if name == "Story":
            return STORY_TYPES[mix(self.seed, i, 0, 4) % len(STORY_TYPES)]
        return name

    def object_id(self, i: int) -> int:
        return ID_BASE + i * 7

    def span(self, k: int) -> int:
        return self.objects + k * self.per_export

    # -- exports and their ground truth ----------------------------------------------------------------------
    def lines(self, k: int) -> Iterator[bytes]:
        """The JSON lines of export ``k`` (each with its ``\\n``)."""
        for i in range(self.span(k)):
            if self.alive(i, k):
                yield self.record(i, k).encode() + b"\n"

    def changes(self, k: int) -> dict[str, dict[int, str]]:
        """
        ``{table: {__object_id: change type}}`` from export ``k - 1`` to ``k`` (all inserts for ``k == 0``).
        """
        out: dict[str, dict[int, str]] = {}
        for i in range(self.span(k)):
            before, now = k > 0 and self.alive(i, k - 1), self.alive(i, k)
            change = (
                "insert" if now and not before
                else "delete" if before and not now
                else "update" if now and self._updated_at(i, k)
                else None
            )  # fmt: skip
            if change:
                out.setdefault(snake_table(self.type_of(i)), {})[self.object_id(i)] = change
        return out

    def write(self, path: Path, k: int, *, level: int = 6) -> Path:
        """
        Export ``k`` as a gzip file (through the ``gzip`` program when present: a second core compresses).
        """
        path = Path(path)
        gzip_program = shutil.which("gzip")
        if gzip_program:
            with open(path, "wb") as out:
                proc = subprocess.Popen([gzip_program, f"-{level}", "-c"], stdin=subprocess.PIPE, stdout=out)
                assert proc.stdin is not None
                batch: list[bytes] = []
                for line in self.lines(k):
                    batch.append(line)
                    if len(batch) >= 4096:
                        proc.stdin.write(b"".join(batch))
                        batch.clear()
                proc.stdin.write(b"".join(batch))
                proc.stdin.close()
                if proc.wait():
                    raise RuntimeError(f"gzip exited with {proc.returncode}")
        else:
            with gzip.open(path, "wb", compresslevel=level) as out:
                out.writelines(self.lines(k))
        return path

    # -- one record ------------------------------------------------------------------------------------------
    def record(self, i: int, k: int) -> str:
        """Object ``i`` as it reads in export ``k`` (JSON text, no newline)."""
        rev = max((e for e in range(self._created(i) + 1, k + 1) if self._updated_at(i, k=e)), default=0)
        trashed = rev and any(
            self._updated_at(i, e) and self._chance(i, e, 5) < (1 << 32) // 5 for e in range(1, rev + 1)
        )
        h = mix(self.seed, i, rev, 6)
        type_name = self.type_of(i)
        kind = "story" if type_name in STORY_TYPES else type_name.lower()
        oid = self.object_id(i)
        created = timestamp(i * 13 % 80_000_000)
        head = f'{{"__object_id": {oid}, "__type": "{type_name}", "__creation_time": "{created}"'
        if trashed:
            head += f', "__trashed_at": "{timestamp(i * 13 % 80_000_000 + 86_400 * rev)}", "__trashed_by": {self._ref(h, 9)}'
        return head + self._body(kind, h % POOL) + "}"

    def _body(self, kind: str, slot: int) -> str:
        pool = self._pools.setdefault(kind, {})
        body = pool.get(slot)
        if body is None:
            body = pool[slot] = getattr(self, "_" + kind)(slot, mix(self.seed, slot, 7, len(kind)))
        return body

    def _ref(self, h: int, salt: int) -> int:
        return self.object_id(1 + mix(h, salt) % max(1, self.objects - 1))

    def _refs(self, h: int, salt: int, most: int) -> str:
        n = mix(h, salt) % (most + 1)
        return "[" + ", ".join(str(self._ref(h, salt * 100 + j)) for j in range(n)) + "]"

    @staticmethod
    def _text(h: int, salt: int, most: int) -> str:
        n = 1 + mix(h, salt) % most
        return " ".join(WORDS[mix(h, salt, j) % len(WORDS)] for j in range(n))

    def _story(self, i: int, h: int) -> str:
        extra = f', "attachments": {self._refs(h, 7, 2)}' if h % 5 == 0 else ""
        extra += f', "assignee_du": {self._ref(h, 8)}' if h % 7 == 0 else ""
        return (
            f', "text": "{self._text(h, 1, 30)}", "target": {self._ref(h, 2)}, "creator_du": {self._ref(h, 3)}, '
            f'"followers_du": {self._refs(h, 4, 4)}, "num_hearts": {h % 4}{extra}'
        )

    def _task(self, i: int, h: int) -> str:
        completed = f', "completed": "{timestamp(i * 17 % 90_000_000)}"' if h % 3 == 0 else ""
        due = f', "due_date": "{timestamp(i * 19 % 90_000_000)}"' if h % 2 == 0 else ""
        assignee = self._ref(h, 5) if h % 4 else "null"
        return (
            f', "name": "{self._text(h, 1, 8)}", "description": "{self._text(h, 2, 40)}", '
            f'"rich_description": "<body>{self._text(h, 3, 10)} &apos;ok&apos;</body>", '
            f'"schedule_status": "{("INBOX", "TODAY", "UPCOMING", "OK")[h % 4]}"{completed}{due}, '
            f'"assignee": {assignee}, "recurrence_type": null, "items": {self._refs(h, 6, 3)}, '
            f'"stories": {self._refs(h, 7, 6)}, "attachments": {self._refs(h, 8, 1)}, '
            f'"force_public_to_workspace": {"true" if h % 2 else "false"}, "num_hearts": {h % 5}, '
            f'"domain": {ID_BASE}, "creator_du": {self._ref(h, 9)}, "followers_du": {self._refs(h, 10, 4)}'
        )

    def _heart(self, i: int, h: int) -> str:
        return f', "target": {self._ref(h, 1)}, "domain_user": {self._ref(h, 2)}'

    def _itemlist(self, i: int, h: int) -> str:
        return (
            f', "is_project": {"true" if h % 3 else "false"}, "assignee": {self._ref(h, 1) if h % 3 == 0 else "null"}, '
            f'"name": "{self._text(h, 2, 5)}", "description": "{self._text(h, 3, 20)}", '
            f'"rich_description": "<body>{self._text(h, 4, 8)}</body>", "is_archived": {"true" if h % 7 == 0 else "false"}, '
            f'"is_public_to_workspace": true, "is_shared_with_link": false, "items": {self._refs(h, 5, 12)}, '
            f'"team": {self._ref(h, 6)}, "project_owner": {self._ref(h, 7)}, "project_due_date_time": null, '
            f'"stories": {self._refs(h, 8, 3)}, "color": "{("dark-pink", "light-green", "none")[h % 3]}", '
            f'"domain": {ID_BASE}, "creator_du": {self._ref(h, 9)}, "followers_du": {self._refs(h, 10, 3)}'
        )

    def _projectmembership(self, i: int, h: int) -> str:
        return f', "project": {self._ref(h, 1)}, "member": {self._ref(h, 2)}'

    def _asset(self, i: int, h: int) -> str:
        return (
            f', "name": "{self._text(h, 1, 3)}.pdf", '
            f'"download_url": "https://app.asana.com/app/asana/-/get_asset?asset_id={self.object_id(i)}"'
        )

    def _domainuser(self, i: int, h: int) -> str:
        return (
            f', "domain": {ID_BASE}, "user": {self._ref(h, 1)}, "task_list": {self._ref(h, 2)}, '
            f'"active": {"false" if h % 11 == 0 else "true"}, "is_admin": {"true" if h % 13 == 0 else "false"}, '
            f'"notification_verified_email": {self._ref(h, 3)}, "followers_du": {self._refs(h, 4, 2)}, '
            f'"approximate_last_activity_time": "{timestamp(i * 23 % 90_000_000)}"'
        )

    def _user(self, i: int, h: int) -> str:
        return (
            f', "name": "{self._text(h, 1, 3)}", "is_claimed": true, "claimed_time": "{timestamp(i * 29 % 90_000_000)}", '
            f'"last_session_creation_time": {1_700_000_000_000 + h % 10_000_000_000}, "deactivated": {"true" if h % 17 == 0 else "false"}'
        )

    def _verifiedemail(self, i: int, h: int) -> str:
        return f', "ve_user": {self._ref(h, 1)}, "ve_email": "user{i}@example.com"'

    def _teammembership(self, i: int, h: int) -> str:
        return f', "team": {self._ref(h, 1)}, "member": {self._ref(h, 2)}, "limited_access": {"true" if h % 5 == 0 else "false"}'

    def _team(self, i: int, h: int) -> str:
        return f', "name": "{self._text(h, 1, 3)}", "team_type": "{("REQUEST_TO_JOIN", "PUBLIC", "SECRET")[h % 3]}"'

    def _domain(self, i: int, h: int) -> str:
        return (
            f', "creator": {ID_BASE + 7}, "name": "Example Org ♥", "description": "", "domain_users": {self._refs(h, 1, 5)}, '
            f'"billing_owner": {ID_BASE + 14}, "premium_plan_name": "enterprise"'
        )
