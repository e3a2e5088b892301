"""How much of a damaged text file is read before it is refused as a whole.

``max_line_bytes`` bounds one line (decompressed) of a CSV or JSON Lines file,
``max_field_chars`` one CSV cell (a quoted cell may span lines). Unreadable rows (a CSV row of
the wrong width or broken quoting, a JSON Lines line that is not JSON) are invalid rows one by
one, as pandas' ``on_bad_lines="skip"`` skips bad lines; but once they pass ``max_bad_lines``,
or once at least ``MIN_BAD_LINES_FOR_SHARE`` of them pass ``max_bad_line_share`` of the rows
read so far, the file is refused naming the line where reading first went wrong (for CSV, where
quoting broke): a broken quote otherwise turns the rest of a file into invalid rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_bulkdots.dots.errors import DatasetError

DEFAULT_MAX_LINE_BYTES = 1 << 20
#: Python's csv.field_size_limit() default.
DEFAULT_MAX_FIELD_CHARS = 131_072
DEFAULT_MAX_BAD_LINES = 10_000
DEFAULT_MAX_BAD_LINE_SHARE = 0.1
MIN_BAD_LINES_FOR_SHARE = 100
_SMALLEST_LINE_LIMIT = 1024


@dataclass(frozen=True)
class LineLimits:
    """The bounds a text file is read within (docs/input.md)."""

    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_field_chars: int = DEFAULT_MAX_FIELD_CHARS
    max_bad_lines: int = DEFAULT_MAX_BAD_LINES
    max_bad_line_share: float = DEFAULT_MAX_BAD_LINE_SHARE

    def __post_init__(self) -> None:
        for name in ("max_line_bytes", "max_field_chars"):
            value = getattr(self, name)
            if type(value) is not int or value < _SMALLEST_LINE_LIMIT:
                raise DatasetError(
                    f"{name} must be an integer of at least {_SMALLEST_LINE_LIMIT}, got {value!r}"
                )
        if type(self.max_bad_lines) is not int or self.max_bad_lines < 0:
            raise DatasetError(f"max_bad_lines must be an integer >= 0, got {self.max_bad_lines!r}")
        share = self.max_bad_line_share
        if not isinstance(share, int | float) or not 0 <= share <= 1:
            raise DatasetError(f"max_bad_line_share must be within 0 and 1, got {share!r}")


class BadLineGuard:
    """Counts a file's unreadable rows; refuses the file once they pass the limits."""

    def __init__(self, path: Any, limits: LineLimits) -> None:
        self.path = path
        self.limits = limits
        self.count = 0
        self.first_line: int | None = None
        self.quoting_broke: int | None = None  # CSV: the first row whose quoting broke

    def bad(self, rows: int, line: int, quoting: bool = False) -> None:
        """One more unreadable row (``rows`` read so far, this one starting on ``line``)."""
        self.count += 1
        if self.first_line is None:
            self.first_line = line
        if quoting and self.quoting_broke is None:
            self.quoting_broke = line
        limits = self.limits
        over_count = self.count > limits.max_bad_lines
        over_share = (
            self.count >= MIN_BAD_LINES_FOR_SHARE and self.count > limits.max_bad_line_share * rows
        )
        if over_count or over_share:
            raise DatasetError(self._message(rows, over_count))

    def _message(self, rows: int, over_count: bool) -> str:
        limits = self.limits
        limit = (
            f"max_bad_lines={limits.max_bad_lines:,}"
            if over_count
            else f"max_bad_line_share={limits.max_bad_line_share}"
        )
        if self.quoting_broke is not None:
            where = (
                f"quoting broke on line {self.quoting_broke:,}: a quote opened there is not "
                "closed where its row ends, so the lines after it are read as one row"
            )
        else:
            where = f"the first is on line {self.first_line:,}"
        return (
            f"{self.path}: {self.count:,} of the first {rows:,} rows cannot be read "
            f"(over {limit}); {where}. Fix the file, or raise the limit to keep reading"
        )
