"""Local state on a shared host: a private directory, files never reached through a symlink.

What any small state file of the provider needs on a machine where other users run code
(pure of Airflow, POSIX only):

- the directory is created ``0700`` when missing, then *verified* through a descriptor
  opened without following a symlink: a directory, owned by this user, writable by no one
  else. Otherwise :class:`UnsafeStateError` names it and says why (another user who created
  the directory first could swap a file for a symlink and have us write through it);
- a file in it is opened relative to that descriptor with ``O_NOFOLLOW`` (a symlink is
  refused by name, never followed), created ``0600``, and must be a regular file owned by
  this user (made ``0600`` again if its mode was wider);
- the exclusive ``flock`` on it is awaited for a bounded time (:func:`lock_within`): a stuck
  holder costs a clear fallback, never a hang.

Any other ``OSError`` (a read-only disk, no permission) is the caller's to handle: the state
is then *unusable*, not unsafe.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

from airflow_provider_bulkdots.exceptions import ConfigurationError

#: How long a state file's lock is awaited by default (its holders keep it for microseconds).
DEFAULT_LOCK_TIMEOUT = 10.0


class UnsafeStateError(ConfigurationError):
    """A state directory or file that another user could control; ``path`` and ``reason``."""

    def __init__(self, path: Path, reason: str, setting: str | None = None) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"unsafe local state {str(path)!r}: {reason}", setting=setting)


def _mode(info: os.stat_result) -> str:
    return oct(stat.S_IMODE(info.st_mode)).replace("0o", "0")


def check_private_dir(info: os.stat_result, path: Path) -> None:
    """Refuse a directory that is not ours alone (see the module docstring)."""
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeStateError(path, "it is not a directory")
    if info.st_uid != os.geteuid():
        raise UnsafeStateError(
            path, f"it belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
        )
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise UnsafeStateError(
            path, f"it is writable by group or others (mode {_mode(info)}); make it 0700"
        )


def open_private_dir(path: Path) -> int:
    """A descriptor of the verified directory ``path``, created ``0700`` when missing."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700, parents=True)
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symlink (never followed)" if path.is_symlink() else "not a directory"
            raise UnsafeStateError(path, f"it is {kind}") from None
        raise
    try:
        check_private_dir(os.fstat(fd), path)
    except UnsafeStateError:
        os.close(fd)
        raise
    return fd


def open_private_file(dir_fd: int, directory: Path, name: str) -> int:
    """``name`` in the directory of ``dir_fd``, read-write, ``0600``, never through a link."""
    path = directory / name
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(name, flags, 0o600, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise UnsafeStateError(path, "it is a symlink (never followed)") from None
        if error.errno == errno.EISDIR:
            raise UnsafeStateError(path, "it is a directory") from None
        raise
    info = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(info.st_mode):
        problem = "it is not a regular file"
    elif info.st_uid != os.geteuid():
        problem = f"it belongs to uid {info.st_uid}, not to this user"
    if problem:
        os.close(fd)
        raise UnsafeStateError(path, problem)
    if stat.S_IMODE(info.st_mode) != 0o600:
        os.fchmod(fd, 0o600)
    return fd


def lock_within(
    fd: int,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Take the exclusive ``flock`` of ``fd`` within ``timeout`` seconds; whether it was taken.

    ``flock`` itself cannot time out: the lock is tried without blocking, with short pauses
    growing to 50 ms, until the deadline.
    """
    import fcntl  # POSIX only

    deadline = clock() + timeout
    pause = 0.0005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if clock() >= deadline:
                return False
            sleep(pause)
            pause = min(pause * 2, 0.05)


def unlock(fd: int) -> None:
    """Release the ``flock`` of ``fd``."""
    import fcntl

    fcntl.flock(fd, fcntl.LOCK_UN)


__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "UnsafeStateError",
    "check_private_dir",
    "lock_within",
    "open_private_dir",
    "open_private_file",
    "unlock",
]
