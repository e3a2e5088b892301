"""BulkDotsCheckOperator through real Airflow against the emulator: a clean load passes; dots
dropped, duplicated, altered and added on purpose are each found and counted exactly."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.operators.check import BulkDotsCheckOperator
from tests.operators.dag_runs import register, task_instances, xcoms

START = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
T0 = int(START.timestamp() * 1000)


def readings(count: int) -> list[dict[str, Any]]:
    return [
        {
            "device": f"meter-{index % 3}",
            "timestamp": T0 + index * 60_000,
            "kwh": round(1.5 + index / 100, 2),
            "volts": 230 + index % 5,
        }
        for index in range(count)
    ]


def dag_of(dag_id: str, *tasks: Any) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        previous = None
        for cls, kwargs in tasks:
            task = cls(**kwargs)
            if previous is not None:
                previous >> task
            previous = task
    register(dag)
    return dag


CHECK = {"task_id": "check", "processing_delay": 0, "retries": 0}


def test_a_clean_load_checked_in_the_same_dag_passes(conn: Emulator, tmp_path: Path) -> None:
    rows = readings(300)
    differences = tmp_path / "differences.jsonl"
    dag = dag_of(
        "check_clean",
        (BulkDotsOperator, {"task_id": "load", "data": rows, "max_body_bytes": 1_000}),
        (BulkDotsCheckOperator, {**CHECK, "data": rows, "differences_path": str(differences)}),
    )

    run = dag.test()

    assert run.state == "success"
    check = xcoms(run)[("check", -1, "check")]
    assert check["passed"] and check["differences"] == 0
    assert (check["series"], check["expected_dots"], check["dots_read"]) == (6, 600, 600)
    assert check["read_requests"] == 6  # one page per series of 100 dots
    assert differences.read_bytes() == b""
    assert stat.S_IMODE(differences.stat().st_mode) == 0o600


def test_each_kind_of_difference_is_found_and_counted_exactly(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = readings(300)
    load = dag_of("check_load", (BulkDotsOperator, {"task_id": "load", "data": rows}))
    assert load.test().state == "success"
    at = [T0 + index * 60_000 for index in range(300)]  # meter-0 holds at[0], at[3], ...
    assert conn.drop_dots([("meter-0", "kwh", at[0]), ("meter-1", "volts", at[4])]) == 2
    assert conn.drop_dots([("meter-2", "kwh", at[5])]) == 1
    assert conn.duplicate_dots([("meter-0", "volts", at[3]), ("meter-1", "kwh", at[7])]) == 2
    assert conn.alter_dots([("meter-2", "volts", at[8], 999.0)]) == 1
    assert conn.duplicate_dots([("meter-0", "kwh", at[6])]) == 1
    differences = tmp_path / "differences.jsonl"
    check = dag_of(
        "check_tampered",
        (BulkDotsCheckOperator, {**CHECK, "data": rows, "differences_path": str(differences)}),
    )

    run = check.test()

    assert task_instances(run)[("check", -1)].state == "failed"
    counts = xcoms(run)[("check", -1, "check")]
    assert {key: counts[key] for key in ("missing_dots", "duplicate_timestamps")} == {
        "missing_dots": 3,
        "duplicate_timestamps": 3,
    }
    assert (counts["value_mismatches"], counts["unexpected_dots"]) == (1, 0)
    assert counts["differences"] == 7 and not counts["passed"]
    lines = [json.loads(line) for line in differences.read_text().splitlines()]
    assert sorted((line["kind"], line["device"], line["variable"]) for line in lines) == sorted(
        [
            ("missing_dot", "meter-0", "kwh"),
            ("missing_dot", "meter-1", "volts"),
            ("missing_dot", "meter-2", "kwh"),
            ("duplicate_timestamp", "meter-0", "volts"),
            ("duplicate_timestamp", "meter-1", "kwh"),
            ("duplicate_timestamp", "meter-0", "kwh"),
            ("value_mismatch", "meter-2", "volts"),
        ]
    )


def test_dots_the_source_does_not_have_are_unexpected_and_a_tolerance_lets_them_pass(
    conn: Emulator,
) -> None:
    rows = readings(60)
    load = dag_of("check_load_extra", (BulkDotsOperator, {"task_id": "load", "data": rows}))
    assert load.test().state == "success"
    source = [row for index, row in enumerate(rows) if index not in (9, 12)]  # 2 readings less
    check = dag_of(
        "check_extra",
        (BulkDotsCheckOperator, {**CHECK, "data": source, "tolerance": 4}),
    )

    run = check.test()

    assert run.state == "success"
    counts = xcoms(run)[("check", -1, "check")]
    assert (counts["unexpected_dots"], counts["differences"], counts["passed"]) == (4, 4, True)


def test_a_window_without_data_finds_duplicates_of_the_series_named(conn: Emulator) -> None:
    rows = readings(30)
    assert dag_of("check_load_w", (BulkDotsOperator, {"task_id": "load", "data": rows})).test()
    conn.duplicate_dots([("meter-1", "kwh", T0 + 60_000), ("meter-2", "kwh", T0 + 120_000)])
    window = {
        "window_devices": ["meter-1"],
        "window_variables": ["kwh", "volts"],
        "window_start": START.isoformat(),
        "window_end": T0 + 3_600_000,
    }
    run = dag_of("check_window", (BulkDotsCheckOperator, {**CHECK, **window})).test()

    counts = xcoms(run)[("check", -1, "check")]
    assert (counts["series"], counts["dots_read"], counts["duplicate_timestamps"]) == (2, 21, 1)
    assert run.state == "failed"


@pytest.mark.parametrize("bad", ["yesterday", "2024-05-01T00:00:00"])
def test_a_window_bound_that_is_not_a_moment_is_refused(bad: str) -> None:
    from airflow_provider_bulkdots.exceptions import ConfigurationError
    from airflow_provider_bulkdots.operators.check import epoch_ms

    with pytest.raises(ConfigurationError, match="window_start"):
        epoch_ms(dt.datetime(2024, 5, 1) if "T" in bad else bad, "window_start")
