"""The differences a check found, as JSON Lines in a private local file.

The file is (re)created at the start of each check, so what it holds is that check's: mode
0600 (its directory, when created, 0700), owned by the user running the task, never opened
through a symlink (``O_NOFOLLOW``): a link planted at the path is refused by name. Pure of
Airflow.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import TracebackType

import msgspec

from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.planning.check import Difference


def local_path(path: str) -> Path:
    """The local path of ``path`` (a plain path or a ``file://`` URI); others are refused."""
    if path.startswith("file://"):
        return Path(path.removeprefix("file://"))
    if "://" in path:
        raise ConfigurationError(
            f"differences_path must be a local file (a path or file:// URI), got {path!r}",
            setting="differences_path",
        )
    return Path(path)


def open_private(path: Path) -> int:
    """A descriptor of ``path`` emptied for writing: 0600, ours, not through a symlink."""
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if path.is_symlink():
            raise ConfigurationError(
                f"differences_path {str(path)!r} is a symbolic link: refused",
                setting="differences_path",
            ) from None
        raise ConfigurationError(
            f"cannot write differences_path {str(path)!r}: {exc.strerror}",
            setting="differences_path",
        ) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise ConfigurationError(
            f"differences_path {str(path)!r} is not a regular file of this user: refused",
            setting="differences_path",
        )
    os.fchmod(fd, 0o600)
    os.ftruncate(fd, 0)
    return fd


class DifferencesFile:
    """Writes each difference as one JSON line; a no-op without a path."""

    def __init__(self, path: str | None) -> None:
        self.path = None if path is None else local_path(path)
        self._file = None if self.path is None else os.fdopen(open_private(self.path), "wb")
        self._encode = msgspec.json.Encoder().encode
        self.count = 0

    def write(self, difference: Difference) -> None:
        """One difference, as a line."""
        self.count += 1
        if self._file is not None:
            self._file.write(self._encode(difference.as_dict()) + b"\n")

    def __enter__(self) -> DifferencesFile:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
