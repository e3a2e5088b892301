"""423 (device disabled) through real Airflow: every other device is stored, the task fails
(or is skipped under ``on_invalid="skip"``) naming the device, and the summary counts it."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, task_instances, xcoms

START = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
ROWS = [
    {"device": device, "timestamp": 1_714_521_600_000 + i * 1000, "t": float(i), "h": 50.0}
    for i in range(30)
    for device in ("line-1", "line-2", "line-3")
]


@pytest.mark.parametrize(("on_invalid", "state"), [("fail", "failed"), ("skip", "skipped")])
def test_a_disabled_device_is_kept_back_and_named(
    conn: Emulator, on_invalid: str, state: str, capfd: pytest.CaptureFixture[str]
) -> None:
    conn.set_faults(Faults(disabled_devices=("line-2",)))
    with DAG(dag_id=f"op_423_{on_invalid}", schedule=None, start_date=START) as dag:
        BulkDotsOperator(task_id="send", data=ROWS, on_invalid=on_invalid, max_body_bytes=1500)
    register(dag)

    run = dag.test()

    assert task_instances(run)[("send", -1)].state == state
    stored = Counter(dot["device"] for dot in conn.dots())
    assert stored == {"line-1": 60, "line-3": 60}
    assert conn.stats()["duplicates"] == 0
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["quarantined_devices"] == {"line-2": 60}
    assert (summary["quarantined_dots"], summary["dots_sent"]) == (60, 120)
    assert "423 (device disabled) for 1 device(s)" in capfd.readouterr().out
