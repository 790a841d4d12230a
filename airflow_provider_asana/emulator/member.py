"""
One gzip member of an export file.

In export 0 a member is sized: records are deflated until the member is ``target`` bytes long, and how many
objects fit becomes the member's share of the organization for the whole sequence. In a later export the
member holds exactly those objects (less the deleted, plus its inserts), whatever size that makes. Both deflate at :data:`LEVEL`, gzip's default, as Asana's exports presumably are.
"""

from __future__ import annotations

import struct
import zlib
from collections import Counter, deque
from dataclasses import astuple, dataclass, field

from airflow_provider_asana.emulator.datagen import Line, MemberRecords
from airflow_provider_asana.emulator.lifecycle import ChangeRates, Lifecycle
from airflow_provider_asana.emulator.objects import Timeline
from airflow_provider_asana.emulator.structure import Structure

MEMBER_SIZE = 4 << 20
#: The deflate level: gzip's default.
LEVEL = 6
_BATCH_OUT = 64 << 10
_TRAILER = 8
_HEADER_SIZE = 10
_FINISH = 2
_FEXTRA = 0x04
_PAD_ID = b"EP"
_MAX_PAD = 0xFFFF
#: XLEN, then one subfield's id and length.
_MIN_PAD = 6


@dataclass
class Member:
    """
    A built member.

    :param data: The gzip member.
    :param objects: Entries it covers (in export 0: the objects that fit, fixed for the whole sequence).
    :param counts: Records per ``__type``.
    :param bad_lines: Lines that are not records.
    :param raw_size: Bytes of JSON lines it holds.
    """

    data: bytes
    objects: int
    counts: Counter[str] = field(default_factory=Counter)
    bad_lines: int = 0
    raw_size: int = 0

    def add(self, lines: list[Line]) -> bytes:
        """Count ``lines``; return their bytes."""
        for line in lines:
            if line.type is not None:
                self.counts[line.type] += 1
            self.bad_lines += line.bad
        return b"".join(line.data for line in lines)


