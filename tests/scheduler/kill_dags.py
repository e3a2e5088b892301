"""Test DAGs whose first try is SIGKILLed at a chosen point (test-only; never shipped).

Read by a real scheduler in ``test_kills.py``. The kill points are chosen here, in a store
that wraps the operator's real ledger store, and in a ``post_execute`` callback: no
production code path is patched. ``BULKDOTS_TEST_DATA`` names the folder of the input files.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_bulkdots.dots import ReshapeOptions
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from airflow_provider_bulkdots.hooks.delivery import Guarantees
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

DATA = os.environ.get("BULKDOTS_TEST_DATA", "/nonexistent")
POINTS = ("before_post", "after_post", "after_execute", "between_halves")
#: ``replace=True`` loads killed after the delete: before its marker is stored, right after it
#: (before any write), and after the first acknowledgements of the write were stored.
REPLACE_POINTS = ("replace_before_marker", "replace_after_marker", "replace_mid_write")
#: The TaskFlow task sending through ``BulkDotsHook.deliver`` dies once its first dots show.
TASKFLOW = "kill_taskflow"


def killed_marker(dag_id: str) -> Path:
    """Written just before the kill: a DAG's task dies once, on the first try that runs."""
    return Path(DATA) / f"{dag_id}.killed"


def die(dag_id: str) -> None:
    """The worker dies at once: no cleanup, no exception handler, no ledger flush."""
    killed_marker(dag_id).write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


class KillingStore:
    """The ledger's real store, killing the task process at ``point``."""

    def __init__(self, store: Any, point: str) -> None:
        self.store, self.point, self.intent_writes = store, point, 0
        self.dag_id = f"kill_{point}"

    def get(self, key: str) -> str | None:
        return self.store.get(key)

    def set(self, key: str, value: str) -> None:
        if self.point.startswith("replace_"):
            return self._set_replacing(key, value)
        if self.point == "after_post" and "/a/" in key:
            die(self.dag_id)  # requests were answered, their acknowledgements never stored
        self.store.set(key, value)
        if self.point == "before_post" and "/i/" in key:
            self.intent_writes += 1
            if self.intent_writes == 2:
                die(self.dag_id)  # the second batch is intended, none of it posted yet
        if self.point == "between_halves" and "/a/" in key and _has_half(value):
            die(self.dag_id)  # a first half is acknowledged and stored; the rest of its body is not

    def _set_replacing(self, key: str, value: str) -> None:
        if self.point == "replace_before_marker" and key.endswith("/replace"):
            die(self.dag_id)  # the spans are deleted and confirmed empty; no marker yet
        self.store.set(key, value)
        if self.point == "replace_after_marker" and key.endswith("/replace"):
            die(self.dag_id)  # deleted and marked; not one body written
        if self.point == "replace_mid_write" and _header_with_acks(key, value):
            die(self.dag_id)  # part of the input is written, acknowledged and recorded


def _header_with_acks(key: str, value: str) -> bool:
    """Whether ``key`` is the ledger's header (the one key without "/") counting acks."""
    return "/" not in key and bool(json.loads(value).get("acks"))


def _has_half(chunk: str) -> bool:
    """Whether a chunk of acknowledgements holds one of a split half (part other than "*")."""
    return any(entry[1] != "*" for entry in json.loads(chunk))


class KillingOperator(BulkDotsOperator):
    """The operator, whose first try dies at ``kill_point``."""

    def __init__(self, *, kill_point: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kill_point = kill_point

    def ledger_store(self, context: Any) -> Any:
        store, prefix = super().ledger_store(context)
        if not killed_marker(self.dag_id).exists():
            store = KillingStore(store, self.kill_point)
        return store, prefix


def kill_after_execute(context: Any, result: Any = None) -> None:
    dag_id = context["ti"].dag_id
    if not killed_marker(dag_id).exists():
        die(dag_id)  # execute() returned; Airflow has not recorded the success


for point in POINTS:
    with DAG(
        dag_id=f"kill_{point}",
        schedule="@once",
        start_date=datetime(2024, 1, 1),
        catchup=False,
        # Two retries: a try may also fail to start while the shared machine is busy.
        default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
    ) as dag:
        KillingOperator(
            task_id="send",
            kill_point=point,
            data=f"{DATA}/{point}.csv",
            device_column="logger",
            timestamp_column="time",
            max_in_flight=2,
            max_body_bytes=8000 if point == "between_halves" else 4000,
            reconcile_delay=1.0,
            post_execute=kill_after_execute if point == "after_execute" else None,
        )
    globals()[dag.dag_id] = dag

for point in REPLACE_POINTS:
    with DAG(
        dag_id=f"kill_{point}",
        schedule="@once",
        start_date=datetime(2024, 1, 1),
        catchup=False,
        default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
    ) as dag:
        KillingOperator(
            task_id="send",
            kill_point=point,
            data=f"{DATA}/{point}.csv",
            device_column="logger",
            timestamp_column="time",
            replace=True,
            max_in_flight=2,
            max_body_bytes=4000,
            reconcile_delay=1.0,
        )
    globals()[dag.dag_id] = dag


def kill_once_dots_show(dag_id: str, device: str) -> None:
    """Poll the API (the emulator's read endpoint) until ``device`` holds a dot, then die:
    a kill mid-send, wherever the sending is, with no code path of the hook patched."""
    connection = json.loads(os.environ["AIRFLOW_CONN_BULKDOTS_DEFAULT"])
    request = urllib.request.Request(
        f"{connection['host']}/api/v1.6/devices/{device}/temperature/values/?page_size=1",
        headers={"X-Auth-Token": connection["password"]},
    )
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                if json.load(reply).get("count", 0) > 0:
                    die(dag_id)
        except OSError:
            pass  # no such series yet (404)
        time.sleep(0.05)  # polling another process (the API), not synchronising threads


with DAG(
    dag_id=TASKFLOW,
    schedule="@once",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=0)},
) as taskflow_dag:

    @task(task_id="send")
    def send_through_the_hook() -> dict[str, Any]:
        """A TaskFlow task: the hook finds this task instance's state store for its ledger."""
        if not killed_marker(TASKFLOW).exists():
            watcher = threading.Thread(
                target=kill_once_dots_show, args=(TASKFLOW, "taskflow-0"), daemon=True
            )
            watcher.start()
        options = ReshapeOptions(device_column="logger", timestamp_column="time")
        hook = BulkDotsHook(max_in_flight=2, max_body_bytes=4000)
        guarantees = Guarantees(reconcile_delay=1.0)
        result = hook.deliver(f"{DATA}/taskflow.csv", options, guarantees=guarantees)
        return result.summary

    send_through_the_hook()
