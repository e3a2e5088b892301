"""Fan-out with dynamic task mapping: one mapped BulkDotsOperator per file.

Each mapped instance keeps its own resume state. At most 3 instances send at once
(``max_active_tis_per_dag=3``); they share the token's rate through its pace on the machine
(``rate_limit`` is what the token allows, not a share of it), so no pool is needed.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import dag, task

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

DATA_DIR = Path(__file__).resolve().parent / "data"


@dag(
    dag_id="bulkdots_fan_out",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    params={"data_dir": str(DATA_DIR)},
    tags=["bulkdots", "example"],
)
def bulkdots_fan_out() -> None:
    @task
    def list_files(data_dir: str) -> list[str]:
        return sorted(str(path) for path in Path(data_dir).glob("logger_*.csv"))

    BulkDotsOperator.partial(
        task_id="send_file",
        device_column="logger",
        timestamp_column="time",
        on_invalid="skip",
        max_active_tis_per_dag=3,
    ).expand(data=list_files("{{ params.data_dir }}"))


bulkdots_fan_out()
