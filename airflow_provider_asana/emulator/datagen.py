"""
The records of one gzip member, entry by entry, shaped like the records of an Asana organization export.

Kinds and fields follow the sample export of Asana's ``export_importer`` (see the API notes): ``ItemList`` for
projects, tags and "My Tasks", ``_du`` references to ``DomainUser`` ids, ``completed`` and ``due_date`` as
timestamp text, ``last_session_creation_time`` in epoch milliseconds, HTML ``rich_description`` with entities,
``name: ""`` on trashed tasks, 40 story types of one shape. On top of that, the drift a loader meets in real
exports, each from a fixed point of the file:

- fields first seen late: ``Task.resource_subtype`` from entry :data:`LATE_SMALL` of member 0,
  ``Task.custom_fields`` (an array of objects holding objects) from member 1 on;
- fields null in the first records: ``ItemList.color`` before entry :data:`LATE_LARGE` of member 0,
  ``Task.start_on`` before member 1, ``User.photo`` (an object later) before entry :data:`LATE_SMALL`;
- conflicting types: ``Asset.size`` a number in most records and a string in some, ``Task.external`` an
  object in some and a string in others;
- non-ASCII text and emoji, newlines, quotes, and now and then a text of tens of kilobytes.

Objects inserted or updated after export 0 are written as of their export, with every late field.
A record depends only on ``(seed, member, entry)`` and the export it is written for; the random numbers of an
entry are drawn in a fixed order whatever happens to it, so skipping a deleted object or rewriting an
updated one leaves every other record as it was.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from airflow_provider_asana.emulator.lifecycle import TRASH, Lifecycle, born_trashed, unit
from airflow_provider_asana.emulator.objects import (
    COLORS,
    DAY,
    DOMAIN_ID,
    Timeline,
    custom_fields,
    domain_user_id,
    html,
    midnight,
    object_id,
    person,
    photo,
    stamp,
    user_id,
)
from airflow_provider_asana.emulator.prose import Prose, prose
from airflow_provider_asana.emulator.structure import (
    KINDS,
    OPENING_TEAM,
    TEAMS,
    USER_GROUP,
    USERS,
    Structure,
    team_entry,
    user_entry,
)
from airflow_provider_asana.emulator.updates import update_record

#: Member 0 entries from which ``resource_subtype`` and ``User.photo`` appear, then ``ItemList.color``.
LATE_SMALL = 600
LATE_LARGE = 3_000
#: The era of objects inserted after export 0 (they carry every late field).
INSERTED = 4
#: With bad lines on, the share of entries preceded by a line that is not a record (and entry 3 of every
#: member).
BAD_LINE_RATE = 1 / 5_000

_SCHEDULE = ("UPCOMING", "UPCOMING", "UPCOMING", "OK", "INBOX", "TODAY")
_RECURRENCE = ("NEVER",) * 18 + ("WEEKLY", "MONTHLY")
_TEAM_TYPES = ("PUBLIC", "REQUEST_TO_JOIN", "SECRET")
_SUBTYPES = ("default_task",) * 12 + ("milestone", "approval", "section")
_EXTENSIONS = (".png", ".pdf", ".docx", ".xlsx", ".jpg", ".pptx", ".csv", ".mov", ".zip", ".txt")
_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December",
)  # fmt: skip
_BAD_LINES = (
    b'{"__object_id":%d,"__type":"Task","__creation_time":"2016-02-29 10:1',
    b'[%d,"Task","2016-02-29 10:11:12"]',
    b'{"__object_id":%d,"name":"no __type here"}',
    b"<html><body>Internal Server Error %d</body></html>",
)


class Line(NamedTuple):
    """
    What one entry writes.

    :param data: Its line (empty for a deleted object), after a bad line if there is one.
    :param type: The record's ``__type``; None for a deleted object.
    :param bad: Whether a bad line comes first.
    """

    data: bytes
    type: str | None
    bad: bool


class MemberRecords:
    """
    The lines of one member for one export, entry by entry.

    Without a ``lifecycle`` (export 0 while its members are being sized) every entry is written as created,
    for as long as the caller takes lines. With one, entries ``0 .. lifecycle.bounds[export] - 1`` are
    written as of ``export``: deleted ones left out, updated and trashed ones rewritten.

    :param seed: The export's seed.
    :param member: The member.
    :param timeline: The export's :class:`Timeline`.
    :param export: Which export of the sequence.
    :param lifecycle: The member's :class:`Lifecycle`, advanced to ``export``.
    :param bad_lines: Also write, now and then, a line that is not a JSON object with a ``__type``.
    """

    def __init__(
        self,
        seed: int,
        member: int,
        timeline: Timeline,
        *,
        export: int = 0,
        lifecycle: Lifecycle | None = None,
        bad_lines: bool = False,
    ) -> None:
        if lifecycle is not None:
            lifecycle.advance(export)
        self.seed = seed
        self.member = member
        self.export = export
        #: Entries taken so far.
        self.entries = 0
        self._timeline = timeline
        self._lifecycle = lifecycle
        self._structure = lifecycle.structure if lifecycle is not None else Structure(seed, member)
        self._end = lifecycle.bounds[export] if lifecycle is not None else None
        self._bad = bad_lines
        self._prose: Prose = prose(seed)
        self._rng = random.Random(f"records-{seed}-{member}")
        self._clock = timeline.start(member)
        self._spread = 2 * timeline.gap
        # Compact, with non-ASCII text as UTF-8, like Asana's sample.
        encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)
        self._encode = encoder.encode
        self._names: dict[int, str] = {}
        self._record_era = 0
        #: When the export that first shows the current entry was taken.
        self._horizon = 0
        self._build: dict[str, Callable[[int, int, dict[str, Any]], None]] = {
            "Domain": self._domain, "User": self._user, "VerifiedEmail": self._verified_email,
            "DomainUser": self._domain_user, "MyTasks": self._my_tasks, "Team": self._team,
            "TeamMembership": self._team_membership, "Project": self._project, "Tag": self._tag,
            "ProjectMembership": self._project_membership, "Task": self._task, "Heart": self._heart,
            "Asset": self._asset,
        }  # fmt: skip

    @property
    def done(self) -> bool:
        """Whether every entry of this export has been taken (never, while sizing export 0)."""
        return self._end is not None and self.entries >= self._end

    def batch(self, approx_bytes: int) -> list[Line]:
        """Take the next entries, about ``approx_bytes`` of lines (at least one entry unless done)."""
        lines = []
        size = 0
        while size < approx_bytes and not self.done:
            line = self._next()
            self.entries += 1
            lines.append(line)
            size += len(line.data)
        return lines

    def _next(self) -> Line:
        entry = self.entries
        structure = self._structure
        if entry >= len(structure.kinds):
            structure.ensure(entry + 1)
        kind = structure.kinds[entry]
        lifecycle = self._lifecycle
        if lifecycle is None or entry < lifecycle.bounds[0]:
            self._clock += 1 + int(self._rng.random() * self._spread)
            created, self._horizon = self._clock, self._timeline.export_time(0)
            era = 3 if self.member else 0 if entry < LATE_SMALL else 1 if entry < LATE_LARGE else 2
        else:
            export = lifecycle.created_in(entry)
            first, last = lifecycle.bounds[export - 1], lifecycle.bounds[export]
            # Inserts of export ``k`` are created in the day before it, evenly spaced.
            self._horizon = self._timeline.export_time(export)
            created, era = self._horizon - DAY + (entry - first + 1) * DAY // (last - first + 1), INSERTED
        record = self._record(entry, kind, created, era)
        bad = self._bad and (entry == 3 or unit(self.seed, self.member, entry, 7) < BAD_LINE_RATE)
        prefix = self._bad_line(entry) if bad else b""
        if lifecycle is not None:
            if not lifecycle.alive(entry, self.export):
                return Line(prefix, None, bad)
            for export, event in lifecycle.events(entry, self.export):
                when = self._timeline.export_time(export)
                update_record(record, kind, event == TRASH, self.seed, self.member, entry, when)
        return Line(prefix + self._encode(record).encode() + b"\n", record["__type"], bad)

    def _bad_line(self, entry: int) -> bytes:
        form = _BAD_LINES[int(unit(self.seed, self.member, entry, 8) * len(_BAD_LINES))]
        return form % self._id(entry) + b"\n"

    def _record(self, entry: int, kind: str, created: int, era: int) -> dict[str, Any]:
        self._record_era = era
        info = KINDS[kind]
        record: dict[str, Any] = {
            "__object_id": self._id(entry),
            "__type": info.type,
            "__creation_time": stamp(created),
        }
        if info.trashable and born_trashed(self.seed, self.member, entry):
            record["__trashed_at"] = stamp(self._after(created, 90 * DAY))
            record["__trashed_by"] = user_id(int(self._rng.random() * USERS))
        builder = self._build.get(kind)
        if builder is None:
            self._story(entry, created, record, kind)
        else:
            builder(entry, created, record)
        if kind in ("Project", "Tag", "MyTasks"):
            record["color"] = COLORS[int(self._rng.random() * len(COLORS))] if era >= 2 else None
        if kind == "Task":
            self._task_drift(record, created, era)
        if kind == "Task" and "__trashed_at" in record:
            record["name"] = ""
        return record

    # Helpers drawing from the entry's random numbers.

    def _after(self, created: int, within: int) -> int:
        """Pick a moment up to ``within`` seconds after ``created``, before the export that first shows it."""
        return created + 60 + self._within(created, within)

    def _before_export(self, created: int, within: int) -> int:
        """Pick a moment up to ``within`` seconds before the export that first shows it, after ``created``."""
        return self._horizon - 60 - self._within(created, within)

    def _within(self, created: int, within: int) -> int:
        return int(self._rng.random() * max(0, min(within, self._horizon - created - 120)))

    def _id(self, entry: int) -> int:
        return object_id(self.member, entry)

    def _du(self) -> int:
        return _DOMAIN_USERS[int(self._rng.random() * USERS)]

    def _followers(self, first: int) -> list[int]:
        extra = int(self._rng.random() * self._rng.random() * 4)
        return [first] + [self._du() for _ in range(extra)]

    def _text(self, mean: int, long_share: float) -> str:
        rnd = self._rng.random
        where, size, roll = rnd(), rnd(), rnd()
        if roll < long_share:
            return self._prose.passage(where, 20_000 + int(size * 20_000))
        return self._prose.passage(where, int(size * size * 3 * mean))

    def _title(self, words: int) -> str:
        rnd = self._rng.random
        return self._prose.phrase(rnd(), 1 + int(rnd() * words))

    def _ids(self, entries: list[int], kinds: tuple[str, ...]) -> list[int]:
        structure_kinds = self._structure.kinds
        return [self._id(child) for child in entries if structure_kinds[child] in kinds]

    # One builder per kind: they add fields to ``record`` in the order of Asana's sample.

    def _domain(self, entry: int, created: int, record: dict[str, Any]) -> None:
        record.update(
            creator=user_id(0), name="example.com", description="", domain_users=list(_DOMAIN_USERS),
            billing_owner=_DOMAIN_USERS[0], premium_plan_name="enterprise-plus",
        )  # fmt: skip

    def _user(self, entry: int, created: int, record: dict[str, Any]) -> None:
        rnd = self._rng.random
        opening = self.member == 0 and entry < user_entry(USERS)
        self._names[entry] = person((entry - 1) // len(USER_GROUP) if opening else int(rnd() * 1e6))
        session = self._before_export(created, 30 * DAY) * 1000 + int(rnd() * 1000)
        record.update(
            name=self._names[entry], is_claimed=True, claimed_time=stamp(created + 30 + int(rnd() * 600)),
            last_session_creation_time=session, deactivated=rnd() < 0.04,
        )  # fmt: skip
        record["photo"] = photo(record["__object_id"]) if self._record_era >= 1 else None

    def _verified_email(self, entry: int, created: int, record: dict[str, Any]) -> None:
        user = self._structure.links[entry]
        name = self._names.get(user, "user")
        local = "".join(c for c in name.lower().replace(" ", ".") if c.isascii()).strip(".") or "user"
        record.update(ve_user=self._id(user), ve_email=f"{local}.{user}@example.com")

    def _domain_user(self, entry: int, created: int, record: dict[str, Any]) -> None:
        user = self._structure.links[entry]
        rnd = self._rng.random
        record.update(
            followers_du=[], domain=DOMAIN_ID, user=self._id(user),
            task_list=self._id(user + 3), active=rnd() > 0.04,
            notification_verified_email=self._id(user + 1),
            is_admin=self.member == 0 and user < user_entry(3),
            approximate_last_activity_time=stamp(self._before_export(created, 60 * DAY)),
        )  # fmt: skip

    def _my_tasks(self, entry: int, created: int, record: dict[str, Any]) -> None:
        owner = self._id(entry - 1)
        record.update(
            creator_du=owner, followers_du=[owner], name="My Tasks", description="", is_project=True,
            is_archived=False, is_public_to_workspace=True, is_shared_with_link=False, items=[],
            domain=DOMAIN_ID, assignee=owner, remind_owner_to_update_status=True,
        )  # fmt: skip

    def _team(self, entry: int, created: int, record: dict[str, Any]) -> None:
        rnd = self._rng.random
        record.update(name=self._title(3).title(), team_type=_TEAM_TYPES[int(rnd() * len(_TEAM_TYPES))])

    def _team_membership(self, entry: int, created: int, record: dict[str, Any]) -> None:
        team = self._structure.links[entry]
        team_id = object_id(0, team_entry(OPENING_TEAM - team)) if team <= OPENING_TEAM else self._id(team)
        record.update(team=team_id, member=self._du(), limited_access=self._rng.random() < 0.05)

    def _project(self, entry: int, created: int, record: dict[str, Any]) -> None:
        rnd = self._rng.random
        owner = self._du()
        name = self._title(5)
        self._names[entry] = name
        description = self._text(200, 0) if rnd() < 0.5 else ""
        children = self._structure.children.get(entry, [])
        record.update(
            creator_du=owner, followers_du=self._followers(owner), name=name, description=description,
            rich_description=html(description, body=self._record_era >= 2), is_project=True,
            is_archived=rnd() < 0.1, is_public_to_workspace=rnd() < 0.8, is_shared_with_link=False,
            items=self._ids(children, ("Task",)), domain=DOMAIN_ID,
            team=object_id(0, team_entry(int(rnd() * TEAMS))), project_owner=owner,
            remind_owner_to_update_status=True,
        )  # fmt: skip
        if rnd() < 0.5:
            record["project_due_date_time"] = midnight(created + int(rnd() * 120) * DAY)
        record["stories"] = [self._id(c) for c in children if self._structure.kinds[c] not in _NOT_STORIES]

    def _tag(self, entry: int, created: int, record: dict[str, Any]) -> None:
        owner = self._du()
        record.update(
            creator_du=owner, followers_du=[owner], name=self._title(2).lower(), description="",
            is_project=False, is_archived=False, is_public_to_workspace=True, is_shared_with_link=False,
            items=self._ids(self._structure.children.get(entry, []), ("Task",)), domain=DOMAIN_ID,
            remind_owner_to_update_status=True,
        )  # fmt: skip

    def _project_membership(self, entry: int, created: int, record: dict[str, Any]) -> None:
        record.update(project=self._id(self._structure.links[entry]), member=self._du())

    def _task(self, entry: int, created: int, record: dict[str, Any]) -> None:
        rnd = self._rng.random
        creator = self._du()
        name = self._title(8)
        self._names[entry] = name
        followers = self._followers(creator)
        if rnd() < 0.45:
            record["completed"] = stamp(self._after(created, 30 * DAY))
        record.update(
            creator_du=creator, followers_du=followers, name=name,
            schedule_status=_SCHEDULE[int(rnd() * len(_SCHEDULE))], domain=DOMAIN_ID,
        )  # fmt: skip
        if rnd() < 0.6:
            record["due_date"] = midnight(created + int(rnd() * 45) * DAY)
        description = self._text(260, 0.001) if rnd() < 0.55 else ""
        record["recurrence_type"] = _RECURRENCE[int(rnd() * len(_RECURRENCE))]
        record["description"] = description
        if description or rnd() < 0.5:
            record["rich_description"] = html(description, body=self._record_era >= 2)
        children = self._structure.children.get(entry, [])
        kinds = self._structure.kinds
        record.update(
            attachments=self._ids(children, ("Asset",)), items=self._ids(children, ("Task",)),
            force_public_to_workspace=False, num_hearts=sum(kinds[c] == "Heart" for c in children),
            stories=[self._id(c) for c in children if kinds[c] not in _NOT_STORIES],
        )  # fmt: skip
        if rnd() < 0.7:
            record["assignee"] = followers[-1] if rnd() < 0.5 else self._du()

    def _task_drift(self, record: dict[str, Any], created: int, era: int) -> None:
        rnd = self._rng.random
        roll, value = rnd(), rnd()
        if era >= 1:
            record["resource_subtype"] = _SUBTYPES[int(value * len(_SUBTYPES))]
        key = f"JIRA-{int(value * 99_999)}"
        if roll < 0.02:
            record["external"] = {"gid": key, "data": '{"source": "jira", "sync": true}'}
        elif roll < 0.04:
            record["external"] = key
        record["start_on"] = midnight(created + int(value * 20) * DAY) if era >= 3 and roll < 0.3 else None
        if era >= 3:
            record["custom_fields"] = custom_fields(value, rnd())

    def _heart(self, entry: int, created: int, record: dict[str, Any]) -> None:
        record.update(target=self._id(self._structure.links[entry]), domain_user=self._du())

    def _asset(self, entry: int, created: int, record: dict[str, Any]) -> None:
        rnd = self._rng.random
        oid = record["__object_id"]
        name = self._title(4).replace(" ", "-") + _EXTENSIONS[int(rnd() * len(_EXTENSIONS))]
        size = int(rnd() * rnd() * 40_000_000) + 100
        record.update(
            name=name, download_url=f"https://app.asana.com/app/asana/-/download_asset?asset_id={oid}",
            size=size if rnd() > 0.1 else f"{size / 1e6:.1f} MB",
        )  # fmt: skip
        self._names[entry] = name

    def _story(self, entry: int, created: int, record: dict[str, Any], kind: str) -> None:
        kinds = self._structure.kinds
        hearts = sum(kinds[child] == "Heart" for child in self._structure.children.get(entry, []))
        record.update(creator_du=self._du(), followers_du=[], num_hearts=hearts)
        if kind == "Comment":
            record["attachments"] = []
        elif kind == "TaskAssignedComment":
            record["assignee_du"] = self._du()
        record["text"] = self._story_text(entry, kind, created)

    def _story_text(self, entry: int, kind: str, created: int) -> str:
        """Write the text of story ``entry`` (the object it is about is its link)."""
        if kind in ("Comment", "ProjectStatusUpdateStory"):
            return self._text(180, 0.0005)
        fixed = _STORY_TEXTS.get(kind)
        if fixed is not None:
            return fixed
        rnd = self._rng.random
        links = self._structure.links
        parent = links[entry]
        name = self._names.get(parent, "")
        if kind == "TaskAddedToListComment":
            holder = links[parent]
            if self._structure.kinds[holder] == "Project":
                return f"added to {self._names.get(holder, '')}"
            return f"added subtask to task {self._names.get(holder, '')}"
        if kind in ("TaskDueDateChangedStory", "ProjectDueDateChangedStory", "TaskStartDateChangedStory"):
            day = time.gmtime(created + int(rnd() * 30) * DAY)
            which = "start" if kind == "TaskStartDateChangedStory" else "due"
            return f"changed the {which} date to {_MONTHS[day.tm_mon - 1]} {day.tm_mday}"
        if kind == "TaskNameChangedStory":
            return f'changed the name to "{self._title(6)}"'
        if kind == "AddAttachmentStory":
            return f"attached https://app.asana.com/app/asana/-/download_asset?asset_id={self._id(entry - 1)}"
        if kind == "TaskMovedToSectionStory":
            return f'moved this task from "{self._title(2)}" to "{self._title(2)}" in {name}'
        someone = person(int(rnd() * USERS))
        words = self._title(6) if kind == "MentionedInCommentStory" else ""
        return _PERSON_STORY_TEXTS[kind].format(someone=someone, name=name, words=words)


_DOMAIN_USERS = tuple(domain_user_id(user) for user in range(USERS))
_NOT_STORIES = frozenset({"Task", "Asset", "Heart", "ProjectMembership"})
_PERSON_STORY_TEXTS = {
    "TaskAssignedComment": "assigned to {someone}",
    "AddedFollowerComment": "added {someone} as a follower",
    "RemovedFollowerComment": "removed {someone} as a follower",
    "ProjectOwnerSetStory": "made {someone} the project owner of this project",
    "ProjectShareStory": "shared {name} with {someone}",
    "ProjectMemberAddedStory": "added {someone} to {name}",
    "MentionedInCommentStory": "mentioned you in a comment: @{someone} {words}",
}
_STORY_TEXTS = {
    "TaskCompletedComment": "marked this task complete",
    "TaskUncompletedComment": "marked incomplete",
    "TaskHeartedStory": "♥ this task",
    "CommentHeartedStory": "♥ your comment",
    "TaskDescriptionChangedStory": "changed the description",
    "TaskRemovedFromListComment": "removed from this project",
    "ToggleTodayComment": "marked today",
    "TaskUnassignedComment": "unassigned",
    "TaskDueDateRemovedStory": "removed the due date",
    "TaskTagAddedStory": "added a tag",
    "TaskTagRemovedStory": "removed a tag",
    "TaskCustomFieldChangedStory": 'changed Priority from "Low" to "High"',
    "TaskDependencyAddedStory": "marked this task as dependent on another task",
    "TaskDependencyRemovedStory": "removed a dependency",
    "TaskApprovalStatusChangedStory": "approved this task ✅",
    "TaskMilestoneMarkedStory": "marked this task as a milestone",
    "TaskDuplicatedStory": "duplicated this task",
    "TaskMergedStory": "merged a duplicate task into this one",
    "AttachmentRemovedStory": "removed an attachment",
    "ProjectNameChangedStory": "renamed this project",
    "ProjectDescriptionChangedStory": "changed the project description",
    "ProjectColorChangedStory": "changed the project color",
    "ProjectArchivedStory": "archived this project",
    "SectionCreatedStory": "added a section",
}
