"""Arrow tables, record batch streams and Polars frames as rows, converted a column at a time.

Each record batch becomes a list of row dicts. Columns are converted with Arrow and numpy
kernels, not a Python call per cell, where their type allows:

- the timestamp column, when Arrow types it as a timestamp, becomes epoch numbers in the
  options' ``timestamp_unit`` (naive timestamps are read in ``timezone``); a batch whose
  timestamps hold a null, fall before 1971 or after 9999, or are local times that do not exist
  or exist twice in ``timezone`` is handed to the core as datetimes instead, which names each
  such row exactly as it would for a list of rows;
- integer and floating columns become Python numbers through numpy (a null stays ``None``;
  ``float32`` readings keep their shortest decimal, ``21.3`` rather than ``21.299999237060547``);
- booleans become Python booleans the same way (the core reads them as 1/0).

Every other type (text, decimals, dates, ...) goes through ``to_pylist`` and the core's own
rules. So the same data gives the same bodies as a list of rows, byte for byte.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat
from typing import TYPE_CHECKING, Any

from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.sources.dataset import Dataset, ReadProgress
from airflow_provider_bulkdots.sources.extras import import_extra

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 8192
# Timestamps before this (1971-01-01) go to the core, which may refuse them as implausible.
_EARLIEST_VECTOR_MS = 31_536_000_000
_LATEST_MS = 253_402_300_799_999
_PER_MS = {"s": 1000, "ms": 1, "us": 0.001, "ns": 0.000001}


def import_pyarrow() -> Any:
    """pyarrow, or an ImportError that names the extra to install."""
    return import_extra("pyarrow", "arrow", "Arrow input")


def is_arrow_or_polars(data: Any) -> bool:
    """Whether ``data`` is a pyarrow Table/RecordBatch/RecordBatchReader or a Polars frame."""
    module = type(data).__module__ or ""
    return module.startswith(("pyarrow", "polars")) and type(data).__name__ in (
        "Table",
        "RecordBatch",
        "RecordBatchReader",
        "DataFrame",
        "LazyFrame",
    )


def open_arrow(data: Any, options: ReshapeOptions | None) -> Dataset:
    """The dataset of an Arrow table or stream, or a Polars DataFrame or LazyFrame."""
    pa = import_pyarrow()
    options = options or ReshapeOptions()
    kind = type(data).__name__
    if type(data).__module__.startswith("polars"):
        if kind == "LazyFrame":
            return _from_lazy_frame(data, options)
        data = data.to_arrow()
        kind = "Polars DataFrame"
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return _from_stream(data, options)
    table = data

    def rows() -> Iterator[dict[str, Any]]:
        return arrow_rows(table.to_batches(max_chunksize=BATCH_ROWS), options)

    description = f"{'Arrow table' if kind == 'Table' else kind} of {table.num_rows} rows"
    progress = ReadProgress(total=table.num_rows)
    return Dataset(description, table_fingerprint(table), rows, progress)


def _from_stream(reader: pa.RecordBatchReader, options: ReshapeOptions) -> Dataset:
    """A stream is read once. Its fingerprint is its schema: bodies are still matched to an
    earlier try's by their exact content, so a stream that differs is never skipped."""
    consumed: list[bool] = []

    def rows() -> Iterator[dict[str, Any]]:
        if consumed:
            raise RuntimeError("a RecordBatchReader can be read only once")
        consumed.append(True)
        return arrow_rows(reader, options)

    digest = hashlib.sha256(b"stream|" + reader.schema.serialize().to_pybytes())
    return Dataset("Arrow record batch stream", digest.hexdigest(), rows)


def _from_lazy_frame(frame: Any, options: ReshapeOptions) -> Dataset:
    """A LazyFrame runs in Polars' streaming engine, batch by batch."""

    def batches() -> Iterator[pa.RecordBatch]:
        if not hasattr(frame, "collect_batches"):  # Polars before 1.33: collected whole
            yield from frame.collect().to_arrow().to_batches(max_chunksize=BATCH_ROWS)
            return
        for chunk in frame.collect_batches(chunk_size=BATCH_ROWS):
            yield from chunk.to_arrow().to_batches()

    plan = frame.explain(optimized=False)
    digest = hashlib.sha256(b"lazy|" + plan.encode())
    return Dataset("Polars LazyFrame", digest.hexdigest(), lambda: arrow_rows(batches(), options))


def table_fingerprint(table: pa.Table) -> str:
    """A hash of the table's content (its Arrow IPC stream), schema included."""
    pa = import_pyarrow()
    digest = hashlib.sha256()
    sink = _HashingSink(digest)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=BATCH_ROWS):
            writer.write_batch(batch)
    return digest.hexdigest()


class _HashingSink:
    """A writable file that only feeds a hash."""

    def __init__(self, digest: Any) -> None:
        self.digest = digest
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data)
        self.digest.update(view)
        return view.nbytes

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def arrow_rows(batches: Iterable[pa.RecordBatch], options: ReshapeOptions) -> Iterator[dict]:
    """Row dicts of every batch, columns converted as the module says."""
    converter = ColumnConverter(options)
    for batch in batches:
        if batch.num_rows:
            yield from converter.rows(batch)


