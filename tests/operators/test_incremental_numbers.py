"""An incremental load of a file names a rejected row by its number and line in the file, not
by its place among the rows left after the watermarks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register

START = pendulum.datetime(2024, 6, 1, tz="UTC")
T0 = int(START.timestamp() * 1000)


def _append_rows(path: Path, numbers: range, bad: int | None = None) -> None:
    """Data rows ``numbers`` (row n on line n + 1, under the header) of one pump."""
    with path.open("a") as handle:
        if numbers.start == 1:
            handle.write("device,timestamp,temp\n")
        for n in numbers:
            handle.write(f"pump-a,{T0 + n * 1000},{'ERR' if n == bad else 20 + n / 10}\n")


def test_a_rejected_row_keeps_its_number_and_line_in_the_file(
    conn: Emulator, tmp_path: Path
) -> None:
    data, rejected = tmp_path / "logger.csv", tmp_path / "rejected.jsonl"
    _append_rows(data, range(1, 26))
    with DAG("bulkdots_incremental_numbers", schedule="@hourly", start_date=START) as dag:
        BulkDotsOperator(
            task_id="send_new",
            data=Asset(f"file://{data}"),
            incremental=True,
            ubidots_asset="ubidots://emulator/pumps/incremental-numbers",
            on_invalid="skip",
            rejected_path=str(rejected),
            retries=0,
        )
    register(dag)
    assert dag.test(logical_date=START).state == "success"  # rows 1-25 sent
    _append_rows(data, range(26, 36), bad=30)

    run = dag.test(logical_date=START + dt.timedelta(hours=1))  # rows 1-25 left out

    assert run.state == "success"
    [line] = [json.loads(text) for text in rejected.read_text().splitlines()]
    assert (line["row"], line["line"], line["field"]) == (30, 31, "temp")
    assert len(conn.dots()) == 34
