"""The lines of a CSV file for ``csv.reader``: bounded, decoded a batch at a time, and placed.

Python's csv counts a line at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (``reader.line_num``); the
lines handed to it are those of :func:`~.linefeed.line_batches`, each batch decoded once as
UTF-8 (a byte-order mark at the start dropped, as ``utf-8-sig``). A byte that is not UTF-8 is
a :class:`DatasetError` naming its exact line and column. Runs of blank lines the line feed
skipped are remembered, so the file line of each of the reader's lines is known exactly.
"""

from __future__ import annotations

import io
from collections import deque
from collections.abc import Iterator
from itertools import chain
from typing import IO, Any

from airflow_provider_bulkdots.dots.errors import DatasetError
from airflow_provider_bulkdots.sources.limits import LineLimits
from airflow_provider_bulkdots.sources.linefeed import EMPTY_RUN, line_batches, read_chunks

_BOM = b"\xef\xbb\xbf"


def _line_ends(data: bytes) -> int:
    """Line ends as csv counts them: ``\\n``, ``\\r\\n`` and a lone ``\\r``."""
    ends = data.count(b"\n")
    if b"\r" in data:
        ends += data.count(b"\r") - data.count(b"\r\n")
    return ends


class CsvLines:
    """Text lines for one ``csv.reader`` over ``raw``, and the file line of each."""

    def __init__(self, raw: IO[bytes], path: Any, limits: LineLimits) -> None:
        self._raw = raw
        self._path = path
        self._limits = limits
        self._handed = 0  # lines handed to the reader so far, counted as csv counts them
        self._skipped = 0  # blank lines left out so far
        self._skips: deque[tuple[int, int]] = deque()  # (lines handed before, lines left out)
        self._shift = 0  # blank lines left out before the line last asked about

    def texts(self) -> Iterator[str]:
        """The lines, each with its line end (what ``open(newline="")`` gives csv)."""
        return chain.from_iterable(self._buffers())

    def lines_of(self, first: int, last: int) -> tuple[int, bool]:
        """The file line of the reader's line ``first`` (asked in increasing order), and
        whether blank lines were left out between its lines ``first`` and ``last``."""
        skips = self._skips
        while skips and skips[0][0] < first:
            self._shift += skips.popleft()[1]
        return first + self._shift, bool(skips) and skips[0][0] < last

    def _buffers(self) -> Iterator[io.StringIO]:
        limit = self._limits.max_line_bytes
        chunks = read_chunks(self._raw, self._path, limit)
        expected = 1
        for start, data in line_batches(chunks, self._path, limit, EMPTY_RUN):
            if start > expected:
                self._skips.append((self._handed, start - expected))
                self._skipped += start - expected
            if start == 1 and data.startswith(_BOM):
                data = data[len(_BOM) :]
            text = self._decode(data)
            expected = start + data.count(b"\n")
            self._handed += _line_ends(data)
            yield io.StringIO(text, newline="")

    def _decode(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            before = data[: error.start]
            line = self._handed + self._skipped + 1 + _line_ends(before)
            column = error.start - max(before.rfind(b"\n"), before.rfind(b"\r"))
            raise DatasetError(
                f"{self._path}: not UTF-8 text: line {line:,}, column {column} holds byte "
                f"{data[error.start : error.start + 1]!r} ({error.reason}); save the file "
                "as UTF-8 (pandas reads UTF-8 by default too)"
            ) from None
