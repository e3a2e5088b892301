"""CSV files read as pandas' ``read_csv`` reads them, minus every guess.

The header is checked once, before any row is read: a repeated, blank or space-padded name,
a missing column, or a whole header read as one name (the wrong delimiter) is one error that
shows the header as read. A blank-named column whose cells are all empty (spreadsheets add
one) is ignored. A row with more or fewer fields than the header is an invalid row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_bulkdots.dots.errors import DatasetError, UnreadableRow
from airflow_provider_bulkdots.sources.files import DECOMPRESSION_ERRORS, OnOpen, open_bytes
from airflow_provider_bulkdots.sources.lines import LineMap

_OTHER_DELIMITERS = (";", "\t", "|", ",")


@dataclass(frozen=True)
class CsvLayout:
    """What the header says: the names, and which fields become row keys."""

    header: tuple[str, ...]
    keep: tuple[int, ...]


def _text(raw: Any) -> io.TextIOWrapper:
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def inspect_csv(
    path: Any, compression: str | None, delimiter: str, columns: Sequence[str] | None
) -> CsvLayout:
    """Read and check the header (and scan blank-named columns); raise DatasetError."""
    with open_bytes(path, compression) as raw:
        reader = csv.reader(_text(raw), delimiter=delimiter)
        try:
            header = tuple(next(reader, ()))
        except (UnicodeDecodeError, csv.Error) as error:
            raise DatasetError(f"{path}: the header cannot be read: {error}") from None
        except DECOMPRESSION_ERRORS as error:
            raise DatasetError(f"{path}: the header cannot be read: {error}") from None
    if not header:
        raise DatasetError(f"{path}: the file is empty: no header line")
    blank = [index for index, name in enumerate(header) if name == ""]
    problem = _header_problem(header, delimiter, columns)
    if problem is None and blank:
        problem = _filled_blank_column(path, compression, delimiter, blank)
    if problem is not None:
        raise DatasetError(
            f"{path}: {problem}; the header as read with delimiter {delimiter!r}: {list(header)}"
        )
    wanted = set(columns) if columns is not None else None
    keep = tuple(
        index
        for index, name in enumerate(header)
        if name != "" and (wanted is None or name in wanted)
    )
    return CsvLayout(header, keep)


def _header_problem(
    header: tuple[str, ...], delimiter: str, columns: Sequence[str] | None
) -> str | None:
    if len(header) == 1:
        for other in _OTHER_DELIMITERS:
            if other != delimiter and other in header[0]:
                return f"the header is one name holding {other!r}: set delimiter={other!r}"
    padded = [name for name in header if name != name.strip()]
    if padded:
        return f"column names with surrounding spaces: {padded}"
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if repeated:
        return f"repeated column names: {repeated}"
    missing = [name for name in columns or () if name not in header]
    if missing:
        return f"columns not in the header: {missing}"
    return None


def _filled_blank_column(
    path: Any, compression: str | None, delimiter: str, blank: list[int]
) -> str | None:
    for start, record in _records(path, compression, delimiter):
        if isinstance(record, UnreadableRow):
            continue
        for index in blank:
            if index < len(record) and record[index].strip():
                return f"column {index + 1} has no name but holds {record[index]!r} (line {start})"
    return None


def read_csv(
    path: Any,
    compression: str | None,
    delimiter: str,
    layout: CsvLayout,
    lines: LineMap,
    on_open: OnOpen | None = None,
) -> Iterator[Any]:
    """Rows as mappings of the kept columns; a row of the wrong width as an UnreadableRow."""
    lines.reset()
    width = len(layout.header)
    names = [(index, layout.header[index]) for index in layout.keep]
    for row, (start, record) in enumerate(_records(path, compression, delimiter, on_open), start=1):
        lines.mark(row, start)
        if isinstance(record, UnreadableRow):
            yield record
        elif len(record) == width:
            yield {name: record[index] for index, name in names}
        else:
            shown = delimiter.join(record)[:200]
            yield UnreadableRow(f"{len(record)} fields, header has {width}", shown)


def _records(
    path: Any, compression: str | None, delimiter: str, on_open: OnOpen | None = None
) -> Iterator[tuple[int, list[str] | UnreadableRow]]:
    """Each non-blank record after the header with the line it starts on."""
    with open_bytes(path, compression, on_open) as raw:
        reader = csv.reader(_text(raw), delimiter=delimiter)
        next(reader, None)
        while True:
            start = reader.line_num + 1
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                yield start, UnreadableRow(f"not CSV: {error}", "")
                continue
            except UnicodeDecodeError as error:
                raise DatasetError(f"{path}: not UTF-8 text near line {start}: {error}") from None
            if record:
                yield start, record
