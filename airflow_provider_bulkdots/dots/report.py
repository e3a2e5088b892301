"""What a reshape did: counts, and every rejected row passed to the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from airflow_provider_bulkdots.dots.errors import InvalidRow

SAMPLE_SIZE = 20


@dataclass
class Report:
    """Counts of one reshape. ``on_invalid_row`` sees every rejected row as it is found;
    ``invalid_sample`` keeps the first few for error messages."""

    rows_read: int = 0
    dots: int = 0
    missing_readings: int = 0
    invalid_rows: int = 0
    bodies: int = 0
    bytes: int = 0
    invalid_sample: list[InvalidRow] = field(default_factory=list)
    on_invalid_row: Callable[[InvalidRow], None] | None = field(default=None, repr=False)
    # the file line an input row number starts on, when the rows come from a file
    line_of: Callable[[int], int | None] | None = field(default=None, repr=False)
    # the input's number of the n-th row read, when a filter left rows out before the core
    row_of: Callable[[int], int] | None = field(default=None, repr=False)

    def count_invalid(self, row: InvalidRow) -> None:
        """Count an invalid row, keep it if among the first, and pass it on."""
        if self.row_of is not None:
            row = replace(row, row_number=self.row_of(row.row_number))
        if row.line is None and self.line_of is not None:
            row = replace(row, line=self.line_of(row.row_number))
        self.invalid_rows += 1
        if len(self.invalid_sample) < SAMPLE_SIZE:
            self.invalid_sample.append(row)
        if self.on_invalid_row is not None:
            self.on_invalid_row(row)

    def as_dict(self) -> dict[str, int]:
        """The counts, JSON-ready."""
        return {
            "rows_read": self.rows_read,
            "dots": self.dots,
            "missing_readings": self.missing_readings,
            "invalid_rows": self.invalid_rows,
            "bodies": self.bodies,
            "bytes": self.bytes,
        }
