"""Organization exports and their state machine: ``pending`` -> ``started`` -> ``finished`` (or ``error``)."""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from airflow_provider_asana.emulator.directory import Workspace

TERMINAL = frozenset({"finished", "error"})
FIRST_EXPORT_GID = 1_210_000_000_000_001


@dataclasses.dataclass(frozen=True)
class Export:
    """
    One organization export, as of its last observation.

    :param gid: Its gid.
    :param organization: The exported organization.
    :param created: Creation time (epoch seconds).
    :param size: The export size at creation: the size of export 0 of the sequence it belongs to.
    :param sequence: Its place in that sequence: how many exports of the organization at this size were
        created before it. Export ``k`` is export ``k - 1`` plus a day's changes (see :mod:`.changes`).
    :param state: ``pending``, ``started``, ``finished`` or ``error``.
    :param polls: How many GETs it has answered.
    :param finished_at: When it reached a terminal state.
    """

    gid: str
    organization: Workspace
    created: float
    size: int
    sequence: int = 0
    state: str = "pending"
    polls: int = 0
    finished_at: float | None = None


class ExportStore:
    """
    Every export created, and how each advances.

    An export is ``pending`` when created. It finishes on its ``polls_to_finish``-th GET, or once
    ``seconds_to_finish`` have passed since creation, whichever comes first (None disables either; with
    both None it never finishes). Before that it is ``started`` once it has been polled (unless only
    time drives it) or a third of ``seconds_to_finish`` has passed. The terminal state is ``error``
    instead of ``finished`` if ``fail()`` says so when it is reached.

    :param polls_to_finish: GETs until finished (>= 1), or None.
    :param seconds_to_finish: Seconds until finished (> 0), or None.
    :param fail: Asked when an export reaches its end: True makes it ``error``.
    :param clock: The time source.
    """

    def __init__(
        self,
        polls_to_finish: int | None,
        seconds_to_finish: float | None,
        fail: Callable[[], bool] = lambda: False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if polls_to_finish is not None and polls_to_finish < 1:
            raise ValueError(f"polls_to_finish must be >= 1 or None; got {polls_to_finish}")
        if seconds_to_finish is not None and not seconds_to_finish > 0:
            raise ValueError(f"seconds_to_finish must be > 0 or None; got {seconds_to_finish}")
        self.polls_to_finish = polls_to_finish
        self.seconds_to_finish = seconds_to_finish
        self._fail = fail
        self._clock = clock
        self._lock = threading.Lock()
        self._exports: dict[str, Export] = {}
        self._gids = itertools.count(FIRST_EXPORT_GID)

    def create(self, organization: Workspace, size: int) -> Export:
        """Start the next export of ``organization`` in the sequence whose export 0 is ``size`` bytes."""
        with self._lock:
            earlier = self._exports.values()
            sequence = sum(1 for other in earlier if (other.organization, other.size) == (organization, size))
            export = Export(str(next(self._gids)), organization, self._clock(), size, sequence)
            self._exports[export.gid] = export
            return export

    def poll(self, gid: str) -> Export | None:
        """Count a GET of export ``gid`` and return it advanced; None if there is no such export."""
        with self._lock:
            export = self._exports.get(gid)
            if export is None:
                return None
            return self._advance(export, polls=export.polls + 1)

    def get(self, gid: str) -> Export | None:
        """Export ``gid`` as of now, without counting a poll."""
        with self._lock:
            export = self._exports.get(gid)
            return None if export is None else self._advance(export, polls=export.polls)

    def all(self) -> list[Export]:
        """Every export as of now, oldest first, without counting polls."""
        with self._lock:
            return [self._advance(export, polls=export.polls) for export in list(self._exports.values())]

    def _advance(self, export: Export, *, polls: int) -> Export:
        state = export.state
        if state not in TERMINAL:
            state = self._state(export, polls)
        finished_at = export.finished_at
        if state == "finished" and export.state not in TERMINAL:
            finished_at = self._clock()
            state = "error" if self._fail() else "finished"
        updated = dataclasses.replace(export, state=state, polls=polls, finished_at=finished_at)
        self._exports[export.gid] = updated
        return updated

    def _state(self, export: Export, polls: int) -> str:
        elapsed = self._clock() - export.created
        by_polls = self.polls_to_finish is not None and polls >= self.polls_to_finish
        by_time = self.seconds_to_finish is not None and elapsed >= self.seconds_to_finish
        if by_polls or by_time:
            return "finished"
        poll_driven = self.polls_to_finish is not None or self.seconds_to_finish is None
        by_third = self.seconds_to_finish is not None and elapsed >= self.seconds_to_finish / 3
        if (poll_driven and polls > 0) or by_third:
            return "started"
        return "pending"
