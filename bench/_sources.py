"""Throughput of the typed sources through the core, beside the list input of the same run:
an Arrow table, a Polars DataFrame and a SQLite query of the same rows."""

from __future__ import annotations

import gc
import math
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
    return figures
