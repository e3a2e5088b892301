"""JSON Lines files, and ``.json`` files holding one array of row objects.

Lines are read as Python's ``json`` and pandas read them: ``NaN`` (a missing reading),
``Infinity`` and ``-Infinity`` (refused by the core as not finite) are accepted tokens. A
line that is not JSON becomes an invalid row carrying the parser's reason. A file whose
first character is ``[`` is one array (pandas ``to_json(orient="records")``), read whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec

from airflow_provider_bulkdots.dots.errors import DatasetError, UnreadableRow
from airflow_provider_bulkdots.sources.files import DECOMPRESSION_ERRORS, OnOpen, open_bytes
from airflow_provider_bulkdots.sources.lines import LineMap

_decode = msgspec.json.Decoder().decode
_BOM = b"\xef\xbb\xbf"


def _decode_line(text: bytes) -> Any:
    """msgspec first (fast); Python's json for the NaN/Infinity tokens it writes."""
    try:
        return _decode(text)
    except msgspec.DecodeError as error:
        try:
            return json.loads(text)
        except (ValueError, RecursionError):
            raise error from None


def read_json(
    path: Any, compression: str | None, lines: LineMap, on_open: OnOpen | None = None
) -> Iterator[Any]:
    """Rows of a JSON Lines file (or of a JSON array file), each line numbered."""
    lines.reset()
    with open_bytes(path, compression, on_open) as raw:
        try:
            first = _read(raw)
        except DatasetError as error:
            raise DatasetError(f"{path}: {error}") from None
        rest_of_file = _chain(first, raw)
        if first.lstrip(_BOM + b" \t\r\n").startswith(b"["):
            yield from _array(path, b"".join(rest_of_file))
            return
        row = 0
        for number, line in enumerate(_split_lines(rest_of_file), start=1):
            stripped = line.strip()
            if number == 1 and stripped.startswith(_BOM):
                stripped = stripped[len(_BOM) :].strip()
            if not stripped:
                continue
            row += 1
            lines.mark(row, number)
            try:
                yield _decode_line(stripped)
            except msgspec.DecodeError as error:
                yield UnreadableRow(str(error), stripped[:200].decode("utf-8", "replace"))


def _chain(first: bytes, raw: Any) -> Iterator[bytes]:
    yield first
    while chunk := _read(raw):
        yield chunk


def _read(raw: Any) -> bytes:
    try:
        chunk: bytes = raw.read(1 << 16)
    except DECOMPRESSION_ERRORS as error:
        raise DatasetError(f"cannot be read to its end: {error}") from None
    return chunk


def _split_lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    pending = b""
    for chunk in chunks:
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


def _array(path: Any, content: bytes) -> Iterator[Any]:
    if content.startswith(_BOM):
        content = content[len(_BOM) :]
    try:
        rows = _decode_line(content)
    except msgspec.DecodeError as error:
        raise DatasetError(f"{path}: a JSON array file that is not JSON: {error}") from None
    if not isinstance(rows, list):
        raise DatasetError(f"{path}: a JSON file must hold one array of row objects")
    yield from rows
