"""Upstream datasets as streams of rows: lists, DataFrames, and CSV / JSON Lines / Parquet
files, compressed or not."""

from __future__ import annotations

from airflow_provider_bulkdots.sources.dataset import Dataset, ReadProgress
from airflow_provider_bulkdots.sources.datasets import (
    ReadOptions,
    UnreadableLine,
    open_dataset,
    used_columns,
)
from airflow_provider_bulkdots.sources.limits import LineLimits

__all__ = [
    "Dataset",
    "LineLimits",
    "ReadOptions",
    "ReadProgress",
    "UnreadableLine",
    "open_dataset",
    "used_columns",
]
