"""What a reshape did: counts, and every rejected row passed to the caller."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from airflow_provider_bulkdots.dots.errors import InvalidRow

SAMPLE_SIZE = 20


@dataclass
class Report:
    """Counts of one reshape. ``on_rejected`` sees every rejected row as it is found;
    ``rejected_sample`` keeps the first few for error messages."""

    rows_read: int = 0
    dots: int = 0
    missing_readings: int = 0
    rejected_rows: int = 0
    bodies: int = 0
    bytes: int = 0
    rejected_sample: list[InvalidRow] = field(default_factory=list)
    on_rejected: Callable[[InvalidRow], None] | None = field(default=None, repr=False)
    # the file line an input row number starts on, when the rows come from a file
    line_of: Callable[[int], int | None] | None = field(default=None, repr=False)
    # the input's number of the n-th row read, when a filter left rows out before the core
    row_of: Callable[[int], int] | None = field(default=None, repr=False)

    def reject(self, row: InvalidRow) -> None:
        """Count a rejected row, keep it if among the first, and pass it on."""
        if self.row_of is not None:
            row = replace(row, row_number=self.row_of(row.row_number))
        if row.line is None and self.line_of is not None:
            row = replace(row, line=self.line_of(row.row_number))
        self.rejected_rows += 1
        if len(self.rejected_sample) < SAMPLE_SIZE:
            self.rejected_sample.append(row)
        if self.on_rejected is not None:
            self.on_rejected(row)

    def as_dict(self) -> dict[str, int]:
        """The counts, JSON-ready."""
        return {
            "rows_read": self.rows_read,
            "dots": self.dots,
            "missing_readings": self.missing_readings,
            "rejected_rows": self.rejected_rows,
            "bodies": self.bodies,
            "bytes": self.bytes,
        }
