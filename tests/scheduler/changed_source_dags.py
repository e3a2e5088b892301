"""Test DAGs whose PostgreSQL source changes between try 1 and its retry (test-only; never
shipped). Read by ``test_changed_source.py``; the connection ``readings_pg`` is set there.

- ``changed_tail``: try 1 sends every body, then fails (its ``post_execute`` raises); rows
  are appended to the table before the retry, so the body built at its end changes.
- ``changed_middle``: try 1 fails mid-send (the API goes down); rows of a late logger are
  inserted over the whole span before the retry, so every body changes.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

START = pendulum.datetime(2024, 7, 1, tz="UTC")
RETRY_DELAY = timedelta(seconds=8)  # the test changes the table meanwhile


def fail_first_try(context: Any, result: Any = None) -> None:
    if context["ti"].try_number == 1:
        raise RuntimeError("try 1 fails after its delivery (test)")


for table in ("changed_tail", "changed_middle"):
    with DAG(
        table,
        schedule=None,
        start_date=START,
        catchup=False,
        default_args={"retries": 1, "retry_delay": RETRY_DELAY},
    ) as dag:
        BulkDotsOperator(
            task_id="send",
            sql_conn_id="readings_pg",
            data=f"SELECT time, logger, temperature, humidity FROM {table} ORDER BY time, logger",
            device_column="logger",
            timestamp_column="time",
            max_in_flight=2,
            max_body_bytes=4000,
            max_retries=0,
            reconcile_delay=1.0,
            post_execute=fail_first_try if table == "changed_tail" else None,
        )
    globals()[dag.dag_id] = dag
