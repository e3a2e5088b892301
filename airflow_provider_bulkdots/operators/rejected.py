"""Rejected rows written as JSON Lines, one object per row with its reason."""

from __future__ import annotations

from types import TracebackType
from typing import Any

import msgspec

from airflow_provider_bulkdots.delivery.results import RejectedDot
from airflow_provider_bulkdots.dots import InvalidRow


class RejectedRowsWriter:
    """Writes each rejected row to ``path`` (any ObjectStoragePath URI); a no-op without one.

    The file is created on the first rejected row, so a clean run leaves none behind.
    """

    def __init__(self, path: str | None) -> None:
        self.path = path
        self._file: Any = None
        self._encode = msgspec.json.Encoder().encode
        self.count = 0

    def write(self, row: InvalidRow) -> None:
        """One row the core rejected."""
        self.count += 1
        self._write_line(row.to_json_dict())

    def write_api_rejection(self, dot: RejectedDot) -> None:
        """One dot the API refused (a 400 narrowed down to it)."""
        self.count += 1
        self._write_line(
            {
                "body_id": dot.body_id,
                "device": dot.device,
                "variable": dot.variable,
                "timestamp": dot.timestamp,
                "value": repr(dot.value),
                "rule": f"refused by the API: {dot.message}",
                "detail": dot.detail,
            }
        )

    def _write_line(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        if self._file is None:
            from airflow_provider_bulkdots.compat import ObjectStoragePath

            target = ObjectStoragePath(self.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            self._file = target.open("wb")
        self._file.write(self._encode(record) + b"\n")

    def __enter__(self) -> RejectedRowsWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._file is not None:
            self._file.close()
