"""
What an update or a trashing does to a record, between two exports.

An update changes one or two fields a user would change (a task is completed, renamed, reassigned...) and
always changes the record; a rewritten record also gains the fields that newer records carry (it is
written after those fields appeared). A trashing sets ``__trashed_at`` and ``__trashed_by`` and empties a
task's name. The random numbers come from ``(seed, member, entry, export time)`` alone.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from airflow_provider_asana.emulator import objects
from airflow_provider_asana.emulator.prose import Prose, prose
from airflow_provider_asana.emulator.structure import USERS

Record = dict[str, Any]
_HEAD = ("__object_id", "__type", "__creation_time")


def update_record(
    record: Record, kind: str, trash: bool, seed: int, member: int, entry: int, when: int
) -> None:
    """
    Apply one update (or, with ``trash``, a trashing) made during the day before ``when`` to ``record``.

    :param kind: The entry's kind (see :data:`.structure.KINDS`).
    :param when: The time of the export that first shows the change.
    """
    rng = random.Random(f"update-{seed}-{member}-{entry}-{when}")
    moment = when - 60 - int(rng.random() * (objects.DAY - 120))
    if trash:
        _trash(record, kind, rng, moment)
        return
    before = dict(record)
    mutations = _MUTATIONS.get(kind, _STORY_MUTATIONS)
    words = prose(seed)
    for _ in range(1 + (rng.random() < 0.3)):
        mutations[int(rng.random() * len(mutations))](record, rng, moment, words)
    _upgrade(record, kind, rng, moment)
    if record == before:
        mutations[0](record, rng, moment, words)


def _trash(record: Record, kind: str, rng: random.Random, moment: int) -> None:
    rest = {key: value for key, value in record.items() if key not in _HEAD}
    head = {key: record[key] for key in _HEAD}
    record.clear()
    record.update(head)
    record["__trashed_at"] = objects.stamp(moment)
    record["__trashed_by"] = objects.user_id(int(rng.random() * USERS))
    record.update(rest)
    if kind == "Task":
        record["name"] = ""


def _upgrade(record: Record, kind: str, rng: random.Random, moment: int) -> None:
    """Add the fields that records written after ``export 0`` carry."""
    if kind == "Task":
        record.setdefault("resource_subtype", "default_task")
        if record.get("start_on") is None and rng.random() < 0.3:
            record["start_on"] = objects.midnight(moment + objects.DAY)
        record.setdefault("custom_fields", objects.custom_fields(rng.random(), rng.random()))
    elif kind in ("Project", "Tag", "MyTasks") and record.get("color") is None:
        record["color"] = "light-blue"
    elif kind == "User" and record.get("photo") is None:
        record["photo"] = objects.photo(record["__object_id"])


def _other_user(current: int, rng: random.Random) -> int:
    users = [objects.domain_user_id(user) for user in range(USERS)]
    choice = users[int(rng.random() * len(users))]
    return choice if choice != current else users[(users.index(choice) + 1) % len(users)]


def _complete(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    if "completed" in record:
        del record["completed"]
    else:
        record["completed"] = objects.stamp(moment)


def _rename(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    name = words.phrase(rng.random(), 2 + int(rng.random() * 5))
    record["name"] = name if name != record.get("name") else f"{name} (2)"


def _due(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["due_date"] = objects.midnight(moment + (1 + int(rng.random() * 30)) * objects.DAY)


def _reassign(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["assignee"] = _other_user(record.get("assignee", 0), rng)


def _describe(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    added = words.passage(rng.random(), 80)
    description = f"{record.get('description', '')}\n{added}".lstrip("\n")
    record["description"] = description
    record["rich_description"] = objects.html(description, body=True)


def _follow(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    followers = list(record.get("followers_du", []))
    record["followers_du"] = followers + [_other_user(followers[-1] if followers else 0, rng)]


def _heart(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["num_hearts"] = record.get("num_hearts", 0) + 1


def _schedule(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["schedule_status"] = "TODAY" if record.get("schedule_status") != "TODAY" else "UPCOMING"


def _archive(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["is_archived"] = not record.get("is_archived", False)


def _recolor(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["color"] = "dark-orange" if record.get("color") != "dark-orange" else "dark-teal"


def _edit_text(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["text"] = f"{record.get('text', '')} (edited {objects.stamp(moment)})"


def _session(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["last_session_creation_time"] = moment * 1000 + int(rng.random() * 1000)


def _deactivate(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["deactivated"] = not record.get("deactivated", False)
    _session(record, rng, moment, words)


def _activity(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["approximate_last_activity_time"] = objects.stamp(moment)


def _admin(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["is_admin"] = not record.get("is_admin", False)


def _email(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["ve_email"] = f"{moment}.{record.get('ve_email', '')}"


def _domain(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["description"] = f"Updated {objects.stamp(moment)}"


def _team_type(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["team_type"] = "PUBLIC" if record.get("team_type") != "PUBLIC" else "SECRET"


def _limited(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["limited_access"] = not record.get("limited_access", False)


def _member(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    key = "domain_user" if "domain_user" in record else "member"
    record[key] = _other_user(record.get(key, 0), rng)


def _asset_name(record: Record, rng: random.Random, moment: int, words: Prose) -> None:
    record["name"] = f"final-{record.get('name', '')}"


Mutation = Callable[[Record, random.Random, int, Prose], None]
#: Per kind, the changes an update picks from; the first always changes the record.
_MUTATIONS: dict[str, tuple[Mutation, ...]] = {
    "Task": (_complete, _complete, _rename, _due, _reassign, _describe, _follow, _heart, _schedule),
    "Project": (_archive, _rename, _describe, _follow, _recolor),
    "Tag": (_archive, _rename, _recolor),
    "MyTasks": (_recolor,),
    "User": (_session, _session, _session, _deactivate),
    "DomainUser": (_activity, _activity, _admin),
    "VerifiedEmail": (_email,),
    "Domain": (_domain,),
    "Team": (_team_type, _rename),
    "TeamMembership": (_limited,),
    "ProjectMembership": (_member,),
    "Heart": (_member,),
    "Asset": (_asset_name,),
}
_STORY_MUTATIONS: tuple[Mutation, ...] = (_heart, _edit_text)
