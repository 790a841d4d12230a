"""
Write a file so that nobody ever sees it half-written at its destination.

Four writers, one small interface (:class:`AtomicWriter`): ``open()``, ``write(bytes)``, ``restart()``
(drop everything written, start again at byte 0), ``commit()`` (make the file appear at the
destination) and ``abort()`` (leave the destination as it was, remove every temporary).

- :class:`LocalFileWriter`: a temporary sibling file in the destination's directory, locked while it is
  written, fsynced, then renamed onto the destination (``os.replace``, or ``os.link`` when the destination
  must not be clobbered).
- :class:`DeferredCommitWriter`: an object store whose files honour fsspec's ``autocommit=False``
  (s3fs, gcsfs): bytes go straight to the destination key as an unfinished upload that ``commit()``
  completes and ``discard()`` aborts (for S3, a multipart upload; for GCS, a resumable upload session).
- :class:`StagedBlockWriter`: Azure Blob Storage (adlfs): bytes are staged as uncommitted blocks of the
  destination blob, which stay invisible until ``commit()`` commits the block list; a try that stops
  before that leaves only uncommitted blocks, which Azure discards.
- :class:`TemporaryKeyWriter`: any other fsspec filesystem: a temporary sibling key, moved onto the
  destination by ``fs.mv`` on success, removed on failure.

Without overwrite, the object-store writers ask the store for a conditional create (S3 ``If-None-Match: *``,
GCS ``ifGenerationMatch=0``, Azure ``If-None-Match: *`` on the block list), so the store itself refuses to
replace an object that appeared meanwhile, whoever wrote it.

The local and temporary-key writers first remove the temporaries a killed try left (see ``temporaries``).
A store that needs other handling gets a writer of its own here, chosen in :func:`make_writer`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import traceback
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_asana.download.temporaries import (
    create_locked,
    remove_abandoned_files,
    remove_abandoned_keys,
    temporary_name,
)
from airflow_provider_asana.exceptions import AsanaDownloadError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

#: Upload part size for object stores (s3fs needs >= 5 MiB). S3 allows 10,000 parts; writes arrive in
#: download chunks, so parts are 16-20 MiB: objects up to about 160 GiB, with flat memory.
OBJECT_STORE_BLOCK_SIZE = 16 << 20

#: Filesystems (class paths, matched along the MRO) whose files implement ``autocommit=False`` for real:
#: nothing is visible until ``commit()``, ``discard()`` drops the upload. Others may accept the flag and
#: ignore it (fsspec's memory filesystem creates the file at open; adlfs commits the blob on close), so they
#: get a writer of their own or a temporary key.
DEFERRED_COMMIT_FILESYSTEMS = frozenset({"s3fs.core.S3FileSystem", "gcsfs.core.GCSFileSystem"})
#: Filesystems whose files stage blocks of the destination blob and commit the block list on ``close()``.
STAGED_BLOCK_FILESYSTEMS = frozenset({"adlfs.spec.AzureBlobFileSystem"})

#: Filesystems whose ``open(mode="xb")`` is enforced by the store when the upload completes:
#: - s3fs (>= 2025.7) sends ``If-None-Match: *`` with ``PutObject`` and ``CompleteMultipartUpload``, which S3
#:   refuses with 412 (or 409 while a conflicting write is in flight) if the key exists;
#: - gcsfs opens the resumable upload session with ``ifGenerationMatch=0``, which GCS checks when the upload
#:   is finalized (412, raised by gcsfs as ``FileExistsError``);
#: - adlfs sends ``If-None-Match: *`` with Put Block List, which Azure refuses with 409 ``BlobAlreadyExists``
#:   (raised by adlfs as ``FileExistsError``).
CONDITIONAL_CREATE_FILESYSTEMS = frozenset(
    {"s3fs.core.S3FileSystem", "gcsfs.core.GCSFileSystem", "adlfs.spec.AzureBlobFileSystem"}
)
#: Error codes of a conditional write refused because the key exists (or is being written concurrently).
_CONDITIONAL_REFUSALS = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})

#: Local files: once this many bytes more have been written, the kernel is asked to start writing the oldest
#: unflushed window to disk (``posix_fadvise(POSIX_FADV_DONTNEED)``, which also lets it drop those pages once
#: clean), so the fsync before the rename has little left to do and a large export does not fill the page
#: cache. Measured on a 1 GiB download: the fsync went from 0.3-0.5 s to 0.01 s.
WRITEBACK_WINDOW = 16 << 20
_FADVISE = hasattr(os, "posix_fadvise") and hasattr(os, "POSIX_FADV_DONTNEED")


class AtomicWriter(Protocol):
    """What the download engine needs from a destination."""

    def open(self) -> None: ...
    def write(self, data: bytes) -> None: ...
    def restart(self) -> None: ...
    def commit(self) -> None: ...
    def abort(self) -> None: ...


def is_local(fs: AbstractFileSystem) -> bool:
    """Tell whether ``fs`` is fsspec's LocalFileSystem (``file://``, ``local://`` and plain paths)."""
    protocols = fs.protocol if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)
    return bool({"file", "local"} & set(protocols))


