"""What was refused, written as JSON Lines: one object per invalid row or refused dot.

Every line has the same keys (:data:`REJECTED_FIELDS`, ``null`` where a key does not apply):
``kind`` is ``"invalid_row"`` for a row the checks refused (with its ``row`` number, for a
file the ``line`` it starts on, ``field``, ``value`` and ``rule``) or ``"refused_by_api"``
for a dot the API refused with a 400 or a 204 (with its ``device``, ``variable``,
``timestamp``, ``value``, the API's words as ``rule`` and ``detail``, and the ``body_id`` it
travelled in); ``try_number`` is the try that wrote the line.

A record across tries: no try erases what an earlier one wrote. A local path is opened when
the task starts (so a path that cannot be written fails before the first request), created
``0600``, never through a symlink, appended to (each try adds its section of lines, told
apart by ``try_number``), and held under an exclusive lock: a second task writing to the same
path is refused at its start (:mod:`~airflow_provider_bulkdots.dots.record_file`). A remote
URI (``s3://...``) gets one object per try, ``<path>.try-<n>``, written when the try ends; it
is neither checked nor locked ahead (object stores have neither).
"""

from __future__ import annotations

import io
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import msgspec

from airflow_provider_bulkdots.delivery.reporting.results import RefusedDot
from airflow_provider_bulkdots.dots import InvalidRow
from airflow_provider_bulkdots.dots.record_file import RecordFile, RecordFileError
from airflow_provider_bulkdots.exceptions import ConfigurationError

#: The keys of every line, in order.
REJECTED_FIELDS: tuple[str, ...] = (
    "kind",
    "row",
    "line",
    "field",
    "value",
    "rule",
    "device",
    "variable",
    "timestamp",
    "detail",
    "body_id",
    "try_number",
)


def _line(**values: Any) -> dict[str, Any]:
    return {key: values.get(key) for key in REJECTED_FIELDS}


class RejectedFile:
    """Writes each rejected row of try ``try_number`` to ``path``; a no-op without one.

    A local path is opened (and locked) on entering, before anything is sent; a new file
    that stays empty is removed on exit, so a clean run leaves none behind.
    """

    def __init__(self, path: str | None, try_number: int = 1) -> None:
        self.path = path
        self.try_number = try_number
        self._local: RecordFile | None = None
        self._remote: io.BytesIO | None = None
        self._encode = msgspec.json.Encoder().encode
        self.count = 0

    def open(self) -> RejectedFile:
        """Open a local path now: refused by name if it cannot be written or is taken."""
        local = _local_path(self.path)
        if local is not None:
            try:
                self._local = RecordFile(local)
            except RecordFileError as error:
                raise ConfigurationError(
                    f"rejected_path: {error}; nothing was sent", setting="rejected_path"
                ) from None
        return self

    def write(self, row: InvalidRow) -> None:
        """One row the core rejected."""
        self.count += 1
        self._write_line(_line(kind="invalid_row", **row.to_json_dict()))

    def write_refused_dot(self, dot: RefusedDot) -> None:
        """One dot the API refused (a 400 narrowed down to it)."""
        self.count += 1
        self._write_line(
            _line(
                kind="refused_by_api",
                field=dot.variable,
                value=repr(dot.value),
                rule=f"refused by the API: {dot.message}",
                device=dot.device,
                variable=dot.variable,
                timestamp=dot.timestamp,
                detail=dot.detail,
                body_id=dot.body_id,
            )
        )

    def _write_line(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        record["try_number"] = self.try_number
        line = self._encode(record) + b"\n"
        if self._local is not None:
            self._local.append(line)
            return
        if self._remote is None:
            self._remote = io.BytesIO()
        self._remote.write(line)

    def close(self) -> None:
        """Release a local file; write a remote try's object."""
        if self._local is not None:
            self._local.close()
            self._local = None
        if self._remote is not None and self.path is not None:
            from airflow_provider_bulkdots.compat import ObjectStoragePath

            target = ObjectStoragePath(f"{self.path}.try-{self.try_number}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with target.open("wb") as out:
                out.write(self._remote.getvalue())
            self._remote = None

    def __enter__(self) -> RejectedFile:
        return self.open()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _local_path(path: str | None) -> str | None:
    """The filesystem path of a local ``path`` (plain or ``file://``), else ``None``."""
    if path is None:
        return None
    parts = urlsplit(path)
    if parts.scheme == "file":
        return parts.path
    if parts.scheme and len(parts.scheme) > 1:  # a URI (a Windows drive letter is not)
        return None
    return path
