"""The landed export file: open it wherever it is, hash it and inflate it as a stream of blocks."""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_asana.tables.errors import ExportFileError

READ_BYTES = 1 << 20
#: Largest inflated block: bounds memory whatever the compression ratio (a gzip bomb inflates in steps).
BLOCK_BYTES = 4 << 20


@dataclass
class SourceFile:
    """An opened export file."""

    name: str
    """How messages name it: the URI as given (it names a connection id, never a secret)."""
    stream: IO[bytes]
    modified: datetime.datetime | None


def _local_path(source: Any) -> Path | None:
    if isinstance(source, Path):
        return source
    if isinstance(source, str):
        if source.startswith("file://"):
            return Path(source[len("file://") :])
        if "://" not in source:
            return Path(source)
    return None


@contextmanager
def open_source(source: Any) -> Iterator[SourceFile]:
    """
    Open ``source``, wherever it is.

    A local path, ``file://`` URI, an ``ObjectStoragePath`` or any URI it understands
    (``s3://<conn_id>@bucket/key``, ``gs://``, ...; credentials come from the named Airflow connection).
    """
    local = _local_path(source)
    if local is not None:
        try:
            stream = open(local, "rb")
        except FileNotFoundError:
            raise ExportFileError(f"source {str(source)!r}: no such file; pass the landed .json.gz") from None
        with stream:
            mtime = datetime.datetime.fromtimestamp(os.fstat(stream.fileno()).st_mtime, datetime.timezone.utc)
            yield SourceFile(str(source), stream, mtime)
        return
    from airflow.sdk import ObjectStoragePath

    path = source if isinstance(source, ObjectStoragePath) else ObjectStoragePath(source)
    name = str(source)
    if not path.exists():
        raise ExportFileError(f"source {name!r}: no such object; pass the landed .json.gz")
    modified: datetime.datetime | None = None
    # a store without modification times: the caller falls back to the load time
    with contextlib.suppress(AttributeError, KeyError, TypeError, ValueError, OSError):
        modified = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
    with path.open("rb") as stream:
        yield SourceFile(name, stream, modified)


def inflate(source: SourceFile, digest: Any) -> Iterator[bytes]:
    """
    Yield the inflated bytes of ``source`` in blocks of at most :data:`BLOCK_BYTES`.

    ``digest`` (a hashlib object) sees every compressed byte. Concatenated gzip members are one stream.

    :raises ExportFileError: the file is not gzip, is corrupt, or ends before its gzip end.
    """
    from isal import isal_zlib  # ISA-L: the same stream, about 3x faster than zlib

    inflater = isal_zlib.decompressobj(31)
    consumed = 0
    while True:
        raw = source.stream.read(READ_BYTES)
        if not raw:
            break
        digest.update(raw)
        data = raw
        while data:
            if inflater.eof:  # the previous member ended: another one follows
                inflater = isal_zlib.decompressobj(31)
            try:
                out = inflater.decompress(data, BLOCK_BYTES)
            except Exception as exc:  # isal's IsalError: the stream is corrupt
                raise ExportFileError(
                    f"source {source.name!r} is not a valid gzip file "
                    f"(at compressed byte {consumed:,}): {exc}. "
                    "Land the export again: the file is corrupt."
                ) from None
            if out:
                yield out
            used = len(data) - len(inflater.unconsumed_tail) - len(inflater.unused_data)
            consumed += used
            data = inflater.unconsumed_tail or inflater.unused_data
    if not inflater.eof:
        raise ExportFileError(
            f"source {source.name!r} ends before its gzip end ({consumed:,} compressed bytes read): "
            "the file is "
            "truncated. Land the export again."
        )


def sha256_of(source: Any) -> str:
    """SHA-256 of the file's bytes (a read without inflating)."""
    digest = hashlib.sha256()
    with open_source(source) as opened:
        while chunk := opened.stream.read(READ_BYTES * 8):
            digest.update(chunk)
    return digest.hexdigest()


def prefetch(items: Iterator[bytes], depth: int = 4) -> Iterator[bytes]:
    """
    Produce ``items`` in a thread, ``depth`` ahead of the consumer.

    Reading, hashing and inflating release the GIL, so they overlap with the consumer's work. Exceptions
    reach the consumer; a consumer that stops early stops the thread.
    """
    slots: queue.Queue = queue.Queue(depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:
            slots.put(exc)

    thread = threading.Thread(target=produce, name="asana-tables-inflate", daemon=True)
    thread.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                thread.join(0.05)
