"""ETL in TaskFlow: extract readings, clean them in Python, load them with BulkDotsOperator.

The upstream task's XCom (a list of row mappings) is the operator's ``data``. Keep such
lists small (a few MB); for larger data, write a file and pass its path instead.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

SAMPLE = Path(__file__).resolve().parent / "data" / "logger_20240101.csv"


@dag(
    dag_id="bulkdots_etl_taskflow",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["bulkdots", "example"],
)
def bulkdots_etl_taskflow() -> None:
    @task
    def extract() -> list[dict[str, Any]]:
        with SAMPLE.open(newline="") as handle:
            return list(csv.DictReader(handle))

    @task
    def transform(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Keep the greenhouses, convert the temperature to Fahrenheit, tag the site."""
        cleaned = []
        for row in rows:
            if not row["logger"].startswith("greenhouse"):
                continue
            celsius = float(row["temperature"])
            cleaned.append(
                {
                    "device": row["logger"],
                    "timestamp": row["time"],
                    "temperature_f": round(celsius * 9 / 5 + 32, 2),
                    "humidity": row["humidity"],
                    "site": "north-farm",
                }
            )
        return cleaned

    BulkDotsOperator(
        task_id="load",
        data=transform(extract()),
        context_columns=["site"],
        on_invalid="fail",
    )


bulkdots_etl_taskflow()
