"""Where a task instance's delivery ledger lives between its tries (and after its success).

- Airflow 3.3 and newer: the task instance's own state store, ``context["task_state_store"]``
  (shared by every try and every worker, scoped to the DAG run, task and map index), each key
  written with a retention of ``ledger_retention_days`` (30 by default), after which Airflow's
  ``airflow db clean``-style state cleanup removes it.
- Older Airflow 3 releases: Airflow Variables under ``bulkdots_ledger:<hash of dag, run, task,
  map index>``; Variables do not expire, so those keys stay until deleted.

The ledger itself, what it records and when, is
:mod:`airflow_provider_bulkdots.delivery.exactly_once.ledger`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import msgspec

from airflow_provider_bulkdots.delivery.exactly_once.lease import TryLease
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger, KeyValueStore
from airflow_provider_bulkdots.dots.options import ReshapeOptions

log = logging.getLogger(__name__)
VARIABLE_PREFIX = "bulkdots_ledger:"
STATE_STORE_PREFIX = "bulkdots_ledger"
DEFAULT_RETENTION_DAYS = 30


class VariableStore:
    """Airflow Variables, through the Task SDK (visible to every worker), one call at a time
    (as :class:`TaskStateStore`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        from airflow_provider_bulkdots.compat import Variable

        with self._lock:
            value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow_provider_bulkdots.compat import Variable

        with self._lock:
            Variable.set(key, value, description="airflow-provider-bulkdots delivery ledger")


class TaskStateStore:
    """The task instance's state store (Airflow 3.3+), every key kept ``retention`` long.

    One call at a time: the sending threads read the lease while the ledger's writer writes,
    and the Task SDK pairs requests and replies through one channel to its supervisor (in
    ``dag.test()`` an in-process one that is not thread-safe).
    """

    def __init__(self, accessor: Any, retention: timedelta | None) -> None:
        self.accessor = accessor
        self.retention = retention  # None: a store without expiry (an Asset's)
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            value = self.accessor.get(key)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        with self._lock:
            if self.retention is None:
                self.accessor.set(key, value)
            else:
                self.accessor.set(key, value, retention=self.retention)


def ledger_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """A short, stable Variable key for one task instance."""
    identity = json.dumps([dag_id, run_id, task_id, map_index])
    return VARIABLE_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:32]


def ledger_location(context: Any, retention_days: float) -> tuple[KeyValueStore, str]:
    """The store and key prefix of this task instance's ledger."""
    accessor = context.get("task_state_store")
    if accessor is not None:
        return TaskStateStore(accessor, timedelta(days=retention_days)), STATE_STORE_PREFIX
    ti = context["ti"]
    key = ledger_key(ti.dag_id, ti.run_id, ti.task_id, getattr(ti, "map_index", -1))
    return VariableStore(), key


def task_ledger(
    location: tuple[KeyValueStore, str],
    fingerprint: str,
    options: ReshapeOptions,
    ti: Any = None,
) -> DeliveryLedger:
    """The ledger of one delivery at ``location``, tied to the input's ``fingerprint`` and the
    reshape ``options``: another input, or the same one reshaped otherwise, starts afresh.

    ``ti``, the running task instance: the ledger then holds this try's lease on the record
    (:mod:`..delivery.exactly_once.lease`), so that only the newest try of it sends.
    """
    store, prefix = location
    options_json = msgspec.json.encode(asdict(options), order="sorted")
    tied = hashlib.sha256(fingerprint.encode() + b"|" + options_json).hexdigest()
    lease = None
    if ti is not None:
        try_number = int(getattr(ti, "try_number", None) or 1)
        lease = TryLease(store, prefix, try_number, str(getattr(ti, "run_id", "") or ""))
    return DeliveryLedger(store, prefix, tied, lease=lease)
