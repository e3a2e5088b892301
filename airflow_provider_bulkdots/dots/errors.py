"""Invalid rows: what was wrong, where, and by which rule.

The errors the core raises, :class:`InvalidRowsError`, :class:`DotsOptionsError`,
:class:`DatasetError` and :class:`UnsafeBodyError`, are
declared with every other error of the provider in :mod:`airflow_provider_bulkdots.exceptions`
(each a ``BulkDotsError``); they are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_bulkdots.exceptions import (
    DatasetError,
    DotsOptionsError,
    InvalidRowsError,
    UnsafeBodyError,
)

_SHOWN_VALUE_CHARS = 80


def _short_repr(value: object) -> str:
    text = repr(value)
    if len(text) > _SHOWN_VALUE_CHARS:
        return text[: _SHOWN_VALUE_CHARS - 3] + "..."
    return text


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """One rejected row: its 1-based number in the input, the field, the value and the rule,
    and for a file the line the row starts on (blank lines and multi-line cells make the two
    differ)."""

    row_number: int
    field: str
    value: object
    rule: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"row {self.row_number}"
        if self.line is not None:
            where += f" (line {self.line})"
        return f"{where}, field {self.field!r}, value {_short_repr(self.value)}: {self.rule}"

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready form, for rejected-rows files."""
        shown: dict[str, object] = {"row": self.row_number}
        if self.line is not None:
            shown["line"] = self.line
        shown.update(field=self.field, value=_short_repr(self.value), rule=self.rule)
        return shown


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """A row its reader could not parse (a JSON Lines line that is not JSON, say).

    Readers yield it in the row's place, so the core rejects it by number with the reader's
    reason instead of the stream stopping.
    """

    error: str
    text: str


def not_a_mapping(
    row: object, field: str = "(row)", rule: str = "row must be a mapping of column to value"
) -> RowRejected:
    """The rejection of a row that is not a mapping, with the reader's reason when known."""
    if isinstance(row, UnreadableRow):
        return RowRejected("(line)", row.text, f"not readable: {row.error}")
    return RowRejected(field, row, rule)


class RowRejected(Exception):
    """Internal: raised by a normaliser, turned into an InvalidRow by the reshaper."""

    def __init__(self, field: str, value: object, rule: str) -> None:
        super().__init__(rule)
        self.field = field
        self.value = value
        self.rule = rule


__all__ = [
    "DatasetError",
    "DotsOptionsError",
    "InvalidRow",
    "InvalidRowsError",
    "RowRejected",
    "UnreadableRow",
    "UnsafeBodyError",
    "not_a_mapping",
]
