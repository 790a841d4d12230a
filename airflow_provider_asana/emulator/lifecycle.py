"""
Which objects of a member exist in export ``k``, and what happened to each since export ``k - 1``.

Everything is a pure function of ``(seed, member, originals, rates)``, where ``originals`` is how many
objects the member holds in export 0: export ``k`` draws its inserts, updates, trashings and deletions from
a generator seeded with ``(seed, member, k)``, so any export of a sequence, and the change set between two,
can be computed member by member without the previous export's file.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.structure import Structure

INSERT = "insert"
UPDATE = "update"
DELETE = "delete"
TRASH = "trash"
_MASK = (1 << 64) - 1
#: Share of trashable objects already in the trash when they first appear in an export.
BORN_TRASHED = 0.03


@dataclass(frozen=True)
class ChangeRates:
    """
    What happens between two consecutive exports.

    Each rate is an expected fraction of a member's objects so far (deleted ones included, so the realized
    rates are a little lower).

    :param update: Objects whose fields change (trashed objects are left alone).
    :param insert: New objects (a fraction of the member's objects in export 0).
    :param delete: Objects that disappear (only deletable kinds: not users, teams, the domain).
    :param trash: Objects moved to the trash: ``__trashed_at`` and ``__trashed_by`` appear, a task's name
        empties (only trashable kinds). A trashing is an ``update`` in the change set.
    """

    update: float = 0.01
    insert: float = 0.003
    delete: float = 0.001
    trash: float = 0.001

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 0.5:
                raise ValueError(f"ChangeRates.{field.name} must be a number from 0 to 0.5; got {value!r}")

    @classmethod
    def parse(cls, text: str) -> ChangeRates:
        """
        Rates from ``"update=0.05,insert=0.01"`` (names not given keep their defaults).

        :raises ValueError: naming the unknown rate or the bad value.
        """
        values: dict[str, float] = {}
        names = [field.name for field in fields(cls)]
        for part in filter(None, (piece.strip() for piece in text.split(","))):
            name, _, number = (piece.strip() for piece in part.partition("="))
            if name not in names:
                raise ValueError(f"unknown change rate {name!r} in {text!r}; known: {', '.join(names)}")
            try:
                values[name] = float(number)
            except ValueError:
                raise ValueError(f"change rate {name} must be a number; got {number!r}") from None
        return cls(**values)

    def label(self) -> str:
        """Name these rates in a short text (empty for the defaults), for file names."""
        if self == ChangeRates():
            return ""
        return "-r" + "-".join(f"{getattr(self, field.name):g}" for field in fields(self))


def unit(seed: int, member: int, entry: int, salt: int) -> float:
    """Hash the arguments to a uniform number in ``[0, 1)`` (splitmix64)."""
    x = (seed * 0x9E3779B97F4A7C15 + member * 0xBF58476D1CE4E5B9 + entry * 0x94D049BB133111EB + salt) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return ((x ^ (x >> 31)) >> 11) * 2.0**-53


def born_trashed(seed: int, member: int, entry: int) -> bool:
    """Whether object ``entry`` is in the trash from its first export on (if its kind is trashable)."""
    return unit(seed, member, entry, 1) < BORN_TRASHED


class Lifecycle:
    """
    The history of one member's objects across exports, computed on demand and kept.

    :param seed: The export's seed.
    :param member: The member.
    :param originals: How many objects the member holds in export 0.
    :param rates: The change rates.
    :param structure: The member's :class:`Structure` (shared with the record generator).
    """

    def __init__(
        self, seed: int, member: int, originals: int, rates: ChangeRates, structure: Structure
    ) -> None:
        self.seed = seed
        self.member = member
        self.rates = rates
        self.structure = structure
        #: ``bounds[k]``: objects created up to export ``k`` (entries ``0 .. bounds[k] - 1``).
        self.bounds = [originals]
        self.deleted: dict[int, int] = {}
        self.trashed: dict[int, int] = {}
        self.updated: dict[int, list[int]] = {}
        self._changes: list[dict[int, str]] = [{}]

    def advance(self, export: int) -> None:
        """Compute every export up to ``export``."""
        while len(self.bounds) <= export:
            self._step(len(self.bounds))

    def created_in(self, entry: int) -> int:
        """Return the export that first holds ``entry``."""
        for export, bound in enumerate(self.bounds):
            if entry < bound:
                return export
        raise ValueError(f"entry {entry} is not created by export {len(self.bounds) - 1}")

    def alive(self, entry: int, export: int) -> bool:
        """Whether ``entry`` is in export ``export``."""
        deleted = self.deleted.get(entry)
        return entry < self.bounds[export] and (deleted is None or deleted > export)

    def events(self, entry: int, export: int) -> list[tuple[int, str]]:
        """``(export, UPDATE or TRASH)`` that touched ``entry`` up to ``export``, in order."""
        found = [(k, UPDATE) for k in self.updated.get(entry, ()) if k <= export]
        trashed = self.trashed.get(entry)
        if trashed is not None and trashed <= export:
            found.append((trashed, TRASH))
        return sorted(found)

    def changes(self, export: int) -> Iterator[tuple[int, str]]:
        """``(entry, INSERT, UPDATE or DELETE)`` of ``export`` against the one before, by entry."""
        self.advance(export)
        if export == 0:
            return ((entry, INSERT) for entry in range(self.bounds[0]))
        return iter(sorted(self._changes[export].items()))

    def _step(self, export: int) -> None:
        rng = random.Random(f"lifecycle-{self.seed}-{self.member}-{export}")
        before = self.bounds[-1]
        changes: dict[int, str] = {}
        structure = self.structure
        structure.ensure(before)
        for entry in rng.sample(range(before), _draw(rng, self.rates.delete * before)):
            if entry not in self.deleted and structure.kind(entry).deletable:
                self.deleted[entry] = export
                changes[entry] = DELETE
        for entry in rng.sample(range(before), _draw(rng, self.rates.trash * before)):
            if entry in changes or entry in self.deleted or self._in_trash(entry):
                continue
            if structure.kind(entry).trashable:
                self.trashed[entry] = export
                changes[entry] = UPDATE
        for entry in rng.sample(range(before), _draw(rng, self.rates.update * before)):
            if entry in changes or entry in self.deleted or self._in_trash(entry):
                continue
            self.updated.setdefault(entry, []).append(export)
            changes[entry] = UPDATE
        after = before + _draw(rng, self.rates.insert * self.bounds[0])
        changes.update(dict.fromkeys(range(before, after), INSERT))
        self.bounds.append(after)
        self._changes.append(changes)

    def _in_trash(self, entry: int) -> bool:
        if entry in self.trashed:
            return True
        return self.structure.kind(entry).trashable and born_trashed(self.seed, self.member, entry)


def _draw(rng: random.Random, expected: float) -> int:
    """Round ``expected`` up or down at random, so that small members still change now and then."""
    whole = math.floor(expected)
    return whole + (rng.random() < expected - whole)
