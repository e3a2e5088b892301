"""Test DAGs for the delivery record's edges through a real scheduler (test-only; never shipped).

Read by ``test_record_edges.py``. ``BULKDOTS_TEST_DATA`` names the folder of the input files.

- ``record_retrigger``: a load kept with a Ubidots Asset; the test deletes its run and
  triggers it again for the same logical date.
- ``record_concurrent``: a slow load whose first try writes its pid and its supervisor's pid
  (the test freezes both mid-send with SIGSTOP, so the scheduler runs try 2 beside it).
- ``record_incremental``: an incremental load over a file that grows between runs.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

DATA = Path(os.environ.get("BULKDOTS_TEST_DATA", "/nonexistent"))
START = pendulum.datetime(2024, 7, 1, tz="UTC")


class PidWritingOperator(BulkDotsOperator):
    """The operator; each try writes ``<pid> <supervisor pid>`` to ``pids.<try>`` first."""

    def execute(self, context: Any) -> list[str]:
        marker = DATA / f"{self.dag_id}.pids.{context['ti'].try_number}"
        marker.write_text(f"{os.getpid()} {os.getppid()}")
        return super().execute(context)


# One retry, as deployments have: the module's heartbeat timeout is 10 s (for the concurrent
# tries), and a loaded machine can miss it; a try lost so is retried and every dot still
# counted once by the test.
with DAG(
    "record_retrigger",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
) as retrigger:
    BulkDotsOperator(
        task_id="send",
        data=str(DATA / "retrigger.csv"),
        device_column="logger",
        timestamp_column="time",
        ubidots_asset="ubidots://emulator/record-retrigger",
        max_in_flight=2,
        max_body_bytes=4000,
        reconcile_delay=1.0,
    )

with DAG(
    "record_concurrent",
    schedule=None,
    start_date=START,
    catchup=False,
    default_args={"retries": 1, "retry_delay": timedelta(seconds=0)},
) as concurrent:
    PidWritingOperator(
        task_id="send",
        data=str(DATA / "concurrent.csv"),
        device_column="logger",
        timestamp_column="time",
        max_in_flight=2,
        max_body_bytes=4000,
        rate_limit=8,
        timeout=5,
        reconcile_delay=1.0,
    )

with DAG("record_incremental", schedule=None, start_date=START, catchup=False) as incremental:
    BulkDotsOperator(
        task_id="send",
        data=str(DATA / "incremental.csv"),
        device_column="logger",
        timestamp_column="time",
        incremental=True,
        ubidots_asset="ubidots://emulator/record-incremental",
        max_in_flight=2,
        max_body_bytes=4000,
        reconcile_delay=1.0,
    )
