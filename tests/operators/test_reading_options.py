"""The reading options reach the core from BulkDotsOperator's keyword arguments (templated
where it makes sense), through real Airflow (``dag.test()``) against the emulator."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, rendered_fields, task_instances, xcoms

START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
BERLIN_MIDNIGHT_MAR_1 = 1_709_247_600_000  # 2024-03-01T00:00+01:00


def dag_with(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(
        dag_id=dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        params={"sep": ";", "mark": ",", "pattern": "%Y%m%d"},
    ) as dag:
        BulkDotsOperator(task_id="send", **operator_kwargs)
    register(dag)
    return dag


def test_a_european_spreadsheet_export_is_read_with_templated_options(
    conn: Emulator, tmp_path: Path
) -> None:
    path = tmp_path / "hall.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8-sig", newline="") as handle:
        handle.write("device;day;t;co2;door;\r\n")
        handle.write("hall-1;20240301;21,5;-999;WAHR;\r\n")
        handle.write("hall-1;20240302;NA;410;FALSCH;\r\n")
    dag = dag_with(
        "reading_options_templated",
        data=str(path),
        timestamp_column="day",
        timezone="Europe/Berlin",
        delimiter="{{ params.sep }}",
        decimal="{{ params.mark }}",
        timestamp_format="{{ params.pattern }}",
        na_values=["-999"],
        true_values=["WAHR"],
        false_values=["FALSCH"],
    )

    run = dag.test()

    assert run.state == "success"
    day = 86_400_000
    assert sorted((d["variable"], d["timestamp"], d["value"]) for d in conn.dots()) == [
        ("co2", BERLIN_MIDNIGHT_MAR_1 + day, 410),
        ("door", BERLIN_MIDNIGHT_MAR_1, 1),
        ("door", BERLIN_MIDNIGHT_MAR_1 + day, 0),
        ("t", BERLIN_MIDNIGHT_MAR_1, 21.5),
    ]
    assert xcoms(run)[("send", -1, "summary")]["missing_readings"] == 2
    rendered = rendered_fields(run)[("send", -1)]
    assert (rendered["delimiter"], rendered["decimal"], rendered["timestamp_format"]) == (
        ";",
        ",",
        "%Y%m%d",
    )


def test_a_file_read_with_the_wrong_delimiter_fails_before_sending(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hall.csv"
    path.write_text("device;timestamp;t\nhall-1;2024-03-01;21,5\n")
    dag = dag_with("reading_options_wrong_delimiter", data=str(path))

    run = dag.test()

    assert task_instances(run)[("send", -1)].state == "failed"
    assert conn.stats()["requests"] == {} and conn.dots() == []
    log = capfd.readouterr().out
    assert "DatasetError" in log
    assert "the header is one name holding ';': set delimiter=';'" in log
