"""Plan, load, check: know what a day will send, send it, then verify Ubidots holds it.

Each daily interval takes the data logger's CSV file of that day (the sample files in
``data/``) through three tasks with the same reading arguments:

- ``plan``: ``dry_run=True`` reads and reshapes the file and sends nothing (not a single
  request); its XCom ``plan`` says how many dots, bodies and bytes the load will send, how
  long that takes at the token's rate, and which rows will be refused;
- ``load``: the real load (invalid rows skipped, see ``rejected_dir``);
- ``check``: after the API's processing delay, reads each series back over the day and counts
  missing, unexpected, duplicated and altered dots; it fails on any (``tolerance=0``) and
  writes them to ``differences_dir``. Its XCom ``check`` states the read cost (reads are
  billed as dots out).
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.operators.check import BulkDotsCheckOperator

DATA_DIR = Path(__file__).resolve().parent / "data"

#: The reading arguments the three tasks share: they must read the file the same way.
READING = {
    "data": "{{ params.data_dir }}/logger_{{ ds_nodash }}.csv",
    "device_column": "logger",
    "timestamp_column": "time",
    "on_invalid": "skip",
}

with DAG(
    dag_id="bulkdots_plan_load_check",
    description="Plan, load and check a data logger's daily CSV dumps in Ubidots",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    end_date=pendulum.datetime(2024, 1, 5, tz="UTC"),
    catchup=True,
    max_active_runs=1,
    params={
        "data_dir": str(DATA_DIR),
        "rejected_dir": "/tmp/bulkdots-rejected",
        "differences_dir": "/tmp/bulkdots-differences",
    },
    tags=["bulkdots", "example"],
) as dag:
    plan = BulkDotsOperator(task_id="plan", dry_run=True, **READING)
    load = BulkDotsOperator(
        task_id="load",
        rejected_path="{{ params.rejected_dir }}/{{ dag.dag_id }}/{{ ds_nodash }}.jsonl",
        retries=3,
        retry_delay=pendulum.duration(seconds=30),
        **READING,
    )
    check = BulkDotsCheckOperator(
        task_id="check",
        processing_delay=10.0,
        tolerance=0,
        differences_path="{{ params.differences_dir }}/{{ dag.dag_id }}/{{ ds_nodash }}.jsonl",
        retries=1,
        retry_delay=pendulum.duration(minutes=1),
        **READING,
    )
    plan >> load >> check
