"""Reads an upstream dataset as a stream of row mappings, with a fingerprint of its content.

Accepted: a list (or tuple) of row mappings, a pandas DataFrame (extra ``pandas``), an Arrow
table or stream or a Polars frame (``sources/arrow.py``), an Airflow Asset naming a file, or a
path or URI (``file://``, ``s3://``, ... through Airflow's ObjectStoragePath) to a CSV, JSON Lines
(or JSON array) or Parquet (extra ``parquet``) file, compressed or not. Files are read as a
stream (a JSON array file excepted: read whole), a line, a cell and the share of unreadable
rows bounded (``sources/limits.py``); a file's header or schema is checked when it is opened,
so a file that cannot be read without guessing fails before anything is sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

import msgspec

from airflow_provider_bulkdots.dots.errors import DatasetError, UnreadableRow
from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.sources.csv_files import inspect_csv, read_csv
from airflow_provider_bulkdots.sources.dataset import Dataset, ReadProgress
from airflow_provider_bulkdots.sources.files import content_identity, split_suffixes
from airflow_provider_bulkdots.sources.frames import (
    frame_fingerprint,
    frame_for_reading,
    frame_rows,
    parquet_columns,
    parquet_row_count,
    read_parquet,
)
from airflow_provider_bulkdots.sources.json_files import read_json
from airflow_provider_bulkdots.sources.limits import LineLimits
from airflow_provider_bulkdots.sources.lines import LineMap

#: A file's format (``file_format``; else told from the suffix).
FileFormat = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[FileFormat, ...] = ("csv", "jsonl", "parquet")
_SUFFIXES: dict[str, FileFormat] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

UnreadableLine = UnreadableRow
"""A line of a file that cannot be read as a row; the core rejects it as an invalid row."""


@dataclass(frozen=True)
class ReadOptions:
    """How files are read: format (else from the suffix), CSV delimiter, compression
    (``"infer"``: from the suffix, as pandas), and the bounds of a CSV or JSON Lines file
    (:class:`~.limits.LineLimits`: a line's bytes, a cell's characters, unreadable rows)."""

    file_format: FileFormat | None = None
    delimiter: str = ","
    compression: str | None = "infer"
    limits: LineLimits = field(default_factory=LineLimits)

    def __post_init__(self) -> None:
        if not isinstance(self.limits, LineLimits):
            raise DatasetError(f"limits must be a LineLimits, got {self.limits!r}")
        if not isinstance(self.delimiter, str) or len(self.delimiter) != 1:
            raise DatasetError(f"delimiter must be one character, got {self.delimiter!r}")
        if self.file_format is not None and self.file_format not in FORMATS:
            raise DatasetError(
                f"cannot tell the format from file_format={self.file_format!r}: "
                f"give one of {FORMATS}"
            )


def used_columns(options: ReshapeOptions | None) -> tuple[str, ...] | None:
    """The columns the reshape reads; None when every column may be (wide without
    ``variables``, records, or no options). No other column is ever touched."""
    if options is None or options.layout == "records":
        return None
    names: list[str] = []
    if options.device is None and options.device_column:
        names.append(options.device_column)
    names.append(options.timestamp_column)
    if options.layout == "long":
        names += [options.variable_column, options.value_column]
    elif options.variables is None:
        return None
    else:
        names += list(options.variables)
    names += list(options.context_columns)
    return tuple(dict.fromkeys(names))


def open_dataset(
    data: Any,
    file_format: FileFormat | None = None,
    *,
    options: ReshapeOptions | None = None,
    reading: ReadOptions | None = None,
) -> Dataset:
    """The dataset behind ``data``; raises TypeError, DatasetError (a ValueError) or
    FileNotFoundError for what cannot be read.

    ``options`` lets the readers touch only the columns the reshape reads, and typed sources
    (Arrow, Polars, DataFrames, Parquet) convert those a column at a time.
    """
    from airflow_provider_bulkdots.sources import arrow, assets

    reading = reading or ReadOptions(file_format=file_format)
    if options is not None and options.decimal == reading.delimiter:
        raise DatasetError(f"decimal and delimiter are both {reading.delimiter!r}")
    if arrow.is_arrow_or_polars(data):
        return arrow.open_arrow(data, options)
    if assets.is_asset(data):
        return _from_path(assets.asset_path(data), reading, options)
    if isinstance(data, list | tuple):
        return _from_rows(data, used_columns(options))
    if type(data).__name__ == "DataFrame" and hasattr(data, "itertuples"):
        return _from_dataframe(data, options)
    if isinstance(data, str) or hasattr(data, "open"):
        return _from_path(data, reading, options)
    raise TypeError(
        "data must be a list of row mappings, a pandas DataFrame, an Arrow table or stream, "
        "a Polars frame, or a path or URI to a CSV, JSON Lines or Parquet file; "
        f"got {type(data).__name__}"
    )


def _from_rows(rows: Sequence[Any], columns: Sequence[str] | None = None) -> Dataset:
    """Rows as they are; the fingerprint covers only the used columns when they are known."""
    digest = hashlib.sha256()
    encoder = msgspec.json.Encoder()
    for row in rows:
        if columns is not None and isinstance(row, Mapping):
            row = {column: row.get(column) for column in columns}
        try:
            digest.update(encoder.encode(row))
        except (TypeError, ValueError):
            digest.update(repr(row).encode())
        digest.update(b"\n")
    return Dataset(
        f"{len(rows)} rows", digest.hexdigest(), lambda: iter(rows), ReadProgress(total=len(rows))
    )


def _from_dataframe(frame: Any, options: ReshapeOptions | None) -> Dataset:
    timestamp_column = options.timestamp_column if options is not None else "timestamp"
    used = frame_for_reading(frame, used_columns(options), timestamp_column)

    def rows() -> Iterator[dict[str, Any]]:
        from airflow_provider_bulkdots.sources.arrow import dataframe_rows

        through_arrow = dataframe_rows(used, options) if options is not None else None
        if through_arrow is not None:  # columns converted as wholes (sources/arrow.py)
            return through_arrow
        return frame_rows(used)

    progress = ReadProgress(total=len(frame))
    return Dataset(f"DataFrame of {len(frame)} rows", frame_fingerprint(used), rows, progress)


def _from_path(data: Any, reading: ReadOptions, options: ReshapeOptions | None) -> Dataset:
    from airflow_provider_bulkdots.compat import ObjectStoragePath

    path = data if isinstance(data, ObjectStoragePath) else ObjectStoragePath(str(data))
    suffix, compression = split_suffixes(path.name, reading.compression)
    kind = reading.file_format or _SUFFIXES.get(suffix)
    if kind not in FORMATS:
        raise DatasetError(
            f"cannot tell the format of {path}: give file_format as one of {FORMATS}"
        )
    try:
        identity = content_identity(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"dataset {path} does not exist") from None
    identity["format"] = kind
    fingerprint = hashlib.sha256(msgspec.json.encode(identity, order="sorted")).hexdigest()
    description = f"{kind} file {path}"
    columns = used_columns(options)
    if kind == "parquet":
        if compression is not None:
            raise DatasetError(f"{path}: Parquet compresses inside the file; remove the suffix")
        to_read = parquet_columns(path, columns)
        progress = ReadProgress(total=parquet_row_count(path))
        return Dataset(
            description, fingerprint, lambda: read_parquet(path, to_read, options), progress
        )
    lines = LineMap()
    progress = ReadProgress(unit="bytes", total=_int_or_none(identity.get("size")))

    def track(raw: IO[bytes]) -> None:
        _track_position(raw, progress)

    limits = reading.limits
    if kind == "jsonl":
        return Dataset(
            description,
            fingerprint,
            lambda: read_json(path, compression, lines, track, limits),
            progress,
            lines=lines,
        )
    layout = inspect_csv(path, compression, reading.delimiter, columns, limits)
    return Dataset(
        description,
        fingerprint,
        lambda: read_csv(path, compression, reading.delimiter, layout, lines, track, limits),
        progress,
        lines=lines,
    )


def _int_or_none(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _track_position(raw: IO[bytes], progress: ReadProgress) -> None:
    """Progress in bytes of the stored file: the reader's position in it."""
    if progress.total is None or not hasattr(raw, "tell"):
        return
    total = progress.total

    def position() -> int:
        return total if getattr(raw, "closed", False) else int(raw.tell())

    progress.position = position
