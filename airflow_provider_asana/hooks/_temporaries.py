"""
The temporaries a download writes beside its destination, and the removal of those a dead try left behind.

A temporary is named ``.<name>.<12 hex digits>.partial``. A try that is killed (SIGKILL, OOM, a lost
worker) cannot remove its own, so every new try of a destination first removes the ones nobody is
writing any more:

- local files: each writer holds an exclusive ``flock`` on its temporary from the moment it exists
  (:func:`create_locked`) until the file is renamed or removed. The kernel drops the lock when the
  process dies, whatever killed it, so a temporary that can be locked has no live writer. One held by a
  live try (a concurrent try, or a zombie worker still downloading) is left alone: it removes it itself.
- where no lock can tell (object stores; local filesystems without ``flock``), a temporary untouched for
  :data:`ABANDONED_AFTER` is taken as abandoned: a live writer adds bytes far more often than that.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import re
import secrets
import stat
import time
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

log = logging.getLogger(__name__)

#: Random bytes in a temporary's name (twice as many hex digits).
_RANDOM_BYTES = 6
#: Without a lock to ask, a temporary this old (seconds since it last changed) has no live writer. A live
#: one stalls at most ``max_attempts`` x (``read_timeout`` + ``max_retry_wait``), about 36 min by default.
ABANDONED_AFTER = 6 * 3600.0
#: errno values of a filesystem that has no ``flock`` (some network and FUSE filesystems).
_NO_LOCKS = frozenset({errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL, errno.ENOSYS})
#: Attempts at creating a locked temporary: one fails only if a cleaner removed the file in the
#: microseconds between its creation and its lock.
_CREATE_ATTEMPTS = 3


def temporary_name(name: str) -> str:
    """A hidden, unique sibling name for ``name``: ``.<name>.<random>.partial``."""
    return f".{name}.{secrets.token_hex(_RANDOM_BYTES)}.partial"


def is_temporary_of(candidate: str, name: str) -> bool:
    """True when ``candidate`` (a bare file name) is a name :func:`temporary_name` gives for ``name``."""
    pattern = rf"\.{re.escape(name)}\.[0-9a-f]{{{2 * _RANDOM_BYTES}}}\.partial"
    return re.fullmatch(pattern, candidate) is not None


def create_locked(directory: str, name: str) -> tuple[str, int]:
    """
    Create a new temporary for ``name`` in ``directory``, exclusively ``flock``-ed where the filesystem can.

    :return: Its path and an open, writable file descriptor that holds the lock until it is closed.
    :raises OSError: The file could not be created.
    """
    for _ in range(_CREATE_ATTEMPTS):
        path = os.path.join(directory, temporary_name(name))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        try:
            _lock(fd, wait=True)
            if _is_still(path, fd):  # a cleaner may have removed it before the lock was ours
                return path, fd
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise OSError(errno.EAGAIN, "the temporary file kept disappearing as it was created", directory)


def remove_abandoned_files(directory: str, name: str) -> None:
    """Remove the temporaries of ``name`` in ``directory`` that no live writer holds; never raises."""
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for entry in entries:
        if is_temporary_of(entry, name):
            path = os.path.join(directory, entry)
            try:
                _remove_if_abandoned(path)
            except OSError as e:
                log.warning("Could not remove the abandoned temporary file %s: %s", path, e)


def _remove_if_abandoned(path: str) -> None:
    # O_RDWR: on NFS, flock is emulated with a write lock, which needs a writable descriptor.
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except (FileNotFoundError, PermissionError):
        return  # gone already, or another user's (whose own next try removes it)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return
        locked = _lock(fd, wait=False)
        if locked is None:
            return  # a live writer holds it
        if not locked and time.time() - info.st_mtime < ABANDONED_AFTER:
            return  # no locks here: only age can tell, and it is recent
        if not _is_still(path, fd):
            return  # removed or replaced meanwhile
        os.unlink(path)
        log.warning("Removed %s, the temporary file of an earlier try that did not finish.", path)
    finally:
        os.close(fd)


def _lock(fd: int, *, wait: bool) -> bool | None:
    """
    Take an exclusive ``flock`` on ``fd``.

    :return: True when held; False when this filesystem has no ``flock``; None when another holder has it
        (only with ``wait=False``).
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return None
    except OSError as e:
        if e.errno in _NO_LOCKS:
            return False
        raise
    return True


def _is_still(path: str, fd: int) -> bool:
    """True when ``path`` still names the file open as ``fd``."""
    try:
        named = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def remove_abandoned_keys(fs: AbstractFileSystem, parent: str, name: str) -> None:
    """
    Remove the temporary keys of ``name`` under ``parent`` on ``fs`` untouched for :data:`ABANDONED_AFTER`.

    Object stores have no locks: age is the only sign. A key whose age the filesystem cannot tell is left
    alone. Never raises.
    """
    try:
        keys = fs.ls(parent, detail=False)
    except Exception as e:
        log.debug("Could not list %s to look for abandoned temporaries: %s", parent, e)
        return
    now = time.time()
    for key in keys:
        if not is_temporary_of(key.rstrip("/").rpartition("/")[2], name):
            continue
        try:
            modified = fs.modified(key)
            age = now - (modified.timestamp() if isinstance(modified, datetime) else float(modified))
            if age < ABANDONED_AFTER:
                continue
            fs.rm(key)
        except Exception as e:
            log.warning("Could not check or remove the temporary object %s: %s", key, e)
            continue
        log.warning("Removed %s, the temporary object of an earlier try that did not finish.", key)
