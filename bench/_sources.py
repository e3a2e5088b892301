"""Throughput of the typed sources through the core, beside the list input of the same run:
an Arrow table, a Polars DataFrame, a pandas DataFrame, a Parquet file and a SQLite query
(through an Airflow connection) of the same rows."""

from __future__ import annotations

import gc
import json
import math
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from typing import Any

from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
from airflow_provider_bulkdots.sources import open_dataset


def _best_of(runs: int, work: Callable[[], int]) -> tuple[float, int]:
    best, dots = math.inf, 0
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        dots = work()
        best = min(best, time.perf_counter() - start)
    return best, dots


def _through_core(data: Any, options: ReshapeOptions) -> int:
    dataset = open_dataset(data, options=options)
    return sum(body.dot_count for body in build_bodies(dataset.rows(), options))


def source_figures(rows: list[dict[str, Any]], options: ReshapeOptions, runs: int) -> dict:
    """dots/s of each typed source holding ``rows``; every source must give the same dots."""
    import polars as pl
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    frame = pl.from_arrow(table)
    figures: dict[str, float] = {}
    expected = _through_core(rows, options)
    for name, data in (("arrow", table), ("polars", frame)):
        seconds, dots = _best_of(runs, lambda data=data: _through_core(data, options))
        assert dots == expected, (name, dots, expected)
        figures[f"{name}_dots_per_s"] = round(dots / seconds)
    figures.update(_file_and_frame_figures(rows, options, runs, expected))
    figures["sql_dots_per_s"] = _sqlite_figure(rows, options, runs, expected)
    return figures


def _file_and_frame_figures(
    rows: list[dict[str, Any]], options: ReshapeOptions, runs: int, expected: int
) -> dict[str, float]:
    """The same rows as a pandas DataFrame and as a Parquet file (read through
    ObjectStoragePath), both converted a column at a time through Arrow."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "readings.parquet")
        frame.to_parquet(path, index=False)
        for name, data in (("dataframe", frame), ("parquet", path)):
            seconds, dots = _best_of(runs, lambda data=data: _through_core(data, options))
            assert dots == expected, (name, dots, expected)
            figures[f"{name}_dots_per_s"] = round(dots / seconds)
    return figures


def _sqlite_figure(
    rows: list[dict[str, Any]], options: ReshapeOptions, runs: int, expected: int
) -> int:
    """The rows in a SQLite table (timestamps as ISO-8601 text, as SQLite keeps them), read
    back through an Airflow connection by the SQL source."""
    from airflow_provider_bulkdots.sources.sql import open_sql

    names = list(rows[0])
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "readings.db")
        with sqlite3.connect(path) as connection:
            connection.execute(f"CREATE TABLE readings ({', '.join(names)})")
            connection.executemany(
                f"INSERT INTO readings VALUES ({', '.join('?' * len(names))})",
                ([_sqlite_cell(row[name]) for name in names] for row in rows),
            )
        connection.close()
        os.environ["AIRFLOW_CONN_BENCH_SQLITE"] = json.dumps({"conn_type": "sqlite", "host": path})
        query = f"SELECT {', '.join(names)} FROM readings ORDER BY rowid"

        def work() -> int:
            dataset = open_sql(query, "bench_sqlite")
            return sum(body.dot_count for body in build_bodies(dataset.rows(), options))

        seconds, dots = _best_of(runs, work)
    assert dots == expected, ("sql", dots, expected)
    return round(dots / seconds)


def _sqlite_cell(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
