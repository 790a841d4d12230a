"""One gzip member of the export file: synthetic records deflated to an exact compressed size."""

from __future__ import annotations

import functools
import struct
import zlib
from collections import Counter

from airflow_provider_asana.emulator.datagen import MemberRecords, text_pool

MEMBER_SIZE = 4 << 20
_BATCH_OUT = 64 << 10
_TAIL = 300
_TRAILER = 8
_HEADER_SIZE = 10
_FINISH = 2
_FEXTRA = 0x04
_PAD_ID = b"EP"


def member_targets(size: int, member_size: int = MEMBER_SIZE) -> list[int]:
    """Split ``size`` bytes into members of ``member_size``; the last takes the remainder (up to 2x)."""
    count = max(1, size // member_size)
    return [member_size] * (count - 1) + [size - member_size * (count - 1)]


def build_member(seed: int, index: int, target: int) -> tuple[bytes, Counter[str]]:
    """
    Gzip member ``index`` of an export with ``seed``, ``target`` bytes long (to within a few bytes).

    Records are deflated in batches, each ended with a sync flush so the compressed size is known
    exactly; smaller batches, then single ``Task`` fillers, approach the target; a padding field in the
    gzip header (FEXTRA, which every decoder skips) makes up the last few bytes.

    :return: The member and its record count per ``__type``.
    """
    records = MemberRecords(seed, index, _text_pool(seed))
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_RLE)
    chunks: list[bytes] = []
    crc = 0
    length = 0
    written = 0
    ratio = 0.8
    budget = target - _HEADER_SIZE - _TRAILER - _FINISH
    while True:
        remaining = budget - written
        if remaining <= _TAIL and written:
            break
        if remaining > 2 * _BATCH_OUT:
            data = records.batch(int(_BATCH_OUT / ratio))
        elif remaining > 2048 or not written:
            data = records.batch(remaining // 2, text_limit=remaining // 4)
        else:
            data = records.filler(int(remaining * 0.8))
        chunk = deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)
        if remaining > 2 * _BATCH_OUT:
            ratio = max(0.05, len(chunk) / len(data))
        chunks.append(chunk)
        written += len(chunk)
        crc = zlib.crc32(data, crc)
        length += len(data)
    chunks.append(deflate.flush(zlib.Z_FINISH))
    chunks.append(struct.pack("<II", crc, length & 0xFFFFFFFF))
    body = sum(len(chunk) for chunk in chunks)
    return _header(target - body) + b"".join(chunks), records.counts


@functools.lru_cache(maxsize=4)
def _text_pool(seed: int) -> str:
    return text_pool(seed)


def _header(space: int) -> bytes:
    """A gzip header filling ``space`` bytes when it can: padded with an FEXTRA subfield."""
    pad = space - _HEADER_SIZE
    if pad < 6:
        return _gzip_header(0)
    subfield = _PAD_ID + struct.pack("<H", pad - 6) + bytes(pad - 6)
    return _gzip_header(_FEXTRA) + struct.pack("<H", len(subfield)) + subfield


def _gzip_header(flags: int) -> bytes:
    # ID1 ID2, CM=deflate, FLG, MTIME=0 (deterministic output), XFL=fastest, OS=unknown
    return b"\x1f\x8b\x08" + bytes([flags]) + b"\x00\x00\x00\x00\x04\xff"
