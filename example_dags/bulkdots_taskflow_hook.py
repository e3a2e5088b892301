"""TaskFlow with the hook: a ``@task`` sends a day's readings through ``BulkDotsHook.deliver``.

The hook gives the task what the operator gives its own: the delivery ledger in this task
instance's state store (found through Airflow's current context: a retried try sends only
what no earlier try finished), lost replies read back rather than resent blind, progress
lines, and the same summary, returned here as the task's XCom.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, task

from airflow_provider_bulkdots.dots import ReshapeOptions
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

DATA = Path(__file__).resolve().parent / "data"


@dag(
    dag_id="bulkdots_taskflow_hook",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["bulkdots", "example"],
)
def bulkdots_taskflow_hook() -> None:
    @task(retries=2, retry_delay=timedelta(seconds=30))
    def load_day(day: str = "20240103") -> dict[str, Any]:
        """Send one logger file (its invalid rows left out and counted); the summary, with the
        task_ids, becomes the XCom."""
        options = ReshapeOptions(device_column="logger", timestamp_column="time", on_invalid="skip")
        result = BulkDotsHook().deliver(DATA / f"logger_{day}.csv", options)
        return {**result.summary, "task_ids": result.task_ids}

    load_day()


bulkdots_taskflow_hook()