class ColumnConverter:
    """Turns one record batch into row dicts, one vectorised conversion per column."""

    def __init__(self, options: ReshapeOptions) -> None:
        self.options = options
        self._numpy_tz = _fixed_offset_ms(options)

    def rows(self, batch: pa.RecordBatch) -> list[dict[str, Any]]:
        names = [name for name in batch.schema.names if self._used(name)]
        columns = [self.column(name, batch.column(name)) for name in names]
        return list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))

    def _used(self, name: str) -> bool:
        """Columns the reshape reads; every column when the variables are not listed."""
        options = self.options
        if options.layout == "wide" and options.variables is None:
            return True
        if options.layout == "records":
            return True
        needed = {options.timestamp_column, options.device_column, *options.context_columns}
        if options.layout == "long":
            needed |= {options.variable_column, options.value_column}
        else:
            needed |= set(options.variables or ())
        return name in needed

    def column(self, name: str, array: pa.Array) -> list[Any]:
        """The column's cells as Python values the core reads like a list row's."""
        import pyarrow.types as types

        kind = array.type
        if name == self.options.timestamp_column and types.is_timestamp(kind):
            converted = self._timestamps(array)
            if converted is not None:
                return converted
            return array.to_pylist()
        if types.is_boolean(kind) or types.is_integer(kind):
            return _numbers(array, int)
        if types.is_float32(kind):
            return _numbers(array, _float32)
        if types.is_floating(kind) and not types.is_float16(kind):
            return _numbers(array, float)
        return array.to_pylist()

    def _timestamps(self, array: pa.Array) -> list[Any] | None:
        """Epoch numbers in the options' unit, or None to let the core read this batch."""
        if array.null_count or getattr(self.options, "timestamp_format", None):
            return None  # a timestamp_format reads text: the core gets the datetimes
        millis = self._epoch_millis(array)
        if millis is None or not len(millis):
            return None
        if millis.min() < _EARLIEST_VECTOR_MS or millis.max() > _LATEST_MS:
            return None
        unit = self.options.timestamp_unit
        if unit == "ms":
            return millis.tolist()
        if unit == "s":
            return (millis / 1000).tolist()
        return (millis * int(1 / _PER_MS[unit])).tolist()

    def _epoch_millis(self, array: pa.Array) -> Any:
        import pyarrow as pa
        import pyarrow.compute as pc

        kind = array.type
        if kind.tz is None and self._numpy_tz is None:
            try:
                array = pc.assume_timezone(
                    array, self.options.timezone, ambiguous="raise", nonexistent="raise"
                )
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                return None  # a local time that does not exist or exists twice
        ticks = array.cast(pa.int64()).to_numpy()
        per_second = {"s": 1, "ms": 1000, "us": 1_000_000, "ns": 1_000_000_000}[kind.unit]
        millis = ticks // (per_second // 1000) if per_second >= 1000 else ticks * 1000
        if kind.tz is None and self._numpy_tz:
            millis = millis - self._numpy_tz
        return millis


def _numbers(array: pa.Array, kind: Callable[[Any], Any]) -> list[Any]:
    """Python ints or floats through numpy; nulls become None."""
    import numpy as np

    if not array.null_count:
        values = array.to_numpy(zero_copy_only=False)
        return _to_python(values, kind)
    import pyarrow.types as types

    filled = array.fill_null(False if types.is_boolean(array.type) else 0)
    filled = filled.to_numpy(zero_copy_only=False)
    result = _to_python(filled, kind)
    nulls = array.is_null().to_numpy(zero_copy_only=False)
    for index in np.flatnonzero(nulls).tolist():
        result[index] = None
    return result


def _to_python(values: Any, kind: Callable[[Any], Any]) -> list[Any]:
    if kind is _float32:
        return list(map(float, values.astype(str)))
    return values.tolist()


def _float32(value: Any) -> float:  # a marker: float32 readings keep their shortest decimal
    return float(value)


def _fixed_offset_ms(options: ReshapeOptions) -> int | None:
    """The zone's constant offset in ms (0 for UTC), or None when it has DST or history."""
    zone = options.timezone
    if zone.upper() in ("UTC", "Z", "ETC/UTC", "GMT", "ETC/GMT"):
        return 0
    return None


def parquet_rows(source: Any, columns: list[str] | None, options: ReshapeOptions) -> Iterator[dict]:
    """Rows of a Parquet file (an open binary file), a record batch at a time."""
    pq = import_extra("pyarrow.parquet", "parquet", "reading Parquet")
    batches = pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS, columns=columns)
    return arrow_rows(batches, options)


def dataframe_rows(frame: Any, options: ReshapeOptions) -> Iterator[dict] | None:
    """Rows of a pandas DataFrame through Arrow, or None where the frame's own rows must be
    read instead: a layout other than wide (where NaN and None are read alike), context
    columns, an empty device or timestamp cell (their refusals quote the cell as pandas holds
    it), or columns Arrow cannot hold (e.g. numbers mixed with text)."""
    pa = import_pyarrow()
    if options.layout != "wide" or options.context_columns:
        return None
    if not all(isinstance(name, str) for name in frame.columns):
        return None
    keys = [options.timestamp_column] + ([options.device_column] if options.device is None else [])
    if any(key not in frame.columns or frame[key].isna().any() for key in keys if key):
        return None
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    return arrow_rows(table.to_batches(max_chunksize=BATCH_ROWS), options)
