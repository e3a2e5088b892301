"""Daily backfill: each data interval sends the data logger's CSV file of that day.

Run with catchup over the sample files shipped in ``data/`` (2024-01-01 to 2024-01-05).
The file of each interval is chosen by templating ``data`` with ``ds_nodash``; invalid rows
are skipped and written to ``rejected_dir`` as JSON Lines. Up to 3 days send at once
(``max_active_runs=3``): they share the token's rate through its pace on the machine (see
docs/scaling-out.md), so ``rate_limit`` stays the token's and no pool is needed.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

DATA_DIR = Path(__file__).resolve().parent / "data"

with DAG(
    dag_id="bulkdots_daily_backfill",
    description="Backfill a data logger's daily CSV dumps into Ubidots",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    end_date=pendulum.datetime(2024, 1, 5, tz="UTC"),
    catchup=True,
    max_active_runs=3,
    params={"data_dir": str(DATA_DIR), "rejected_dir": "/tmp/bulkdots-rejected"},
    tags=["bulkdots", "example"],
) as dag:
    BulkDotsOperator(
        task_id="send_logger_day",
        data="{{ params.data_dir }}/logger_{{ ds_nodash }}.csv",
        device_column="logger",
        timestamp_column="time",
        on_invalid="skip",
        rejected_path="{{ params.rejected_dir }}/{{ dag.dag_id }}/{{ ds_nodash }}.jsonl",
        retries=3,
        retry_delay=pendulum.duration(seconds=30),
    )
