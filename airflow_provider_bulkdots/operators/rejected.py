"""What was refused, written as JSON Lines: one object per invalid row or refused dot.

Every line has the same keys (:data:`REJECTED_FIELDS`, ``null`` where a key does not apply):
``kind`` is ``"invalid_row"`` for a row the checks refused (with its ``row`` number, for a
file the ``line`` it starts on, ``field``, ``value`` and ``rule``) or ``"refused_by_api"``
for a dot the API refused with a 400 (with its ``device``, ``variable``, ``timestamp``,
``value``, the API's words as ``rule`` and ``detail``, and the ``body_id`` it travelled in).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import msgspec

from airflow_provider_bulkdots.delivery.results import RejectedDot
from airflow_provider_bulkdots.dots import InvalidRow

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
)


def _line(**values: Any) -> dict[str, Any]:
    return {key: values.get(key) for key in REJECTED_FIELDS}


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
        self._write_line(_line(kind="invalid_row", **row.to_json_dict()))

    def write_api_rejection(self, dot: RejectedDot) -> None:
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
