r"""
The ground truth of a sequence of exports: which objects each export inserts, updates and deletes.

Export ``k`` (``k >= 1``) differs from export ``k - 1`` by exactly these rows, one per changed object:

- ``insert``: the object is in export ``k`` and not in export ``k - 1``;
- ``update``: it is in both and its record differs (a trashing, which sets ``__trashed_at``, is an update);
- ``delete``: it is in export ``k - 1`` and not in export ``k``.

For export 0 every object is an ``insert``. Rows come in ``__object_id`` order. As JSON Lines (what
:func:`write_changes` writes), a row is ``{"__object_id": 1150000000000123, "__type": "Task",
"change": "update"}``, keys in that order, one row per line, UTF-8, each line ending in ``\\n``.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from airflow_provider_asana.emulator.exportfile import ExportInfo, check_export
from airflow_provider_asana.emulator.lifecycle import DELETE, INSERT, UPDATE, ChangeRates, Lifecycle
from airflow_provider_asana.emulator.objects import object_id
from airflow_provider_asana.emulator.structure import Structure

CHANGES = (INSERT, UPDATE, DELETE)


@dataclass(frozen=True)
class Change:
    """
    One changed object.

    :param object_id: Its ``__object_id``.
    :param type: Its ``__type``.
    :param change: ``"insert"``, ``"update"`` or ``"delete"``.
    """

    object_id: int
    type: str
    change: str

    def as_dict(self) -> dict[str, int | str]:
        """Return the row as written to JSON Lines."""
        return {"__object_id": self.object_id, "__type": self.type, "change": self.change}


def iter_changes(
    seed: int, plan: list[int], export: int, *, rates: ChangeRates | None = None
) -> Iterator[Change]:
    """
    Yield the changes of ``export`` against the export before it, in ``__object_id`` order (see the module).

    Computed member by member from the plan alone, without generating any record.

    :param seed: The sequence's seed.
    :param plan: :attr:`.exportfile.ExportInfo.plan` of export 0 of the sequence.
    :param export: Which export.
    :param rates: The change rates the exports were written with.
    """
    check_export(export)
    rates = rates or ChangeRates()
    for member, originals in enumerate(plan):
        structure = Structure(seed, member)
        lifecycle = Lifecycle(seed, member, originals, rates, structure)
        for entry, change in lifecycle.changes(export):
            yield Change(object_id(member, entry), structure.kind(entry).type, change)


def write_changes(
    out: BinaryIO, seed: int, plan: list[int], export: int, *, rates: ChangeRates | None = None
) -> ExportInfo:
    """
    Write :func:`iter_changes` as JSON Lines to ``out``.

    :return: Bytes written, their digests, and ``counts``: rows per change (``insert``, ``update``,
        ``delete``).
    """
    md5, sha256 = hashlib.md5(), hashlib.sha256()
    counts: Counter[str] = Counter(dict.fromkeys(CHANGES, 0))
    size = 0
    batch: list[bytes] = []
    for change in iter_changes(seed, plan, export, rates=rates):
        counts[change.change] += 1
        batch.append(json.dumps(change.as_dict()).encode())
        if len(batch) >= 10_000:
            size += _flush(out, batch, md5, sha256)
    size += _flush(out, batch, md5, sha256)
    return ExportInfo(size, md5.hexdigest(), sha256.hexdigest(), dict(counts))


def _flush(out: BinaryIO, batch: list[bytes], *digests: Any) -> int:
    if not batch:
        return 0
    data = b"\n".join(batch) + b"\n"
    batch.clear()
    out.write(data)
    for digest in digests:
        digest.update(data)
    return len(data)
