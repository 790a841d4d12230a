"""
The emulated organization as of one export of its sequence, member by member, with each object's API times.

Resource and graph exports show the same objects as the organization export: an :class:`Organization` walks
the members of export ``k`` (:class:`MemberView`), whose records are the ones export ``k``'s file holds, and
adds what the API shows and the export file does not: when each object was last modified.

The clock is the sequence's: export ``k`` is taken at :meth:`Organization.time` ``(k)``, a day after export
``k - 1``, and everything that changes between them happens in that day. An object's ``modified_at`` is the
latest of its creation, its own updates and, for a task or a message, the creation, trashing or deletion of
anything attached to it (stories, attachments, subtasks, likes), as Asana's ``modified_at`` moves when a story
is added to a task. So the objects whose ``modified_at`` falls in ``(time(k - 1), time(k)]`` are exactly those
export ``k`` changes, or attaches something to.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import astuple, dataclass, field
from functools import cached_property

from airflow_provider_asana.emulator.datagen import Entry, MemberRecords
from airflow_provider_asana.emulator.exportfile import check_export
from airflow_provider_asana.emulator.lifecycle import ChangeRates, Lifecycle, unit
from airflow_provider_asana.emulator.member import MEMBER_SIZE, member_targets
from airflow_provider_asana.emulator.objects import DAY, Timeline, locate, object_id, parse_stamp
from airflow_provider_asana.emulator.structure import Structure
from airflow_provider_asana.emulator.updates import change_moment

#: Salt of the hash that places a deletion within its day.
_DELETION_SALT = 9


@dataclass(frozen=True)
class Organization:
    """
    The sequence of an emulated organization: what :class:`.cache.ExportCache` generates, as objects.

    :param seed: The sequence's seed.
    :param size: Bytes of its export 0.
    :param plan: Objects per member in export 0 (:attr:`.exportfile.ExportInfo.plan`).
    :param rates: The change rates between exports.
    :param member_size: Compressed bytes per member of export 0.
    :param lines: Reads a member's lines from the organization export file (the records are generated
        again without it).
    """

    seed: int
    size: int
    plan: tuple[int, ...]
    rates: ChangeRates = ChangeRates()
    member_size: int = MEMBER_SIZE
    #: ``lines(member, export)``: that member's lines in organization export ``export``'s file, if it is at
    #: hand: reading them is several times faster than generating the records again.
    lines: Callable[[int, int], list[bytes]] | None = field(default=None, compare=False, repr=False)

    @cached_property
    def targets(self) -> list[int]:
        """The compressed size of each member in export 0."""
        return member_targets(self.size, self.member_size)

    def time(self, export: int) -> int:
        """When export ``export`` is taken (epoch seconds): every change it shows was made before."""
        return Timeline(len(self.plan), self.targets[0]).export_time(export)

    def key(self) -> dict[str, object]:
        """Return what tells two organizations apart, for cache keys."""
        return {
            "seed": self.seed,
            "size": self.size,
            "rates": astuple(self.rates),
            "member": self.member_size,
        }

    def member(self, member: int, export: int) -> MemberView:
        """Return member ``member`` as of export ``export``, its records generated."""
        check_export(export)
        if not 0 <= member < len(self.plan):
            raise ValueError(f"member must be from 0 to {len(self.plan) - 1}; got {member}")
        return MemberView(self, member, export)

    def members(self, export: int) -> Iterator[MemberView]:
        """Every member as of export ``export``, one at a time (each is dropped once the next is asked for)."""
        for member in range(len(self.plan)):
            yield self.member(member, export)

    def kind(self, member: int, entry: int) -> str:
        """Return the kind of ``entry`` of ``member`` (see :data:`.structure.KINDS`)."""
        return Structure(self.seed, member).kind(entry).name

    def locate(self, gid: int, export: int) -> tuple[int, int] | None:
        """Return ``(member, entry)`` of the object ``gid`` if export ``export`` holds it, else None."""
        place = locate(gid, len(self.plan))
        if place is None:
            return None
        member, entry = place
        lifecycle = Lifecycle(self.seed, member, self.plan[member], self.rates, Structure(self.seed, member))
        lifecycle.advance(export)
        return place if lifecycle.alive(entry, export) else None


class MemberView:
    """
    One member of export ``export``: every entry's record, and what the API shows of each.

    :param organization: The organization.
    :param member: The member.
    :param export: Which export of the sequence.
    """

    def __init__(self, organization: Organization, member: int, export: int) -> None:
        self.organization = organization
        self.member = member
        self.export = export
        seed = organization.seed
        self.structure = Structure(seed, member)
        self.lifecycle = Lifecycle(
            seed, member, organization.plan[member], organization.rates, self.structure
        )
        timeline = Timeline(len(organization.plan), organization.targets[member])
        self._timeline = timeline
        #: Every entry created up to the export, deleted ones included (``alive`` False; their records are
        #: empty when read from the export file).
        self.entries: list[Entry] = []
        if organization.lines is not None:
            self._read(organization.lines(member, export))
            return
        records = MemberRecords(seed, member, timeline, export=export, lifecycle=self.lifecycle)
        while not records.done:
            self.entries.append(records.take())

    def _read(self, lines: list[bytes]) -> None:
        self.lifecycle.advance(self.export)
        bound = self.lifecycle.bounds[self.export]
        self.structure.ensure(bound)
        kinds = self.structure.kinds
        self.entries = [Entry(entry, kinds[entry], 0, {}, False) for entry in range(bound)]
        members = len(self.organization.plan)
        for line in lines:
            record = json.loads(line)
            place = locate(record["__object_id"], members)
            if place is None or place[0] != self.member:
                raise ValueError(f"record {record['__object_id']} is not of member {self.member}")
            entry = place[1]
            self.entries[entry] = Entry(
                entry, kinds[entry], parse_stamp(record["__creation_time"]), record, True
            )

    def gid(self, entry: int) -> str:
        """Return the API gid of ``entry``: its ``__object_id``, as a string."""
        return str(object_id(self.member, entry))

    def visible(self, entry: int) -> bool:
        """Whether the API shows ``entry``: it is in the export and not in the trash."""
        taken = self.entries[entry]
        return taken.alive and "__trashed_at" not in taken.record

    def children(self, entry: int) -> list[int]:
        """Return the entries that belong to ``entry`` and exist by this export (deleted ones included)."""
        return [child for child in self.structure.children.get(entry, ()) if child < len(self.entries)]

    def modified(self, entry: int) -> int:
        """Return ``modified_at`` of ``entry`` (epoch seconds); see the module for what moves it."""
        latest = self._touched(entry)
        for child in self.children(entry):
            latest = max(latest, self._attached(child))
        return latest

    def _touched(self, entry: int) -> int:
        """Return the last change to the object itself: its creation, updates and trashing."""
        latest = self.entries[entry].created
        seed, member = self.organization.seed, self.member
        for export, _ in self.lifecycle.events(entry, self.export):
            latest = max(latest, change_moment(seed, member, entry, self._timeline.export_time(export)))
        return latest

    def _attached(self, child: int) -> int:
        """Return the last time ``child`` changed what it belongs to: created, trashed or deleted."""
        taken = self.entries[child]
        latest = taken.created
        trashed = taken.record.get("__trashed_at")
        if trashed is not None:
            latest = max(latest, parse_stamp(trashed))
        deleted = self.lifecycle.deleted.get(child)
        if deleted is not None and deleted <= self.export:
            latest = max(latest, self.deletion_moment(child, deleted))
        return latest

    def deletion_moment(self, entry: int, export: int) -> int:
        """When ``entry``, gone from export ``export`` on, was deleted: in the day before that export."""
        when = self._timeline.export_time(export)
        return when - 60 - int(unit(self.organization.seed, self.member, entry, _DELETION_SALT) * (DAY - 120))
