"""Invalid rows: what was wrong, where, and by which rule.

The errors the core raises, :class:`InvalidRowsError` and :class:`DotsOptionsError`, are
declared with every other error of the provider in :mod:`airflow_provider_bulkdots.exceptions`
(both are ``BulkDotsError`` and ``ValueError``); they are re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow_provider_bulkdots.exceptions import DotsOptionsError, InvalidRowsError

_SHOWN_VALUE_CHARS = 80


def _short_repr(value: object) -> str:
    text = repr(value)
    if len(text) > _SHOWN_VALUE_CHARS:
        return text[: _SHOWN_VALUE_CHARS - 3] + "..."
    return text


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """One rejected row: its 1-based number in the input, the field, the value and the rule."""

    row_number: int
    field: str
    value: object
    rule: str

    def __str__(self) -> str:
        return (
            f"row {self.row_number}, field {self.field!r}, value {_short_repr(self.value)}: "
            f"{self.rule}"
        )

    def to_json_dict(self) -> dict[str, object]:
        """A JSON-ready form, for rejected-rows files."""
        return {
            "row": self.row_number,
            "field": self.field,
            "value": _short_repr(self.value),
            "rule": self.rule,
        }


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
    "DotsOptionsError",
    "InvalidRow",
    "InvalidRowsError",
    "RowRejected",
    "UnreadableRow",
    "not_a_mapping",
]
