"""A file's decompressed bytes as batches of whole lines: linear time, bounded memory.

Each chunk read is cut after its last line end; the piece of a line that runs on into the next
chunk is kept as a list of pieces joined once, when the line ends, so a long line costs its
length and not its length squared. A line longer than ``max_line_bytes`` stops the read with a
:class:`DatasetError` naming the file and the line, after holding at most that many bytes of
it: memory stays bounded whatever the input's shape (a gzip bomb of one long line included).

A run of ``BLANK_RUN`` or more blank lines is cut out of its batch and only counted (at C
speed), so a file of blank lines costs no Python step per line. Damaged compressed data (a
truncated file, a bad CRC) is a :class:`DatasetError` naming the file, never a bare
``EOFError`` or ``BadGzipFile``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import IO, Any

from airflow_provider_bulkdots.dots.errors import DatasetError
from airflow_provider_bulkdots.sources.files import DECOMPRESSION_ERRORS

CHUNK_BYTES = 1 << 16
#: Bytes of line ends (and, for JSON, blanks) in a row from which a run is skipped whole.
BLANK_RUN = 64
# A line end, then a run of empty lines (CSV: a line holding spaces is a row) or of blank
# ones (JSON). One character class repeated: the regex engine scans it at C speed.
EMPTY_RUN = re.compile(rb"\n[\r\n]{%d,}" % BLANK_RUN)
WHITESPACE_RUN = re.compile(rb"\n[ \t\r\n]{%d,}" % BLANK_RUN)


def read_chunks(raw: IO[bytes], path: Any, max_line_bytes: int) -> Iterator[bytes]:
    """The decompressed bytes in chunks (no longer than a line may be, so that a line that
    lies inside one chunk is never too long); damage is a DatasetError."""
    size = min(CHUNK_BYTES, max_line_bytes)
    while True:
        try:
            chunk = raw.read(size)
        except DECOMPRESSION_ERRORS as error:
            raise DatasetError(
                f"{path}: the file is damaged and cannot be read to its end "
                f"(truncated or corrupt compressed data?): {type(error).__name__}: {error}"
            ) from None
        if not chunk:
            return
        yield chunk


def line_batches(
    chunks: Iterable[bytes], path: Any, max_line_bytes: int, blank_run: re.Pattern[bytes]
) -> Iterator[tuple[int, bytes]]:
    """``(first line number, bytes of whole lines)`` in file order, from the ``chunks`` of
    :func:`read_chunks`; lines counted from 1 by ``\\n``. Each batch but the file's last ends
    with ``\\n``; runs of ``blank_run`` are left out (the next batch's number says how many
    lines were skipped)."""
    line = 1
    pieces: list[bytes] = []  # the start of a line that runs on into the next chunk
    held = 0
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            pieces.append(chunk)
            held += len(chunk)
            if held > max_line_bytes:
                raise _too_long(path, line, max_line_bytes)
            continue
        if pieces:
            if held + chunk.find(b"\n") > max_line_bytes:
                raise _too_long(path, line, max_line_bytes)
            pieces.append(chunk[:cut])
            data = b"".join(pieces)
        else:
            data = chunk if cut == len(chunk) else chunk[:cut]
        yield from _without_blank_runs(line, data, blank_run)
        line += data.count(b"\n")
        pieces = [chunk[cut:]] if cut < len(chunk) else []
        held = len(chunk) - cut
    if pieces:
        yield from _without_blank_runs(line, b"".join(pieces), blank_run)


def _without_blank_runs(
    line: int, data: bytes, blank_run: re.Pattern[bytes]
) -> Iterator[tuple[int, bytes]]:
    match = blank_run.search(data)
    if match is None:  # the common case: the batch as it is
        yield line, data
        return
    start = 0  # where the part not yet passed on starts
    while match is not None:
        first = match.start() + 1  # the line before the run keeps its line end
        # the run ends after its last line end (JSON: blanks may run into a line's indent)
        end = data.rfind(b"\n", first, match.end()) + 1
        if end > first:
            if first > start:
                yield line, data[start:first]
            line += data.count(b"\n", start, end)
            start = end
        match = blank_run.search(data, max(end, match.end() if end <= first else end))
    if start < len(data):
        yield line, data[start:]


def _too_long(path: Any, line: int, limit: int) -> DatasetError:
    return DatasetError(
        f"{path}: line {line} is longer than max_line_bytes={limit:,} bytes (decompressed); "
        "a damaged file or not the expected format? Raise max_line_bytes to read longer lines"
    )
