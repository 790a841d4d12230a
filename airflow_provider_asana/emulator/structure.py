"""
The objects of one gzip member, in creation order: what kind each is and which objects it belongs to.

A member's objects are an endless stream, a pure function of ``(seed, member)``: export 0 takes as many as
fit its compressed size, and every later export takes the next few as its inserts, so an insert continues
the organization's activity (a project gains tasks, a task gains stories). Generating the stream is cheap
(no text, no JSON), so the change set between exports can name each changed object's ``__type`` without
generating any record.

Member 0 opens with the organization itself: the ``Domain``, :data:`USERS` users (``User``,
``VerifiedEmail``, ``DomainUser`` and its "My Tasks" list), :data:`TEAMS` teams and their memberships.
Every record refers to those users, so references resolve without knowing other members.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

USERS = 50
TEAMS = 6
#: Entries of member 0's opening that belong to user ``i``: User, VerifiedEmail, DomainUser, My Tasks.
USER_GROUP = ("User", "VerifiedEmail", "DomainUser", "MyTasks")
#: A link of ``OPENING_TEAM - t`` names team ``t`` of member 0 (from any member).
OPENING_TEAM = -2


@dataclass(frozen=True)
class Kind:
    """
    What an entry of the stream is.

    :param name: The internal name (``MyTasks``, ``Project`` and ``Tag`` are all ``ItemList``).
    :param type: Its ``__type`` in the export.
    :param trashable: Whether users can move it to the trash.
    :param deletable: Whether it can disappear from later exports.
    """

    name: str
    type: str
    trashable: bool
    deletable: bool


def _kinds() -> dict[str, Kind]:
    permanent = ("Domain", "User", "VerifiedEmail", "DomainUser", "Team")
    kinds = {name: Kind(name, name, False, False) for name in permanent}
    kinds["MyTasks"] = Kind("MyTasks", "ItemList", False, False)
    for name in ("Project", "Tag"):
        kinds[name] = Kind(name, "ItemList", True, True)
    for name in ("TeamMembership", "ProjectMembership", "Asset"):
        kinds[name] = Kind(name, name, False, True)
    for name in ("Task", "Heart", *STORY_TYPES):
        kinds[name] = Kind(name, name, True, True)
    return kinds


#: Story types of a task after it is created: ``(name, weight)``. Every story has one shape (``text``,
#: ``creator_du``, ``followers_du``, ``num_hearts``, sometimes ``attachments`` or ``assignee_du``).
TASK_STORIES = (
    ("Comment", 30), ("TaskAssignedComment", 8), ("TaskCompletedComment", 8), ("TaskDueDateChangedStory", 6),
    ("AddedFollowerComment", 6), ("TaskNameChangedStory", 4), ("TaskDescriptionChangedStory", 3),
    ("TaskMovedToSectionStory", 3), ("TaskRemovedFromListComment", 2), ("ToggleTodayComment", 2),
    ("TaskUncompletedComment", 2), ("TaskTagAddedStory", 2), ("TaskCustomFieldChangedStory", 2),
    ("TaskUnassignedComment", 1), ("RemovedFollowerComment", 1), ("TaskDueDateRemovedStory", 1),
    ("TaskStartDateChangedStory", 1), ("TaskTagRemovedStory", 1), ("TaskDependencyAddedStory", 1),
    ("MentionedInCommentStory", 1), ("CommentHeartedStory", 1), ("TaskApprovalStatusChangedStory", 0.5),
    ("TaskDependencyRemovedStory", 0.5), ("TaskMilestoneMarkedStory", 0.3), ("TaskDuplicatedStory", 0.3),
    ("AttachmentRemovedStory", 0.3), ("TaskMergedStory", 0.2),
)  # fmt: skip
#: Story types of a project after it is created.
PROJECT_STORIES = (
    ("ProjectShareStory", 5), ("ProjectDueDateChangedStory", 3), ("ProjectStatusUpdateStory", 3),
    ("ProjectMemberAddedStory", 3), ("SectionCreatedStory", 3), ("ProjectNameChangedStory", 1),
    ("ProjectDescriptionChangedStory", 1), ("ProjectColorChangedStory", 1), ("ProjectArchivedStory", 0.5),
)  # fmt: skip
#: Stories that come with a particular event rather than from the weighted lists above.
EVENT_STORIES = ("TaskAddedToListComment", "AddAttachmentStory", "TaskHeartedStory", "ProjectOwnerSetStory")
STORY_TYPES = tuple(name for name, _ in TASK_STORIES + PROJECT_STORIES) + EVENT_STORIES
KINDS = _kinds()

_TASK_STORY_NAMES = tuple(name for name, _ in TASK_STORIES)
_TASK_STORY_CUM = tuple(itertools.accumulate(weight for _, weight in TASK_STORIES))
_PROJECT_STORY_NAMES = tuple(name for name, _ in PROJECT_STORIES)
_PROJECT_STORY_CUM = tuple(itertools.accumulate(weight for _, weight in PROJECT_STORIES))
_RECENT_TASKS = 32


def opening() -> list[tuple[str, int]]:
    """Member 0's first entries as ``(kind, link)``: the organization, its users and teams."""
    entries: list[tuple[str, int]] = [("Domain", -1)]
    for user in range(USERS):
        base = user_entry(user)
        entries += [(kind, base) for kind in USER_GROUP]
    first_team = len(entries)
    entries += [("Team", -1)] * TEAMS
    entries += [("TeamMembership", first_team + user % TEAMS) for user in range(USERS)]
    return entries


