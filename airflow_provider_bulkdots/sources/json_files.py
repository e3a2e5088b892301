"""JSON Lines files, and ``.json`` files holding one array of row objects.

Lines are read as Python's ``json`` and pandas read them: ``NaN`` (a missing reading),
``Infinity`` and ``-Infinity`` (refused by the core as not finite) are accepted tokens. A
line that is not JSON becomes an invalid row carrying the parser's reason. A file whose
first character is ``[`` is one array (pandas ``to_json(orient="records")``), read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from itertools import chain
from typing import Any

import msgspec

from airflow_provider_bulkdots.dots.errors import DatasetError, UnreadableRow
from airflow_provider_bulkdots.sources.files import OnOpen, open_bytes
from airflow_provider_bulkdots.sources.limits import BadLineGuard, LineLimits
from airflow_provider_bulkdots.sources.linefeed import WHITESPACE_RUN, line_batches, read_chunks
from airflow_provider_bulkdots.sources.lines import LineMap

_decode = msgspec.json.Decoder().decode
_BOM = b"\xef\xbb\xbf"


def _decode_line(text: bytes) -> Any:
    """msgspec first (fast); Python's json for the NaN/Infinity tokens it writes. Text that
    is not UTF-8 is refused as malformed, like pandas' ``read_json`` (strict UTF-8)."""
    try:
        return _decode(text)
    except UnicodeDecodeError as error:
        raise msgspec.DecodeError(f"not UTF-8 text at byte {error.start}") from None
    except msgspec.DecodeError as error:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise error from None


def read_json(
    path: Any,
    compression: str | None,
    lines: LineMap,
    on_open: OnOpen | None = None,
    limits: LineLimits | None = None,
) -> Iterator[Any]:
    """Rows of a JSON Lines file (or of a JSON array file), each line numbered."""
    limits = limits or LineLimits()
    lines.reset()
    with open_bytes(path, compression, on_open) as raw:
        chunks = read_chunks(raw, path, limits.max_line_bytes)
        first = next(chunks, b"")
        if first.lstrip(_BOM + b" \t\r\n").startswith(b"["):
            yield from _array(path, first + b"".join(chunks))  # read whole (docs/input.md)
            return
        guard = BadLineGuard(path, limits)
        row = 0
        batches = line_batches(chain((first,), chunks), path, limits.max_line_bytes, WHITESPACE_RUN)
        for start, data in batches:
            for number, line in enumerate(data.split(b"\n"), start):
                stripped = line.strip()
                if number == 1 and stripped.startswith(_BOM):
                    stripped = stripped[len(_BOM) :].strip()
                if not stripped:
                    continue
                row += 1
                lines.mark(row, number)
                try:
                    yield _decode_line(stripped)
                except (msgspec.DecodeError, RecursionError) as error:
                    guard.bad(row, number)
                    yield UnreadableRow(_reason(error), stripped[:200].decode("utf-8", "replace"))


def _reason(error: Exception) -> str:
    if isinstance(error, RecursionError):
        return "JSON nested too deeply to read"
    return str(error)


def _array(path: Any, content: bytes) -> Iterator[Any]:
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
    try:
        rows = _decode_line(content)
    except (msgspec.DecodeError, RecursionError) as error:
        reason = _reason(error)
        raise DatasetError(f"{path}: a JSON array file that is not JSON: {reason}") from None
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: a JSON file must hold one array of row objects")
    yield from rows
