"""Reads an upstream dataset as a stream of row mappings, with a fingerprint of its content.

Accepted: a list (or tuple) of row mappings, a pandas DataFrame (extra ``pandas``), or a path
or URI (``file://``, ``s3://``, ... through Airflow's ObjectStoragePath) to a CSV, JSON Lines
or Parquet (extra ``parquet``) file. Files are read as a stream, never loaded whole.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from airflow_provider_bulkdots.dots.errors import UnreadableRow
from airflow_provider_bulkdots.dots.options import ReshapeOptions

FORMATS = ("csv", "jsonl", "parquet")
_SUFFIXES = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_CHUNK_ROWS = 8192


UnreadableLine = UnreadableRow
"""A line of a JSON Lines file that is not JSON; the core rejects it as an invalid row."""


@dataclass
class ReadProgress:
    """How far the reading of a dataset got, for progress lines with an ETA.

    ``total`` is the whole in ``unit`` when it is knowable: rows of a list or a DataFrame,
    rows in a Parquet file's metadata, bytes of a CSV or JSON Lines file. For ``"bytes"``,
    ``position()`` says how many the reader has consumed so far; for ``"rows"`` the caller
    counts the rows it took.
    """

    unit: str = "rows"
    total: int | None = None
    position: Callable[[], int] | None = None


@dataclass(frozen=True)
class Dataset:
    """A re-readable stream of rows, a fingerprint of what it holds, and how far it was read."""

    description: str
    fingerprint: str
    _open: Callable[[], Iterator[Any]]
    progress: ReadProgress = field(default_factory=ReadProgress)

    def rows(self) -> Iterator[Any]:
        """A fresh iterator over the rows, from the start."""
        return self._open()


def open_dataset(
    data: Any, file_format: str | None = None, *, options: ReshapeOptions | None = None
) -> Dataset:
    """The dataset behind ``data``; raises TypeError or ValueError for what cannot be read.

    ``options`` lets typed sources (Arrow, Polars) convert the columns the reshape reads.
    An Airflow Asset is read as the file its URI names.
    """
    from airflow_provider_bulkdots.sources import arrow, assets

    if arrow.is_arrow_or_polars(data):
        return arrow.open_arrow(data, options)
    if assets.is_asset(data):
        return _from_path(assets.asset_path(data), file_format, options)
    if isinstance(data, list | tuple):
        return _from_rows(data)
    if type(data).__name__ == "DataFrame" and hasattr(data, "itertuples"):
        return _from_dataframe(data, options)
    if isinstance(data, str) or hasattr(data, "open"):
        return _from_path(data, file_format, options)
    raise TypeError(
        "data must be a list of row mappings, a pandas DataFrame, an Arrow table or stream, "
        "a Polars frame, or a path or URI to a CSV, JSON Lines or Parquet file; "
        f"got {type(data).__name__}"
    )


def _from_rows(rows: Sequence[Any]) -> Dataset:
    digest = hashlib.sha256()
    encoder = msgspec.json.Encoder()
    for row in rows:
        try:
            digest.update(encoder.encode(row))
        except (TypeError, ValueError):
            digest.update(repr(row).encode())
        digest.update(b"\n")
    return Dataset(
        f"{len(rows)} rows", digest.hexdigest(), lambda: iter(rows), ReadProgress(total=len(rows))
    )


def _from_dataframe(frame: Any, options: ReshapeOptions | None) -> Dataset:
    import pandas as pd

    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    digest = hashlib.sha256(hashed.tobytes())
    digest.update(repr(list(frame.columns)).encode())

    def rows() -> Iterator[dict[str, Any]]:
        from airflow_provider_bulkdots.sources.arrow import dataframe_rows

        through_arrow = dataframe_rows(frame, options) if options is not None else None
        if through_arrow is not None:  # columns converted as wholes (sources/arrow.py)
            yield from through_arrow
            return
        for start in range(0, len(frame), _CHUNK_ROWS):
            yield from frame.iloc[start : start + _CHUNK_ROWS].to_dict("records")

    progress = ReadProgress(total=len(frame))
    return Dataset(f"DataFrame of {len(frame)} rows", digest.hexdigest(), rows, progress)


def _from_path(data: Any, file_format: str | None, options: ReshapeOptions | None) -> Dataset:
    from airflow_provider_bulkdots.compat import ObjectStoragePath

    path = data if isinstance(data, ObjectStoragePath) else ObjectStoragePath(str(data))
    kind = file_format or _SUFFIXES.get(path.suffix.lower())
    if kind not in FORMATS:
        raise ValueError(f"cannot tell the format of {path}: give file_format as one of {FORMATS}")
    try:
        info = path.stat()
    except FileNotFoundError:
        raise FileNotFoundError(f"dataset {path} does not exist") from None
    identity = {
        "path": str(path),
        "size": _stat_field(info, "st_size", "size"),
        "version": _stat_field(info, "st_mtime", "ETag", "etag", "mtime", "LastModified"),
    }
    fingerprint = hashlib.sha256(msgspec.json.encode(identity, order="sorted")).hexdigest()
    readers: dict[str, Callable[[Any, ReadProgress], Iterator[Any]]] = {
        "csv": _read_csv,
        "jsonl": _read_jsonl,
        "parquet": lambda path, progress: _read_parquet(path, progress, options),
    }
    reader = readers[kind]
    progress = ReadProgress()
    return Dataset(f"{kind} file {path}", fingerprint, lambda: reader(path, progress), progress)


def _stat_field(info: Any, *names: str) -> Any:
    for name in names:
        value = info.get(name) if isinstance(info, Mapping) else getattr(info, name, None)
        if value is not None:
            return str(value)
    return None


def _track_bytes(raw: Any, size: Any, progress: ReadProgress) -> None:
    """Progress in bytes of the file: its size, and the reader's position in it."""
    if size is None or not hasattr(raw, "tell"):
        return
    total = int(size)

    def position() -> int:
        return total if getattr(raw, "closed", False) else int(raw.tell())

    progress.unit, progress.total, progress.position = "bytes", total, position


def _read_csv(path: Any, progress: ReadProgress) -> Iterator[dict[str, str]]:
    with path.open("rb") as raw:
        _track_bytes(raw, _stat_field(path.stat(), "st_size", "size"), progress)
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        yield from csv.DictReader(text)


def _read_jsonl(path: Any, progress: ReadProgress) -> Iterator[Any]:
    decode = msgspec.json.Decoder().decode
    with path.open("rb") as raw:
        _track_bytes(raw, _stat_field(path.stat(), "st_size", "size"), progress)
        for line in raw:
            stripped = line.strip()
            if not stripped:
                continue
            try:
                yield decode(stripped)
            except msgspec.DecodeError as error:
                yield UnreadableLine(str(error), stripped[:200].decode("utf-8", "replace"))


def _read_parquet(
    path: Any, progress: ReadProgress, options: ReshapeOptions | None
) -> Iterator[dict[str, Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "reading Parquet needs the 'parquet' extra: "
            "pip install 'airflow-provider-bulkdots[parquet]'"
        ) from error
    with path.open("rb") as raw:
        progress.total = pq.ParquetFile(raw).metadata.num_rows  # the footer only
    if options is not None:  # columns converted as wholes (sources/arrow.py)
        from airflow_provider_bulkdots.sources.arrow import parquet_rows

        with path.open("rb") as raw:
            yield from parquet_rows(raw, None, options)
        return
    with path.open("rb") as raw:
        for batch in pq.ParquetFile(raw).iter_batches(batch_size=_CHUNK_ROWS):
            yield from batch.to_pylist()
