"""The delivery record outlives a deleted DAG run: kept with the Ubidots Asset.

A second ``dag.test()`` for the same logical date deletes the first run (and its task state
store) and runs again: what the first run's task delivered is not sent again, and the log
says so. ``redeliver=True`` sends everything again on purpose, once per run. The same for a
TaskFlow task through ``BulkDotsHook.deliver(..., ubidots_asset=...)``.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG, Asset, task

from airflow_provider_bulkdots.dots import ReshapeOptions
from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, xcoms
from tests.operators.test_bulkdots_dag import readings, write_rows

DAY = pendulum.datetime(2024, 7, 1, tz="UTC")


def a_dag(dag_id: str, data: Path, **kwargs: Any) -> DAG:
    with DAG(dag_id, schedule="@daily", start_date=DAY, catchup=False) as dag:
        BulkDotsOperator(
            task_id="send",
            data=str(data),
            ubidots_asset=f"ubidots://emulator/{dag_id}",
            max_body_bytes=1_000,
            **kwargs,
        )
    register(dag)
    return dag


def per_dot(emu: Emulator) -> Counter[tuple[str, str, int]]:
    return Counter((d["device"], d["variable"], d["timestamp"]) for d in emu.dots())


def test_a_deleted_run_triggered_again_sends_nothing_already_acknowledged(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = write_rows(tmp_path / "readings.csv", readings(120, ["station-a", "station-b"]))
    dag = a_dag("op_lasting_record", data)

    first = dag.test(logical_date=DAY)
    stored = conn.stats()["dots"]
    again = dag.test(logical_date=DAY)  # deletes the first run and its task state store

    assert first.state == again.state == "success"
    assert stored == 360 and conn.stats()["dots"] == 360 and conn.stats()["duplicates"] == 0
    summary = xcoms(again)[("send", -1, "summary")]
    assert (summary["requests"], summary["already_delivered_dots"]) == (0, 360)
    out = capfd.readouterr().out
    assert "kept with the asset ubidots://emulator/op_lasting_record" in out
    assert "ledger_retention_days=30" in out
    assert "Found the delivery record of an earlier DAG run" in out
    # Another logical date is another record: sent in full.
    other = dag.test(logical_date=DAY + dt.timedelta(days=1))
    assert xcoms(other)[("send", -1, "summary")]["dots_sent"] == 360


def test_redeliver_sends_again_on_purpose_once_per_run(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = write_rows(tmp_path / "readings.csv", readings(60, ["station-a"]))
    a_dag("op_lasting_redeliver", data).test(logical_date=DAY)

    run = a_dag("op_lasting_redeliver", data, redeliver=True).test(logical_date=DAY)

    assert run.state == "success"
    assert set(per_dot(conn).values()) == {2}  # every dot twice: asked for
    assert "redeliver=True" in capfd.readouterr().out
    # Without redeliver, the next re-trigger finds the redelivery's record: nothing sent.
    quiet = a_dag("op_lasting_redeliver", data).test(logical_date=DAY)
    assert xcoms(quiet)[("send", -1, "summary")]["requests"] == 0
    assert set(per_dot(conn).values()) == {2}


def test_a_taskflow_task_keeps_its_record_with_its_asset(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = write_rows(tmp_path / "readings.csv", readings(60, ["station-t"]))
    target = Asset(uri="ubidots://emulator/taskflow_lasting")
    with DAG("taskflow_lasting", schedule="@daily", start_date=DAY, catchup=False) as dag:

        @task(outlets=[target])
        def send() -> dict[str, Any]:
            hook = BulkDotsHook(max_body_bytes=1_000)
            options = ReshapeOptions(device_column="device", timestamp_column="timestamp")
            return hook.deliver(str(data), options, ubidots_asset=target).summary

        send()
    register(dag)

    dag.test(logical_date=DAY)
    again = dag.test(logical_date=DAY)

    assert set(per_dot(conn).values()) == {1} and conn.stats()["dots"] == 180
    assert xcoms(again)[("send", -1, "return_value")]["requests"] == 0
    assert "kept with the asset ubidots://emulator/taskflow_lasting" in capfd.readouterr().out
