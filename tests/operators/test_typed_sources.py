"""Typed sources through real Airflow: a Polars LazyFrame built in the DAG file is read only
when the task runs, batch by batch, and each of its dots is stored once."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import pendulum
import polars as pl
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, xcoms

START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def test_a_lazy_frame_in_the_dag_file_is_read_when_the_task_runs(
    conn: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "readings.parquet"
    frame = pl.DataFrame(
        {
            "device": [f"meter-{n % 4}" for n in range(20_000)],
            "timestamp": [START + dt.timedelta(seconds=n) for n in range(20_000)],
            "kwh": [None if n % 9 == 0 else n * 0.125 for n in range(20_000)],
        }
    )
    frame.write_parquet(path)
    with DAG(
        "bulkdots_polars_lazy", schedule=None, start_date=pendulum.datetime(2024, 1, 1)
    ) as dag:
        BulkDotsOperator(task_id="send", data=pl.scan_parquet(path).filter(pl.col("kwh") > 1))
    register(dag)

    run = dag.test()

    assert run.state == "success"
    summary = xcoms(run)[("send", -1, "summary")]
    expected = frame.filter(pl.col("kwh") > 1)
    stats = conn.stats()
    assert summary["rows_read"] == expected.height
    assert stats["dots"] == stats["unique_dots"] == expected.height
    stored = Counter(dot["device"] for dot in conn.dots())
    assert stored == Counter(expected["device"].to_list())