def member_targets(size: int, member_size: int = MEMBER_SIZE) -> list[int]:
    """Split ``size`` bytes into members of ``member_size``; the last takes the remainder (up to 2x)."""
    count = max(1, size // member_size)
    return [member_size] * (count - 1) + [size - member_size * (count - 1)]


@dataclass(frozen=True)
class MemberJob:
    """
    Everything a worker needs to build one member (plain values, so it travels as JSON).

    :param seed: The export's seed.
    :param index: The member.
    :param target: Its compressed size in export 0.
    :param members: Members of the export.
    :param export: Which export of the sequence.
    :param originals: Objects the member holds in export 0; None to size export 0 (and find out).
    :param rates: :class:`ChangeRates` fields, in order.
    :param bad_lines: Also write lines that are not records.
    """

    seed: int
    index: int
    target: int
    members: int
    export: int = 0
    originals: int | None = None
    rates: tuple[float, ...] = astuple(ChangeRates())
    bad_lines: bool = False

    def run(self) -> Member:
        """Build the member."""
        timeline = Timeline(self.members, self.target)
        if self.originals is None:
            return build_member(self.seed, self.index, self.target, timeline)
        rates = ChangeRates(*self.rates)
        return build_member_at(
            self.seed, self.index, self.export, self.originals, timeline, rates, bad_lines=self.bad_lines
        )


def build_member(seed: int, index: int, target: int, timeline: Timeline) -> Member:
    """
    Build member ``index`` of export 0, exactly ``target`` bytes long.

    Records are deflated in batches, each ended with a sync flush so the compressed size is known exactly.
    Near the end, batches are tried on a copy of the compressor and halved until single records no longer
    fit; a padding field in the gzip header (FEXTRA, which every decoder skips) makes up the last bytes.
    """
    records = MemberRecords(seed, index, timeline)
    member = Member(b"", 0)
    deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    chunks: list[bytes] = []
    crc = length = written = 0
    ratio = 0.0
    # Room for the smallest padding field is kept, so the header can always make up the difference.
    budget = target - _HEADER_SIZE - _TRAILER - _FINISH - _MIN_PAD
    pending: deque[Line] = deque()
    want = _BATCH_OUT * 6.0
    while True:
        lines = _take(records, pending, max(1, int(want)))
        data = b"".join(line.data for line in lines)
        bulk = ratio > 0 and budget - written > 4 * _BATCH_OUT
        trial = deflate if bulk else deflate.copy()
        chunk = trial.compress(data) + trial.flush(zlib.Z_SYNC_FLUSH)
        if written + len(chunk) > budget:
            pending.extendleft(reversed(lines))
            if len(lines) == 1:
                break
            want = sum(len(line.data) for line in lines[: len(lines) // 2])
            continue
        deflate = trial
        member.add(lines)
        member.objects += len(lines)
        chunks.append(chunk)
        written += len(chunk)
        crc = zlib.crc32(data, crc)
        length += len(data)
        ratio = max(0.02, len(chunk) / max(1, len(data)))
        want = _BATCH_OUT / ratio if budget - written > 4 * _BATCH_OUT else (budget - written) / ratio / 2
    chunks.append(deflate.flush(zlib.Z_FINISH))
    chunks.append(struct.pack("<II", crc, length & 0xFFFFFFFF))
    body = sum(len(chunk) for chunk in chunks)
    member.data = _header(target - body) + b"".join(chunks)
    member.raw_size = length
    return member


def build_member_at(
    seed: int,
    index: int,
    export: int,
    originals: int,
    timeline: Timeline,
    rates: ChangeRates,
    *,
    bad_lines: bool,
) -> Member:
    """
    Build member ``index`` of export ``export``.

    It holds the member's ``originals`` objects of export 0 and its inserts since, as of that export.
    """
    lifecycle = Lifecycle(seed, index, originals, rates, Structure(seed, index))
    records = MemberRecords(seed, index, timeline, export=export, lifecycle=lifecycle, bad_lines=bad_lines)
    member = Member(b"", lifecycle.bounds[export])
    deflate = zlib.compressobj(LEVEL, zlib.DEFLATED, -15)
    chunks = [_gzip_header(0)]
    crc = length = 0
    while not records.done:
        data = member.add(records.batch(1 << 20))
        chunks.append(deflate.compress(data))
        crc = zlib.crc32(data, crc)
        length += len(data)
    chunks.append(deflate.flush(zlib.Z_FINISH))
    chunks.append(struct.pack("<II", crc, length & 0xFFFFFFFF))
    member.data = b"".join(chunks)
    member.raw_size = length
    return member


def _take(records: MemberRecords, pending: deque[Line], approx_bytes: int) -> list[Line]:
    """Take the next lines, ``pending`` ones first: about ``approx_bytes`` of them, at least one."""
    lines: list[Line] = []
    size = 0
    while pending and (size < approx_bytes or not lines):
        lines.append(pending.popleft())
        size += len(lines[-1].data)
    if size < approx_bytes:
        lines += records.batch(approx_bytes - size)
    return lines


def _header(space: int) -> bytes:
    """Return a gzip header filling ``space`` bytes when it can: padded with an FEXTRA subfield."""
    pad = space - _HEADER_SIZE
    if pad < _MIN_PAD:
        return _gzip_header(0)
    if pad - 2 > _MAX_PAD:
        raise RuntimeError(f"a gzip member is {pad} bytes short of its target; a single record is too large")
    subfield = _PAD_ID + struct.pack("<H", pad - 6) + bytes(pad - 6)
    return _gzip_header(_FEXTRA) + struct.pack("<H", len(subfield)) + subfield


def _gzip_header(flags: int) -> bytes:
    # ID1 ID2, CM=deflate, FLG, MTIME=0 (deterministic output), XFL=0 (default level), OS=unknown
    return b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x00\xff"
