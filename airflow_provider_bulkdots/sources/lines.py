"""Which file line each row starts on, kept as the few points where the two drift apart."""

from __future__ import annotations

from bisect import bisect_right


class LineMap:
    """Row numbers (from 1) to file lines. Blank lines and cells spanning lines make a file's
    lines run ahead of its rows; only those jumps are stored, so memory stays small."""

    def __init__(self) -> None:
        self._rows: list[int] = []
        self._lines: list[int] = []

    def reset(self) -> None:
        """Forget every row: the file is read again from its start."""
        self._rows.clear()
        self._lines.clear()

    def mark(self, row: int, line: int) -> None:
        """Row ``row`` starts on ``line`` (rows are marked in increasing order)."""
        if self._rows and line - row == self._lines[-1] - self._rows[-1]:
            return
        self._rows.append(row)
        self._lines.append(line)

    def line_of(self, row: int) -> int | None:
        """The line row ``row`` starts on, None before any row was marked."""
        index = bisect_right(self._rows, row) - 1
        if index < 0:
            return None
        return self._lines[index] + (row - self._rows[index])
