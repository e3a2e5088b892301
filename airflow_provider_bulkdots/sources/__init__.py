"""Upstream datasets as streams of rows: lists, DataFrames, and CSV / JSON Lines / Parquet
files, compressed or not."""

from __future__ import annotations

from airflow_provider_bulkdots.sources.datasets import (
    Dataset,
    ReadOptions,
    UnreadableLine,
    open_dataset,
    used_columns,
)

__all__ = ["Dataset", "ReadOptions", "UnreadableLine", "open_dataset", "used_columns"]