def make_writer(fs: AbstractFileSystem, path: str, uri: str, *, overwrite: bool) -> AtomicWriter:
    """
    Choose the writer for ``path`` on ``fs``.

    :param fs: The destination's filesystem.
    :param path: The path on ``fs`` (no protocol), as ``ObjectStoragePath.path`` gives it.
    :param uri: The destination as the user named it, for messages.
    :param overwrite: Whether an object already at the destination may be replaced.
    """
    if is_local(fs):
        return LocalFileWriter(path, uri, overwrite=overwrite)
    mro = {f"{cls.__module__}.{cls.__qualname__}" for cls in type(fs).__mro__}
    exclusive = not overwrite and bool(mro & CONDITIONAL_CREATE_FILESYSTEMS)
    if mro & DEFERRED_COMMIT_FILESYSTEMS:
        return DeferredCommitWriter(fs, path, uri, overwrite=overwrite, exclusive=exclusive)
    if mro & STAGED_BLOCK_FILESYSTEMS:
        return StagedBlockWriter(fs, path, uri, overwrite=overwrite, exclusive=exclusive)
    return TemporaryKeyWriter(fs, path, uri, overwrite=overwrite)


def exists_error(uri: str) -> AsanaDownloadError:
    """Return the error for a destination that exists when it must not be replaced (``overwrite=False``)."""
    return AsanaDownloadError(
        f"destination {uri} already exists: pass overwrite=True to replace it, or choose another destination."
    )


def _release_frames(error: BaseException) -> None:
    """
    Drop the locals of the frames a store's error passed through, which our error keeps as its context.

    gcsfs holds a view of its upload buffer there (``BytesIO.getbuffer()``); left to the garbage collector in
    that reference cycle, the view crashes CPython 3.12.1 (a segmentation fault in ``bytesiobuf_releasebuffer``).
    """
    traceback.clear_frames(error.__traceback__)


def _write_error(uri: str, what: str, error: BaseException) -> AsanaDownloadError:
    return AsanaDownloadError(
        f"destination {uri} is not writable: {what} failed with {type(error).__name__}: {error}. "
        "Check that the path is right, that its parent is a directory (or bucket) the worker may write to, "
        "and that the storage has space."
    )


