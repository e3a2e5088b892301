"""A long wait asked by the API frees the worker, through a real scheduler and triggerer.

Airflow runs as separate services (scheduler with LocalExecutor, dag-processor, triggerer,
api-server) on SQLite in a temporary home. The emulator answers the first request with 429
and ``Retry-After: 6``; the task's ``defer_threshold`` is 2 s (the real default is 60 s, for a
``Retry-After`` such as 120: the same path, scaled down so the test takes seconds). The task
is seen ``deferred`` while the triggerer holds the wait, then ``success``, every dot stored once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_bulkdots.emulator import Emulator, Faults, start_emulator
from tests.real_airflow import RealAirflow

TOKEN = "BBFF-deferral-test-4e1d7a"
DAG_ID = "bulkdots_deferral"
RETRY_AFTER = 6

DAG_FILE = f"""
import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

ROWS = [
    {{"device": "logger-1", "timestamp": 1_700_000_000_000 + i * 1000, "temperature": i % 40}}
    for i in range(600)
]

with DAG(
    dag_id="{DAG_ID}",
    schedule="@once",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
):
    BulkDotsOperator(task_id="send", data=ROWS, max_in_flight=1, defer_threshold=2)
"""


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    faults = Faults(burst_429=1, burst_retry_after=RETRY_AFTER)
    with start_emulator(token=TOKEN, rate_limit=4, faults=faults) as emu:
        yield emu


@pytest.fixture(scope="module")
def airflow(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealAirflow]:
    dags = tmp_path_factory.mktemp("dags")
    (dags / "bulkdots_deferral.py").write_text(DAG_FILE)
    connection = {"conn_type": "bulkdots", "host": emulator.url, "password": TOKEN}
    env = {
        "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
        "AIRFLOW__BULKDOTS__RATE_STATE_DIR": str(tmp_path_factory.mktemp("rate")),
    }
    real = RealAirflow(Path(dags), env=env, home=tmp_path_factory.mktemp("airflow-home"))
    with real:
        yield real


def test_a_long_retry_after_defers_to_the_triggerer_then_succeeds(
    airflow: RealAirflow, emulator: Emulator
) -> None:
    seen: list[str] = []

    def finished() -> bool:
        states = list(airflow.task_states(DAG_ID).values())
        if states and (not seen or seen[-1] != states[0]):
            seen.append(str(states[0]))
        return bool(states) and states[0] in ("success", "failed")

    airflow.wait_until(finished, timeout=300, what="the task to finish")
    assert seen[-1] == "success", (seen, airflow.task_logs(DAG_ID)[-5000:])
    assert "deferred" in seen, seen
    assert seen.index("deferred") < len(seen) - 1
    stats = emulator.stats()
    assert stats["requests"]["429"] == 1
    assert stats["dots"] == stats["unique_dots"] == 600  # every dot once
    logs = airflow.task_logs(DAG_ID)
    assert "The API asked to wait 6 s: deferring to the triggerer" in logs
    assert "Trigger fired event" in logs  # the triggerer held the wait, not the worker
    assert "The wait is over: resuming the delivery from the ledger." in logs
