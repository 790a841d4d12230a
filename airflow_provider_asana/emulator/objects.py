"""The values records share: object ids, the timeline of an organization, timestamp text, names, rich text."""

from __future__ import annotations

import calendar
import functools
import time
from dataclasses import dataclass
from typing import Any

from airflow_provider_asana.emulator.structure import user_entry

ID_BASE = 1_150_000_000_000_000
#: Object ids of one gzip member live in their own block, so members can be generated independently.
IDS_PER_MEMBER = 1 << 24
ID_STRIDE = 2
EPOCH = 1_420_070_400  # 2015-01-01T00:00:00Z
HISTORY = 4 * 365 * 86_400
DAY = 86_400
#: Expected raw bytes per compressed byte and per record: only used to spread creation times over history.
NOMINAL_RATIO = 6
NOMINAL_RECORD = 440
FIRST_NAMES = (
    "Ava", "Liam", "Zoë", "José", "Mia", "Noah", "Łukasz", "Søren", "Amélie", "Chloé", "Mateo", "Aïcha",
    "Hiroshi", "Yuki", "Priya", "Arjun", "Olga", "Dmitri", "Fatima", "Omar", "Ngọc", "Oğuz", "Björn",
    "Siobhán", "Nuño", "Grace", "Ethan", "Isla", "Leo", "Maya", "王芳", "李伟", "田中", "Renée", "François", "Inês",
)  # fmt: skip
LAST_NAMES = (
    "García", "Smith", "Müller", "Nguyễn", "O'Brien", "Kowalski", "Johansson", "Rossi", "Dubois", "Tanaka",
    "Patel", "Ivanova", "Haddad", "Öztürk", "Jensen", "Fernández", "Kim", "Okafor", "Schäfer", "Nowak",
    "D'Angelo", "Lefèvre", "Zhang", "Brown", "Wójcik", "Silva", "Ahmed", "Novák", "Eriksson", "Moreau",
)  # fmt: skip
COLORS = (
    "dark-pink", "dark-green", "dark-blue", "dark-red", "dark-teal", "dark-brown", "dark-orange",
    "dark-purple", "dark-warm-gray", "light-pink", "light-green", "light-blue", "light-red", "light-teal", "light-yellow",
)  # fmt: skip
FIELD_NAMES = ("Priority", "Stage", "Effort", "Region", "Cost center", "Risk", "Quarter")
ENUM_VALUES = ("High", "Medium", "Low", "Blocked", "In progress", "Done", "EMEA", "APAC", "Ça va", "😀 OK")


def object_id(member: int, entry: int) -> int:
    """Return the ``__object_id`` of ``entry`` of ``member``: increasing, with small gaps like real ids."""
    return ID_BASE + member * IDS_PER_MEMBER + entry * ID_STRIDE + ((entry * 0x9E3779B1) >> 20 & 1)


def locate(gid: int, members: int) -> tuple[int, int] | None:
    """Return ``(member, entry)`` whose :func:`object_id` is ``gid`` in an export of ``members``, or None."""
    offset = gid - ID_BASE
    member, rest = divmod(offset, IDS_PER_MEMBER)
    if offset < 0 or member >= members:
        return None
    entry = rest // ID_STRIDE
    return (member, entry) if object_id(member, entry) == gid else None


def user_id(user: int) -> int:
    """Return the ``User`` id of opening user ``user``."""
    return object_id(0, user_entry(user))


def domain_user_id(user: int) -> int:
    """Return the ``DomainUser`` id of opening user ``user``."""
    return object_id(0, user_entry(user) + 2)


DOMAIN_ID = object_id(0, 0)


@dataclass(frozen=True)
class Timeline:
    """
    When things happen to one member's objects.

    Every member gets an equal share of a fixed history (so an export of any size spans the same years),
    its objects spread over its share; exports follow one day apart.

    :param members: Members of the export.
    :param target: The member's compressed size in export 0.
    """

    members: int
    target: int

    @property
    def window(self) -> int:
        """Seconds of history per member."""
        return HISTORY // self.members

    @property
    def gap(self) -> int:
        """Mean seconds between two objects of the member."""
        return max(2, self.window * NOMINAL_RECORD // (self.target * NOMINAL_RATIO))

    def start(self, member: int) -> int:
        """When ``member``'s first object was created."""
        return EPOCH + member * self.window

    def export_time(self, export: int) -> int:
        """When export ``export`` was taken (the last member may run a little past its share)."""
        return EPOCH + HISTORY + self.window // 2 + export * DAY


_days: dict[int, str] = {}


def stamp(epoch: int) -> str:
    """Write ``epoch`` as ``YYYY-MM-DD HH:MM:SS`` (UTC), the export's timestamp text."""
    day, second = divmod(epoch, DAY)
    text = _days.get(day)
    if text is None:
        text = _days[day] = time.strftime("%Y-%m-%d ", time.gmtime(day * DAY))
    return text + _clock_texts()[second]


@functools.cache
def _clock_texts() -> tuple[str, ...]:
    """``HH:MM:SS`` of every second of a day (built whole, so threads never see part of it)."""
    return tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(DAY))


def parse_stamp(text: str) -> int:
    """Read a :func:`stamp` (``YYYY-MM-DD HH:MM:SS``) back to epoch seconds."""
    if len(text) != 19 or text[10] != " ":
        raise ValueError(f"not a stamp (YYYY-MM-DD HH:MM:SS): {text!r}")
    return _day_start(text[:10]) + int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])


@functools.lru_cache(maxsize=1 << 14)
def _day_start(day: str) -> int:
    return calendar.timegm(time.strptime(day, "%Y-%m-%d"))


def midnight(epoch: int) -> str:
    """Write the day of ``epoch`` at ``00:00:00``, as due dates are written."""
    return stamp(epoch - epoch % DAY)


def html(text: str, *, body: bool) -> str:
    """Write ``text`` as Asana's rich text: entities escaped, wrapped in ``<body>`` in newer records."""
    escaped = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
        .replace("'", "&apos;")
    )  # fmt: skip
    return f"<body>{escaped}</body>" if body else escaped


def person(number: int) -> str:
    """Return a person's name, non-ASCII ones included."""
    last = LAST_NAMES[(number * 7 + number // 30) % len(LAST_NAMES)]
    return f"{FIRST_NAMES[number % len(FIRST_NAMES)]} {last}"


def photo(object_id: int) -> dict[str, str]:
    """Return a user's ``photo``: an object of image URLs."""
    url = f"https://s3.amazonaws.com/profile_photos/{object_id}"
    return {"image_21x21": f"{url}_21x21.png", "image_60x60": f"{url}_60x60.png"}


def custom_fields(first: float, second: float) -> list[dict[str, Any]]:
    """Return a task's custom field values: an array of objects, some holding an object."""
    fields: list[dict[str, Any]] = []
    for index in range(1 + int(first * 3)):
        name = FIELD_NAMES[(index + int(second * 7)) % len(FIELD_NAMES)]
        if (index + int(first * 10)) % 2:
            value = ENUM_VALUES[int(second * 97 + index) % len(ENUM_VALUES)]
            enum_value = {"name": value, "color": COLORS[index]}
            fields.append({"name": name, "type": "enum", "enum_value": enum_value})
        else:
            fields.append({"name": name, "type": "number", "number_value": round(first * 1000 + index, 2)})
    return fields
