"""The operator streams: its memory does not grow with the input file.

``execute`` runs over generated CSV files of two sizes, with a Hook that acknowledges every
body at once (no HTTP), under tracemalloc. The peak must stay under a fixed bound and be
about the same for five times the rows: rows are read in batches, bodies go through a
spool file on disk (``on_invalid="fail"``), and only the task_ids are kept.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.reporting.results import DeliverySummary, SendResult
from airflow_provider_bulkdots.delivery.settings import DeliverySettings
from airflow_provider_bulkdots.dots import Body
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.delivery.exactly_once.test_ledger import MemoryStore

SMALL_ROWS = 20_000
LARGE_ROWS = 5 * SMALL_ROWS
PEAK_BOUND = 8 * 2**20


class AcknowledgingSender:
    """Acknowledges each body as it is handed over: one task_id per body."""

    def deliver(
        self,
        bodies: Iterable[Body],
        on_result: Any = None,
        on_ack: Any = None,
        meter: Any = None,
        **callbacks: Any,
    ) -> DeliverySummary:
        summary = DeliverySummary()
        for body in bodies:
            result = SendResult(
                seq=body.seq,
                body_id=body.body_id,
                dots=body.dot_count,
                size=body.size,
                task_ids=[f"task-{body.seq:06d}"],
                requests=1,
            )
            summary.add(result)
            if meter is not None:
                meter.add(result)
            if on_result is not None:
                on_result(body, result)
        return summary


class AcknowledgingHook(BulkDotsHook):
    """The real hook's delivery, through a sender that needs no API (and no connection)."""

    settings = DeliverySettings(rate_limit=0)  # type: ignore[assignment]

    def get_sender(self, *, reading_back: bool = False) -> Any:
        return AcknowledgingSender()

    def close(self) -> None:
        pass


class OfflineOperator(BulkDotsOperator):
    def make_hook(self) -> Any:
        return AcknowledgingHook()

    def ledger_store(self, context: Any) -> tuple[MemoryStore, str]:
        return MemoryStore(), "ledger"


class TaskInstance:
    dag_id, run_id, task_id, map_index, try_number = "stream", "run", "send", -1, 1

    def __init__(self) -> None:
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[key] = value


def write_csv(path: Path, rows: int) -> Path:
    """Wide rows of 50 loggers read every second, three readings each."""
    with path.open("w") as handle:
        handle.write("time,logger,temperature,humidity,co2\n")
        for index in range(rows):
            second, logger = divmod(index, 50)
            hours, rest = divmod(second, 3600)
            handle.write(
                f"2024-01-{1 + hours // 24:02d}T{hours % 24:02d}:{rest // 60:02d}:{rest % 60:02d}Z,"
                f"logger-{logger:02d},{index % 400 / 10},{index % 97},{400 + index % 300}\n"
            )
    return path


def peak_of_execute(path: Path) -> tuple[int, list[str], dict[str, Any]]:
    operator = OfflineOperator(
        task_id="send",
        data=str(path),
        device_column="logger",
        timestamp_column="time",
        reconcile=False,
    )
    ti = TaskInstance()
    tracemalloc.start()
    try:
        task_ids = operator.execute({"ti": ti})  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, task_ids, ti.xcoms["summary"]


@pytest.mark.timeout(60)
def test_memory_does_not_grow_with_the_input(tmp_path: Path) -> None:
    peak_of_execute(write_csv(tmp_path / "warm-up.csv", 100))  # imports and caches, untraced
    small = write_csv(tmp_path / "small.csv", SMALL_ROWS)
    large = write_csv(tmp_path / "large.csv", LARGE_ROWS)

    small_peak, small_ids, small_summary = peak_of_execute(small)
    large_peak, large_ids, large_summary = peak_of_execute(large)

    assert small_summary["rows_read"] == SMALL_ROWS
    assert large_summary["rows_read"] == LARGE_ROWS
    assert large_summary["dots_sent"] == 3 * LARGE_ROWS
    assert len(large_ids) == large_summary["requests"] > 4 * len(small_ids)
    assert large_peak < PEAK_BOUND, f"peak {large_peak / 2**20:.1f} MiB"
    # Five times the rows, about the same peak (the task_ids list is all that grows).
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
