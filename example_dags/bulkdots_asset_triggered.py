"""Sends a data logger's file whenever it is updated: a DAG scheduled on the file's Asset.

The logger's gateway (or an upstream DAG with ``LOGGER_FILE`` in its outlets) writes
``logger_latest.csv`` into the drop folder and marks the Asset updated; this DAG then reads the
file through ObjectStoragePath (an ``s3://`` or ``gs://`` URI works the same), sends only the
readings newer than those already delivered (``incremental``: watermarks kept in the Ubidots
Asset's state store), and marks ``ubidots://bulkdots_default/greenhouse`` updated, so DAGs
downstream can be scheduled on the delivery.

The drop folder is ``$BULKDOTS_DROP_DIR`` (``/tmp/bulkdots-drop`` when unset).
"""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import DAG, Asset

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

DROP_DIR = os.environ.get("BULKDOTS_DROP_DIR", "/tmp/bulkdots-drop")
LOGGER_FILE = Asset(uri=f"file://{DROP_DIR}/logger_latest.csv")  # named by its URI
DELIVERED = Asset(uri="ubidots://bulkdots_default/greenhouse", name="greenhouse_in_ubidots")

with DAG(
    dag_id="bulkdots_asset_triggered",
    description="Send what a data logger's file holds that was not sent yet, when it arrives",
    schedule=[LOGGER_FILE],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # watermarks: one run at a time
    tags=["bulkdots", "example", "assets"],
) as dag:
    BulkDotsOperator(
        task_id="send_arrival",
        data=LOGGER_FILE,  # recorded as the task's inlet
        device_column="logger",
        timestamp_column="time",
        incremental=True,
        ubidots_asset=DELIVERED,  # the task's outlet
        on_invalid="skip",
        retries=3,
        retry_delay=pendulum.duration(seconds=30),
    )
