"""``on_kill``: Airflow kills a task mid-send; no request starts after it, the ledger is left
consistent, and the next try stores every dot once."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.exceptions import DeliveryStoppedError
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.delivery.exactly_once.test_ledger import MemoryStore
from tests.operators.test_bulkdots_dag import expected_dots, readings, stored, write_rows


class StoredLedgerOperator(BulkDotsOperator):
    """The operator with its ledger in a store the test keeps across tries."""

    def __init__(self, *, store: MemoryStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store

    def ledger_store(self, context: Any) -> tuple[MemoryStore, str]:
        return self.store, "ledger"


class TaskInstance:
    dag_id, run_id, task_id, map_index = "kill", "run", "send", -1

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def test_on_kill_stops_the_requests_and_the_next_try_stores_every_dot_once(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = readings(3000, ["kill-a", "kill-b", "kill-c"])
    data = write_rows(tmp_path / "readings.csv", rows)
    store = MemoryStore()
    first = StoredLedgerOperator(
        task_id="send", data=str(data), store=store, max_in_flight=2, max_body_bytes=2000
    )
    conn.set_faults(Faults(latency_s=0.2))  # every request takes a while
    outcome: list[BaseException] = []

    def execute() -> None:
        try:
            first.execute({"ti": TaskInstance(1)})  # type: ignore[arg-type]
        except BaseException as error:
            outcome.append(error)

    worker = threading.Thread(target=execute)
    worker.start()
    deadline = time.monotonic() + 60
    while conn.stats()["dots"] == 0 and time.monotonic() < deadline:
        time.sleep(0.02)  # waiting for another thread's first stored body
    first.on_kill()
    killed_at = time.monotonic()
    worker.join(timeout=30)

    assert not worker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], DeliveryStoppedError)
    assert time.monotonic() - killed_at < 10  # the requests in flight ended, nothing else
    posts_after_kill = sum(conn.stats()["requests"].values())
    conn.set_faults(Faults())
    assert 0 < sum(stored(conn).values()) < sum(expected_dots(rows).values())

    retry = StoredLedgerOperator(
        task_id="send", data=str(data), store=store, max_in_flight=2, max_body_bytes=2000
    )
    ti = TaskInstance(2)
    retry.execute({"ti": ti})  # type: ignore[arg-type]

    assert stored(conn) == expected_dots(rows)  # every dot, each once
    assert sum(conn.stats()["requests"].values()) > posts_after_kill
    # The killed try flushed its acknowledgements: the retry skipped those bodies.
    assert ti.xcoms["summary"]["resumed_bodies"] > 0


@pytest.mark.parametrize("twice", [1, 2])
def test_on_kill_before_execute_does_nothing(twice: int) -> None:
    operator = BulkDotsOperator(task_id="send", data=[])
    for _ in range(twice):
        assert operator.on_kill() is None  # nothing to stop yet, and no error