def user_entry(user: int) -> int:
    """Return the entry of user ``user``'s ``User`` in member 0 (its ``DomainUser`` is two further)."""
    return 1 + len(USER_GROUP) * user


def team_entry(team: int) -> int:
    """Return the entry of team ``team`` in member 0."""
    return 1 + len(USER_GROUP) * USERS + team


class Structure:
    """
    The stream of one member, grown on demand by whole segments.

    ``kinds[j]`` is entry ``j``'s kind, ``links[j]`` the entry it belongs to (or -1), ``children[j]`` the
    entries that belong to a task or a project.

    :param seed: The export's seed.
    :param member: The member.
    """

    def __init__(self, seed: int, member: int) -> None:
        self._rng = random.Random(f"structure-{seed}-{member}")
        self.kinds: list[str] = []
        self.links: list[int] = []
        self.children: dict[int, list[int]] = {}
        self._recent_tasks: list[int] = []
        if member == 0:
            for kind, link in opening():
                self._add(kind, link)

    def ensure(self, count: int) -> None:
        """Grow the stream to at least ``count`` entries."""
        while len(self.kinds) < count:
            self._segment()

    def kind(self, entry: int) -> Kind:
        """Return the :class:`Kind` of ``entry``."""
        self.ensure(entry + 1)
        return KINDS[self.kinds[entry]]

    def _add(self, kind: str, link: int) -> int:
        entry = len(self.kinds)
        self.kinds.append(kind)
        self.links.append(link)
        if link >= 0 and kind not in USER_GROUP and kind != "TeamMembership":
            self.children.setdefault(link, []).append(entry)
        return entry

    def _segment(self) -> None:
        rnd = self._rng.random
        roll = rnd()
        if roll < 0.003:
            base = len(self.kinds)
            for kind in USER_GROUP:
                self._add(kind, base)
            self._add("TeamMembership", OPENING_TEAM - int(rnd() * TEAMS))
        elif roll < 0.004:
            team = self._add("Team", -1)
            for _ in range(1 + int(rnd() * 3)):
                self._add("TeamMembership", team)
        elif roll < 0.12:
            tag = self._add("Tag", -1)
            for task in self._recent_tasks[: 1 + int(rnd() * 6)]:
                self.children.setdefault(tag, []).append(task)
        else:
            self._project()

    def _project(self) -> None:
        rnd = self._rng.random
        project = self._add("Project", -1)
        for _ in range(1 + int(rnd() * 4)):
            self._add("ProjectMembership", project)
        self._add("ProjectOwnerSetStory", project)
        for _ in range(int(rnd() * rnd() * 4)):
            self._add(self._rng.choices(_PROJECT_STORY_NAMES, cum_weights=_PROJECT_STORY_CUM)[0], project)
        for _ in range(1 + int(rnd() * rnd() * 40)):
            self._task(project, subtasks=True)

    def _task(self, parent: int, *, subtasks: bool) -> None:
        rnd = self._rng.random
        task = self._add("Task", parent)
        self._recent_tasks.insert(0, task)
        del self._recent_tasks[_RECENT_TASKS:]
        if rnd() < 0.85:
            self._add("TaskAddedToListComment", task)
        if subtasks and rnd() < 0.12:
            for _ in range(1 + int(rnd() * 3)):
                self._task(task, subtasks=False)
        if rnd() < 0.07:
            self._add("Asset", task)
            self._add("AddAttachmentStory", task)
        if rnd() < 0.05:
            self._add("Heart", task)
            self._add("TaskHeartedStory", task)
        stories = int(rnd() * rnd() * 9)
        if stories:
            for kind in self._rng.choices(_TASK_STORY_NAMES, cum_weights=_TASK_STORY_CUM, k=stories):
                story = self._add(kind, task)
                if kind == "Comment" and rnd() < 0.04:
                    self._add("Heart", story)
