"""The pure core: rows to dots to request bodies. No Airflow import here or below."""

from __future__ import annotations

from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.errors import DotsOptionsError, InvalidRow, InvalidRowsError
from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.dots.pipeline import build_bodies, checked_bodies
from airflow_provider_bulkdots.dots.report import Report

__all__ = [
    "Body",
    "DotsOptionsError",
    "InvalidRow",
    "InvalidRowsError",
    "Report",
    "ReshapeOptions",
    "build_bodies",
    "checked_bodies",
]
