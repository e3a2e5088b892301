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
from dataclasses import asdict
from datetime import timedelta
from typing import Any

import msgspec

from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger, KeyValueStore
from airflow_provider_bulkdots.dots.options import ReshapeOptions

log = logging.getLogger(__name__)
VARIABLE_PREFIX = "bulkdots_ledger:"
STATE_STORE_PREFIX = "bulkdots_ledger"
DEFAULT_RETENTION_DAYS = 30


class VariableStore:
    """Airflow Variables, through the Task SDK (visible to every worker)."""

    def get(self, key: str) -> str | None:
        from airflow_provider_bulkdots.compat import Variable

        value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow_provider_bulkdots.compat import Variable

        Variable.set(key, value, description="airflow-provider-bulkdots delivery ledger")


class TaskStateStore:
    """The task instance's state store (Airflow 3.3+), every key kept ``retention`` long."""

    def __init__(self, accessor: Any, retention: timedelta) -> None:
        self.accessor = accessor
        self.retention = retention

    def get(self, key: str) -> str | None:
        value = self.accessor.get(key)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
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
    location: tuple[KeyValueStore, str], fingerprint: str, options: ReshapeOptions
) -> DeliveryLedger:
    """The ledger of one delivery at ``location``, tied to the input's ``fingerprint`` and the
    reshape ``options``: another input, or the same one reshaped otherwise, starts afresh."""
    store, prefix = location
    options_json = msgspec.json.encode(asdict(options), order="sorted")
    tied = hashlib.sha256(fingerprint.encode() + b"|" + options_json).hexdigest()
    return DeliveryLedger(store, prefix, tied)
