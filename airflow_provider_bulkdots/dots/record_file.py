"""A local append-only record file: opened before any request, owned, private, one writer.

What the rejected-rows file needs on a local disk, pure of Airflow:

- opened (and created ``0600`` if new) when the task starts, so a path that cannot be written
  (a directory, no permission, a missing drive) fails before the first request;
- never through a symlink (``O_NOFOLLOW``) and only a regular file owned by this user: a file
  planted at the path is refused by name, not written through;
- appended, never truncated: each try adds its own lines after the earlier tries' lines;
- held under an exclusive ``flock`` for the whole try: a second writer to the same path (two
  mapped tasks given one path, a zombie beside its retry) is refused by name at its start,
  never merged line by line with the first;
- removed again on close when this opening created it and nothing was written (a clean run
  leaves no file behind).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path


class RecordFileError(OSError):
    """The record file cannot be opened as asked; the message names the path and why."""


class RecordFile:
    """An append-only file held by this process (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.written = 0
        self._created = False
        self._fd = self._open()

    def _open(self) -> int:
        import fcntl  # POSIX only

        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, self._created = _open_append(self.path)
        except OSError as error:
            raise RecordFileError(f"cannot write {self.path}: {_why(error)}") from None
        try:
            _check_owned_regular(fd, self.path)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RecordFileError(
                f"{self.path} is being written by another task (its lock is held): give each "
                "task its own path (e.g. with {{ ti.map_index }} in it)"
            ) from None
        except RecordFileError:
            os.close(fd)
            raise
        return fd

    def append(self, data: bytes) -> None:
        """Add ``data`` at the end of the file (whole, in one write where the OS allows)."""
        view = memoryview(data)
        while view:
            done = os.write(self._fd, view)
            view = view[done:]
        self.written += len(data)

    def close(self) -> None:
        """Release the lock; remove the file if this opening created it and wrote nothing."""
        if self._fd < 0:
            return
        if self._created and self.written == 0 and os.fstat(self._fd).st_size == 0:
            with contextlib.suppress(OSError):
                self.path.unlink()
        os.close(self._fd)  # releases the flock
        self._fd = -1


def _open_append(path: Path) -> tuple[int, bool]:
    """Open ``path`` for appending without following a symlink; whether it was created."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o600), True
    except FileExistsError:
        return os.open(path, flags), False


def _check_owned_regular(fd: int, path: Path) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise RecordFileError(f"cannot write {path}: it is not a regular file")
    if info.st_uid != os.geteuid():
        owner = info.st_uid
        raise RecordFileError(f"cannot write {path}: it belongs to another user (uid {owner})")
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.fchmod(fd, 0o600)  # ours: made private before anything is written


def _why(error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return "it is a symlink (never followed)"
    if error.errno == errno.EISDIR:
        return "it is a directory"
    return error.strerror or str(error)


__all__ = ["RecordFile", "RecordFileError"]
