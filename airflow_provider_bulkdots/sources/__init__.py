"""Upstream datasets as streams of rows: lists, DataFrames, and CSV / JSON Lines / Parquet files."""

from __future__ import annotations

from airflow_provider_bulkdots.sources.datasets import Dataset, UnreadableLine, open_dataset

__all__ = ["Dataset", "UnreadableLine", "open_dataset"]
