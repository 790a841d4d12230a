"""The streaming gzip verifier, on crafted bytes (the emulator cannot corrupt a file byte by byte)."""

from __future__ import annotations

import gzip
import hashlib
import random
import struct
import tracemalloc

import pytest

from airflow_provider_asana.download.gzip_check import GzipError, GzipVerifier, StreamChecker

PAYLOAD = random.Random(7).randbytes(200_000) + b"line of json\n" * 20_000


def feed(data: bytes, chunk: int = 4096, verifier: GzipVerifier | None = None) -> GzipVerifier:
    verifier = verifier or GzipVerifier()
    for i in range(0, len(data), chunk):
        verifier.update(data[i : i + chunk])
    verifier.finish()
    return verifier


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 22])
def test_two_valid_members_at_any_chunking(chunk):
    first, second = gzip.compress(PAYLOAD), gzip.compress(b"second member\n")
    data = first + second if chunk != 1 else gzip.compress(b"a" * 3000) + gzip.compress(b"b")
    verifier = feed(data, chunk)
    assert verifier.members == 2
    expected = len(PAYLOAD) + len(b"second member\n") if chunk != 1 else 3001
    assert verifier.decompressed_bytes == expected


def test_member_boundary_on_a_chunk_boundary():
    first = gzip.compress(PAYLOAD)
    verifier = GzipVerifier()
    verifier.update(first)
    verifier.update(gzip.compress(b"x"))
    verifier.finish()
    assert verifier.members == 2


def test_bad_crc_is_refused():
    data = bytearray(gzip.compress(PAYLOAD))
    data[-8] ^= 0xFF  # CRC-32 trailer
    with pytest.raises(GzipError, match="incorrect data check"):
        feed(bytes(data))


def test_bad_isize_is_refused():
    data = bytearray(gzip.compress(PAYLOAD))
    data[-4:] = struct.pack("<I", (len(PAYLOAD) + 1) & 0xFFFFFFFF)  # ISIZE trailer
    with pytest.raises(GzipError, match="incorrect length check"):
        feed(bytes(data))


def test_corrupt_deflate_data_is_refused():
    data = bytearray(gzip.compress(PAYLOAD))
    data[len(data) // 2] ^= 0x55
    with pytest.raises(GzipError):
        feed(bytes(data))


@pytest.mark.parametrize("garbage", [b"garbage!", b"\x00" * 16, b"\x1f\x8b\x08\x00 not a member" + b"?" * 32])
def test_trailing_garbage_is_refused(garbage):
    with pytest.raises(GzipError):
        feed(gzip.compress(PAYLOAD) + garbage)


def test_trailing_garbage_message_says_what_follows_the_member():
    with pytest.raises(GzipError, match="after the end of gzip member 1 are not another gzip member"):
        feed(gzip.compress(PAYLOAD) + b"garbage!")


@pytest.mark.parametrize("cut", [1, 5, 9, 4, 8, 1000])
def test_truncated_member_is_refused(cut):
    """Cut inside the header (first bytes), the deflate data, or the 8-byte CRC/ISIZE trailer."""
    data = gzip.compress(PAYLOAD) + gzip.compress(b"tail")
    with pytest.raises(GzipError, match="truncated"):
        feed(data[:-cut])


def test_truncated_first_member_is_refused():
    data = gzip.compress(PAYLOAD)
    with pytest.raises(GzipError, match="truncated: member 1"):
        feed(data[: len(data) // 2])


def test_empty_and_non_gzip_are_refused():
    with pytest.raises(GzipError, match="empty"):
        feed(b"")
    with pytest.raises(GzipError, match="invalid gzip data"):
        feed(b'{"not": "gzip"}\n')


def test_reset_starts_over():
    verifier = GzipVerifier()
    verifier.update(b"junk that is not gzip"[:0] + gzip.compress(PAYLOAD)[:100])
    verifier.reset()
    feed(gzip.compress(b"fresh start"), verifier=verifier)
    assert verifier.members == 1
    assert verifier.decompressed_bytes == len(b"fresh start")


def test_memory_stays_flat_on_a_bomb():
    """200 MB of zeros compress to ~200 KB: decoding must not hold more than a bounded output buffer."""
    data = gzip.compress(b"\x00" * 200_000_000, compresslevel=9)
    tracemalloc.start()
    try:
        verifier = feed(data, chunk=1 << 20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verifier.decompressed_bytes == 200_000_000
    assert peak < 8 << 20, f"peak {peak} bytes"


def update(checker: StreamChecker, data: bytes) -> None:
    """What the pipeline's hasher and checker threads do with a chunk, here on one thread."""
    checker.update_hash(data)
    checker.update_gzip(data)


def test_stream_checker_hashes_and_verifies():
    data = gzip.compress(PAYLOAD)
    checker = StreamChecker(verify_gzip=True)
    update(checker, data[:10])
    checker.reset_hash()
    checker.reset_gzip()
    for i in range(0, len(data), 1000):
        update(checker, data[i : i + 1000])
    assert checker.finish() == hashlib.sha256(data).hexdigest()
    unchecked = StreamChecker(verify_gzip=False)
    update(unchecked, b"not gzip")
    assert unchecked.finish() == hashlib.sha256(b"not gzip").hexdigest()
