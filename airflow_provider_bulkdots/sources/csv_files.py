"""CSV files read as pandas' ``read_csv`` reads them, minus every guess.

The header is checked once, before any row is read: a repeated, blank or space-padded name,
a missing column, or a whole header read as one name (the wrong delimiter) is one error that
shows the header as read. A blank-named column whose cells are all empty (spreadsheets add
one) is ignored. Blank lines are skipped, before the header too (pandas' ``skip_blank_lines``).
A row with more or fewer fields than the header is an invalid row (pandas'
``on_bad_lines="skip"``, reported instead of dropped); a row read across several lines because
a quote broke names the lines it covers. Lines, cells and unreadable rows are bounded
(``sources/limits.py``).
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from airflow_provider_bulkdots.dots.errors import DatasetError, UnreadableRow
from airflow_provider_bulkdots.sources.csv_lines import CsvLines
from airflow_provider_bulkdots.sources.files import OnOpen, open_bytes
from airflow_provider_bulkdots.sources.limits import BadLineGuard, LineLimits
from airflow_provider_bulkdots.sources.lines import LineMap

_OTHER_DELIMITERS = (";", "\t", "|", ",")


@dataclass(frozen=True)
class CsvLayout:
    """What the header says: the names, and which fields become row keys."""

    header: tuple[str, ...]
    keep: tuple[int, ...]


def inspect_csv(
    path: Any,
    compression: str | None,
    delimiter: str,
    columns: Sequence[str] | None,
    limits: LineLimits | None = None,
) -> CsvLayout:
    """Read and check the header (and scan blank-named columns); raise DatasetError."""
    limits = limits or LineLimits()
    records = _records(path, compression, delimiter, limits)
    try:
        first = next(records, None)
    finally:
        records.close()
    header = tuple(first[2]) if first is not None and isinstance(first[2], list) else ()
    if first is not None and isinstance(first[2], UnreadableRow):
        raise DatasetError(f"{path}: the header cannot be read: {first[2].error}")
    if not header:
        raise DatasetError(f"{path}: the file is empty: no header line")
    blank = [index for index, name in enumerate(header) if name == ""]
    problem = _header_problem(header, delimiter, columns)
    if problem is None and blank:
        problem = _filled_blank_column(path, compression, delimiter, blank, limits)
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
    path: Any, compression: str | None, delimiter: str, blank: list[int], limits: LineLimits
) -> str | None:
    records = _records(path, compression, delimiter, limits)
    next(records, None)  # the header
    for start, _, record in records:
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
    limits: LineLimits | None = None,
) -> Iterator[Any]:
    """Rows as mappings of the kept columns; a row of the wrong width as an UnreadableRow.

    Unreadable rows are counted by a :class:`BadLineGuard`, which refuses the file once they
    pass the limits, naming the line where quoting broke.
    """
    limits = limits or LineLimits()
    lines.reset()
    width = len(layout.header)
    names = [(index, layout.header[index]) for index in layout.keep]
    guard = BadLineGuard(path, limits)
    records = _records(path, compression, delimiter, limits, on_open)
    next(records, None)  # the header
    for row, (start, end, record) in enumerate(records, start=1):
        lines.mark(row, start)
        if isinstance(record, UnreadableRow):
            guard.bad(row, start)
            yield record
        elif len(record) == width:
            yield {name: record[index] for index, name in names}
        else:
            guard.bad(row, start, quoting=end > start)
            yield _wrong_width(record, width, delimiter, start, end)


def _wrong_width(
    record: list[str], width: int, delimiter: str, start: int, end: int
) -> UnreadableRow:
    shown = delimiter.join(record)[:200]
    rule = f"{len(record)} fields, header has {width}"
    if end > start:
        rule += (
            f"; read as one row from line {start} to line {end}: a quote opened on line "
            f"{start} closes only on line {end}"
        )
    return UnreadableRow(rule, shown)


def _records(
    path: Any,
    compression: str | None,
    delimiter: str,
    limits: LineLimits,
    on_open: OnOpen | None = None,
) -> Generator[tuple[int, int, list[str] | UnreadableRow], None, None]:
    """Each non-blank record, the header first, with the lines it starts and ends on."""
    with open_bytes(path, compression, on_open) as raw:
        feed = CsvLines(raw, path, limits)
        reader = csv.reader(feed.texts(), delimiter=delimiter)
        check_fields = limits.max_field_chars < limits.max_line_bytes
        while True:
            before = reader.line_num
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as error:
                start, _ = feed.lines_of(before + 1, reader.line_num)
                if "field limit" in str(error):
                    raise _field_too_long(path, start, limits) from None
                yield start, start, UnreadableRow(f"not CSV: {error}", "")
                continue
            start, spans_skip = feed.lines_of(before + 1, reader.line_num)
            end = start + reader.line_num - before - 1
            if spans_skip:
                raise DatasetError(f"{path}: {_QUOTE_SPANS} on line {start:,}")
            if check_fields and record and max(map(len, record)) > limits.max_field_chars:
                raise _field_too_long(path, start, limits)
            if record:
                yield start, end, record


_QUOTE_SPANS = "a quoted field spans a run of blank lines, starting"


def _field_too_long(path: Any, line: int, limits: LineLimits) -> DatasetError:
    csv_limit = csv.field_size_limit()
    limit = min(limits.max_field_chars, csv_limit)
    return DatasetError(
        f"{path}: a field of the row starting on line {line:,} is longer than {limit:,} "
        f"characters (max_field_chars={limits.max_field_chars:,}, Python's "
        f"csv.field_size_limit()={csv_limit:,}): a quote opened there that never closes "
        "reads the rest of the file as one field"
    )