class LocalFileWriter:
    """
    A temporary sibling file, fsynced, then renamed onto the destination; written back as it grows.

    The temporary is ``flock``-ed from its creation until it is renamed or removed, so that the next try
    can tell it from one a killed try left (which it removes before creating its own).
    """

    def __init__(self, path: str, uri: str, *, overwrite: bool) -> None:
        self.path = path
        self.uri = uri
        self.overwrite = overwrite
        self.directory, self.name = os.path.split(path)
        self.temporary: str | None = None
        self._file: Any = None

    def open(self) -> None:
        try:
            os.makedirs(self.directory, exist_ok=True)
            remove_abandoned_files(self.directory, self.name)
            self.temporary, fd = create_locked(self.directory, self.name)
        except OSError as e:
            raise _write_error(self.uri, f"creating a temporary file in {self.directory}", e) from None
        # Writes come in large chunks: let them go straight to the kernel.
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._written = self._flushed = 0

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # a raw write may be partial; every pass writes at least one byte or raises
            written = self._file.write(view)
            view = view[written:]
        self._written += len(data)
        if _FADVISE and self._written - self._flushed >= 2 * WRITEBACK_WINDOW:
            # Only a hint: durability still comes from the fsync in commit().
            with contextlib.suppress(OSError):
                os.posix_fadvise(self._file.fileno(), self._flushed, WRITEBACK_WINDOW, os.POSIX_FADV_DONTNEED)
            self._flushed += WRITEBACK_WINDOW

    def restart(self) -> None:
        self._file.seek(0)
        self._file.truncate(0)
        self._written = self._flushed = 0

    def commit(self) -> None:
        try:
            os.fsync(self._file.fileno())
        except OSError as e:
            raise _write_error(self.uri, "flushing the temporary file to disk", e) from None
        # Closed (so unlocked) only once renamed: until then no other try may take it for abandoned.
        self._promote()
        self.temporary = None
        self._close()
        self._fsync_directory()

    def _close(self) -> None:
        if self._file is not None and not self._file.closed:
            try:
                self._file.close()
            except OSError as e:
                log.debug("Closing the temporary file of %s failed: %s", self.uri, e)

    def _promote(self) -> None:
        temporary = self.temporary
        if temporary is None:
            raise RuntimeError("commit() of a writer that is not open")
        if self.overwrite:
            try:
                os.replace(temporary, self.path)
            except OSError as e:
                raise _write_error(self.uri, "renaming the temporary file onto it", e) from None
            return
        # Do not clobber a file that appeared during the download: link(2) fails if the name exists.
        try:
            os.link(temporary, self.path)
        except FileExistsError:
            raise exists_error(self.uri) from None
        except OSError:
            # No hard links here (some network and FUSE filesystems): check, then rename.
            if os.path.lexists(self.path):
                raise exists_error(self.uri) from None
            try:
                os.replace(temporary, self.path)
            except OSError as e:
                raise _write_error(self.uri, "renaming the temporary file onto it", e) from None
            return
        try:
            os.unlink(temporary)
        except OSError as e:
            log.warning("Could not remove the temporary link %s: %s", temporary, e)

    def _fsync_directory(self) -> None:
        try:
            fd = os.open(self.directory or ".", os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass  # not every filesystem can fsync a directory
        finally:
            os.close(fd)

    def abort(self) -> None:
        temporary, self.temporary = self.temporary, None
        if temporary is not None:
            try:
                os.unlink(temporary)  # still locked: removed before the lock goes
            except FileNotFoundError:
                pass
            except OSError as e:
                log.warning("Could not remove the temporary file %s: %s", temporary, e)
        self._close()


class DeferredCommitWriter:
    """
    Straight to the destination key, with ``autocommit=False``: ``commit()`` publishes, ``discard()`` aborts.

    :param exclusive: Open with mode ``xb``: the store refuses, at commit, to replace an existing object
        (see :data:`CONDITIONAL_CREATE_FILESYSTEMS`).
    """

    def __init__(
        self, fs: AbstractFileSystem, path: str, uri: str, *, overwrite: bool, exclusive: bool = False
    ) -> None:
        self.fs = fs
        self.path = path
        self.uri = uri
        self.overwrite = overwrite
        self.mode = "xb" if exclusive else "wb"
        self._file: Any = None

    def open(self) -> None:
        try:
            self._file = self._open_file()
        except Exception as e:
            raise _write_error(self.uri, "opening an upload", e) from None

    def _open_file(self) -> Any:
        return self.fs.open(self.path, self.mode, autocommit=False, block_size=OBJECT_STORE_BLOCK_SIZE)

    def _publish(self, f: Any) -> None:
        f.close()  # uploads the last part; with autocommit=False nothing is published yet
        f.commit()  # completes the multipart upload (or puts a small file in one request)

    def _discard(self, f: Any) -> None:
        f.discard()  # s3fs: abort the multipart upload; gcsfs: cancel the resumable upload session

    def write(self, data: bytes) -> None:
        try:
            self._file.write(data)
        except Exception as e:
            # GCS checks ifGenerationMatch=0 when the session opens too (at the first full chunk).
            if self.mode == "xb" and _refused_as_existing(e):
                _release_frames(e)
                raise exists_error(self.uri) from None
            raise

    def restart(self) -> None:
        self._drop()
        self.open()

    def commit(self) -> None:
        if not self.overwrite:
            # Only narrows the window on stores without conditional writes (or that ignore If-None-Match):
            # with mode xb it is the store that refuses, at the commit below.
            self.fs.invalidate_cache(self.path)
            if self.fs.exists(self.path):
                raise exists_error(self.uri)
        f = self._file
        try:
            self._publish(f)
        except Exception as e:
            # The unfinished upload is left to abort(), which the caller runs on any failure.
            _release_frames(e)
            if self.mode == "xb" and _refused_as_existing(e):
                raise exists_error(self.uri) from None
            raise _write_error(self.uri, "completing the upload", e) from None
        finally:
            self._forget(f)
        self._file = None

    def abort(self) -> None:
        self._drop()

    def _drop(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        try:
            self._discard(f)
        except Exception as e:
            log.warning("Could not discard the unfinished upload to %s: %s", self.uri, e)
        # fsspec's close() would otherwise flush: start a multipart upload for the last bytes. Nothing is left
        # to send.
        if hasattr(f, "forced"):
            f.forced = True
        try:
            f.close()
        except Exception as e:
            log.debug("Closing the discarded upload to %s failed: %s", self.uri, e)
        self._forget(f)

    def _forget(self, f: Any) -> None:
        # fsspec files opened with autocommit=False are queued on the filesystem's transaction (and
        # filesystems are cached): take ours off so they are neither kept alive nor committed later.
        transaction = getattr(self.fs, "_transaction", None)
        files = getattr(transaction, "files", None)
        if files is not None:
            with contextlib.suppress(ValueError):
                files.remove(f)


class StagedBlockWriter(DeferredCommitWriter):
    """
    Azure block blobs: blocks staged on the destination blob, published by committing the block list.

    adlfs ignores ``autocommit=False``: its ``close()`` stages the last block and commits the block list, so
    closing is the commit. Until then the blob (if new) does not exist for readers and an existing blob keeps
    its content; dropping the file without closing it leaves uncommitted blocks, which Azure discards at the
    next commit of that blob, or after a week.
    """

    def _open_file(self) -> Any:
        return self.fs.open(self.path, self.mode, block_size=OBJECT_STORE_BLOCK_SIZE)

    def _publish(self, f: Any) -> None:
        f.close()

    def _discard(self, f: Any) -> None:
        pass  # nothing to cancel: the staged blocks are never committed


def _refused_as_existing(error: BaseException) -> bool:
    """Tell whether ``error`` (or its cause) is the store refusing a conditional write: the key exists."""
    seen: BaseException | None = error
    for _ in range(8):  # s3fs wraps botocore's ClientError; the chain is short
        if seen is None:
            return False
        if isinstance(seen, FileExistsError):
            return True
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            code = (response.get("Error") or {}).get("Code")
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in _CONDITIONAL_REFUSALS or status == 412:
                return True
        seen = seen.__cause__ or seen.__context__
    return False


class TemporaryKeyWriter:
    """A temporary sibling key, moved onto the destination with ``fs.mv`` once complete."""

    def __init__(self, fs: AbstractFileSystem, path: str, uri: str, *, overwrite: bool) -> None:
        self.fs = fs
        self.path = path
        self.uri = uri
        self.overwrite = overwrite
        self._parent, _, self._name = path.rstrip("/").rpartition("/")
        name = temporary_name(self._name)
        self.temporary = f"{self._parent}/{name}" if self._parent else name
        self._file: Any = None

    def open(self) -> None:
        remove_abandoned_keys(self.fs, self._parent, self._name)
        try:
            self._file = self.fs.open(self.temporary, "wb", block_size=OBJECT_STORE_BLOCK_SIZE)
        except Exception as e:
            raise _write_error(self.uri, f"creating the temporary object {self.temporary}", e) from None

    def write(self, data: bytes) -> None:
        self._file.write(data)

    def restart(self) -> None:
        self.abort()
        self.open()

    def commit(self) -> None:
        try:
            self._file.close()
        except Exception as e:
            raise _write_error(self.uri, f"writing the temporary object {self.temporary}", e) from None
        self._file = None
        if not self.overwrite:
            self.fs.invalidate_cache(self.path)
            if self.fs.exists(self.path):
                raise exists_error(self.uri)
        try:
            self.fs.mv(self.temporary, self.path)
        except Exception as e:
            raise _write_error(self.uri, f"moving the temporary object {self.temporary} onto it", e) from None

    def abort(self) -> None:
        f, self._file = self._file, None
        if f is not None:
            try:
                f.close()
            except Exception as e:
                log.debug("Closing the temporary object %s failed: %s", self.temporary, e)
        try:
            if self.fs.exists(self.temporary):
                self.fs.rm(self.temporary)
        except Exception as e:
            log.warning("Could not remove the temporary object %s: %s", self.temporary, e)
