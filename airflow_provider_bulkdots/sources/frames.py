"""pandas DataFrames and Parquet files, read column-wise: only the columns the reshape uses
are touched, ``float32`` readings become the shortest decimal of their precision, and a
DataFrame's DatetimeIndex serves as its timestamps."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from typing import Any

from airflow_provider_bulkdots.dots.errors import DatasetError
from airflow_provider_bulkdots.dots.options import ReshapeOptions

CHUNK_ROWS = 8192


def _problem(names: Sequence[str], columns: Sequence[str] | None) -> str | None:
    repeated = sorted({str(name) for name in names if list(names).count(name) > 1})
    if repeated:
        return f"repeated column names: {repeated}"
    missing = [name for name in columns or () if name not in names]
    if missing:
        return f"columns not found: {missing}"
    return None


def _shortest_float32(values: Any) -> Any:
    """float32 values as float64 holding the shortest decimal of each (NaN stays NaN)."""
    import numpy as np

    return np.asarray(values).astype(str).astype(np.float64)  # str: shortest in own precision


def frame_for_reading(frame: Any, columns: Sequence[str] | None, timestamp_column: str) -> Any:
    """The DataFrame cut to the used columns, its DatetimeIndex as the timestamp column."""
    import pandas as pd

    if timestamp_column not in frame.columns and not isinstance(frame.index, pd.MultiIndex):
        named = frame.index.name == timestamp_column
        if named or isinstance(frame.index, pd.DatetimeIndex):
            frame = frame.reset_index(names=timestamp_column)
    names = [str(name) for name in frame.columns]
    problem = _problem(list(frame.columns), columns)
    if problem is not None:
        raise DatasetError(f"DataFrame: {problem}; its columns: {names}")
    if columns is not None:
        frame = frame[list(columns)]
    float32 = [name for name in frame.columns if str(frame[name].dtype) in ("float32", "float16")]
    if float32:
        frame = frame.assign(**{name: _shortest_float32(frame[name]) for name in float32})
    return frame


def frame_fingerprint(frame: Any) -> str:
    """A hash of the used columns' content and names."""
    import pandas as pd

    digest = hashlib.sha256(repr(list(frame.columns)).encode())
    try:
        hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
        digest.update(hashed.tobytes())
    except TypeError:  # cells pandas cannot hash (lists, dicts): hash their text
        digest.update(frame.to_json(orient="split", date_format="iso").encode())
    return digest.hexdigest()


def frame_rows(frame: Any) -> Iterator[dict[str, Any]]:
    """The rows as mappings, a chunk at a time."""
    for start in range(0, len(frame), CHUNK_ROWS):
        yield from frame.iloc[start : start + CHUNK_ROWS].to_dict("records")


def parquet_columns(path: Any, columns: Sequence[str] | None) -> list[str] | None:
    """Check the file's schema for the used columns; the columns to read."""
    pq = _parquet()
    with path.open("rb") as raw:
        try:
            names = list(pq.ParquetFile(raw).schema_arrow.names)
        except Exception as error:  # pyarrow's ArrowInvalid, OSError, ...
            raise DatasetError(f"{path}: not a readable Parquet file: {error}") from None
    problem = _problem(names, columns)
    if problem is not None:
        raise DatasetError(f"{path}: {problem}; its columns: {names}")
    return list(columns) if columns is not None else None


def parquet_row_count(path: Any) -> int:
    """The rows a Parquet file holds, from its footer alone."""
    with path.open("rb") as raw:
        return int(_parquet().ParquetFile(raw).metadata.num_rows)


def read_parquet(
    path: Any, columns: list[str] | None, options: ReshapeOptions | None = None
) -> Iterator[dict[str, Any]]:
    """Rows of the used columns, a batch at a time; with ``options``, through the Arrow
    column converter (``sources/arrow.py``)."""
    import pyarrow as pa

    if options is not None:
        from airflow_provider_bulkdots.sources.arrow import parquet_rows

        with path.open("rb") as raw:
            yield from parquet_rows(raw, columns, options)
        return
    pq = _parquet()
    with path.open("rb") as raw:
        for batch in pq.ParquetFile(raw).iter_batches(batch_size=CHUNK_ROWS, columns=columns):
            data = batch.to_pydict()
            for field in batch.schema:
                if field.type in (pa.float32(), pa.float16()):
                    column = batch.column(field.name).to_numpy(zero_copy_only=False)
                    data[field.name] = _shortest_float32(column).tolist()
            names = list(data)
            for values in zip(*data.values(), strict=True):
                yield dict(zip(names, values, strict=True))


def _parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ImportError(
            "reading Parquet needs the 'parquet' extra: "
            "pip install 'airflow-provider-bulkdots[parquet]'"
        ) from error
    return pq
