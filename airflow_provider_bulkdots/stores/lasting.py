"""A delivery record that outlives its DAG run: kept with the Ubidots destination Asset.

Airflow 3.3's ``task_state_store`` rows go with their DAG run: delete the run, trigger it again
for the same logical date, and a record kept there is gone, so everything would be sent again.
When the task has a Ubidots Asset (the operator's ``ubidots_asset=`` or a ``ubidots://`` Asset
among its outlets; ``ubidots_asset=`` of :meth:`.BulkDotsHook.deliver`) and its run has a
logical date, the record lives in that Asset's state store instead
(``context["asset_state_store"][asset]``), which outlives DAG runs:

- keys ``bulkdots_ledger/<id>/<generation>...`` where ``<id>`` is a hash of the DAG id, the task
  id, the map index and the logical date: the same task, for the same logical date, writing to
  the same destination, finds the record of every earlier run of it;
- ``bulkdots_ledger/<id>/current`` says which generation is current and until when it is used
  (``ledger_retention_days`` after the last try that used it). A record past that date is not
  read: the next run starts a new generation (and says so in its log);
- ``redeliver=True`` starts a new generation once per DAG run (its retries keep it), so that
  run sends everything again on purpose, logged as such.

The Asset's state store has no expiry of its own: the keys of a generation set aside stay until
removed with Airflow's asset state store tools. Without an Asset or a logical date the record
stays in the task instance's state store (:mod:`.ledger`), which goes with its DAG run.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from airflow_provider_bulkdots.delivery.exactly_once.ledger import KeyValueStore
from airflow_provider_bulkdots.stores.ledger import TaskStateStore, ledger_location

PREFIX = "bulkdots_ledger"
DAY = 86_400.0


class AssetRecordStore(TaskStateStore):
    """One Asset's state store as the ledger's key-value store, one call at a time (the same
    calls as a task's state store, without a retention: the Asset's store has none)."""

    def __init__(self, accessor: Any) -> None:
        super().__init__(accessor, retention=None)


@dataclass(frozen=True)
class Pointer:
    """The current generation of a task's lasting record and until when it is used."""

    generation: int
    expires: float
    redelivered_by: str | None = None
    #: The DAG run whose try used it last.
    run: str | None = None

    @classmethod
    def parse(cls, raw: str | None) -> Pointer | None:
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(
                int(data["generation"]),
                float(data["expires"]),
                data.get("redelivered_by"),
                data.get("run"),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def dumps(self) -> str:
        return json.dumps(
            {
                "generation": self.generation,
                "expires": self.expires,
                "redelivered_by": self.redelivered_by,
                "run": self.run,
            }
        )


def record_id(dag_id: str, task_id: str, map_index: int, logical_date: datetime) -> str:
    """A short, stable id of one task for one logical date."""
    identity = json.dumps([dag_id, task_id, map_index, logical_date.isoformat()])
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def lasting_location(
    context: Any,
    asset: Any,
    retention_days: float,
    redeliver: bool,
    log: Any,
    clock: Callable[[], float] = time.time,
) -> tuple[KeyValueStore, str] | None:
    """The store and prefix of the record kept with ``asset``; ``None`` where there is none
    (no Asset, no asset state store, or a run without a logical date)."""
    accessors = context.get("asset_state_store") if asset is not None else None
    logical_date = context.get("logical_date")
    if accessors is None or logical_date is None:
        return None
    try:
        accessor = accessors[asset]
    except (KeyError, TypeError, ValueError):
        return None
    ti = context["ti"]
    map_index = getattr(ti, "map_index", -1)
    base = f"{PREFIX}/{record_id(ti.dag_id, ti.task_id, map_index, logical_date)}"
    store = AssetRecordStore(accessor)
    pointer = _current(store, base, ti.run_id, retention_days, redeliver, log, clock())
    store.set(f"{base}/current", pointer.dumps())
    log.info(
        "The delivery record is kept with the asset %s (it outlives this DAG run): what was "
        "acknowledged for this task and logical date is not sent again until %s "
        "(ledger_retention_days=%g).",
        getattr(asset, "uri", asset),
        _day(pointer.expires),
        retention_days,
    )
    return store, f"{base}/{pointer.generation}"


def _current(
    store: AssetRecordStore,
    base: str,
    run_id: str,
    retention_days: float,
    redeliver: bool,
    log: Any,
    now: float,
) -> Pointer:
    """The generation this try uses, kept ``retention_days`` from now."""
    expires = now + retention_days * DAY
    held = Pointer.parse(store.get(f"{base}/current"))
    if held is None:
        return Pointer(0, expires, run_id if redeliver else None, run_id)
    if redeliver and held.redelivered_by != run_id:
        log.warning(
            "redeliver=True: the delivery record of earlier runs of this task for this logical "
            "date is set aside; everything is sent again, on purpose (dots already stored are "
            "stored twice)."
        )
        return Pointer(held.generation + 1, expires, run_id, run_id)
    if held.expires < now:
        log.info(
            "The delivery record of earlier runs of this task expired on %s "
            "(ledger_retention_days): it is not used; everything is sent.",
            _day(held.expires),
        )
        return Pointer(held.generation + 1, expires, None, run_id)
    if held.run is not None and held.run != run_id:
        log.info(
            "Found the delivery record of an earlier DAG run of this task for this logical date "
            "(%s, since deleted or run again): what it acknowledged is not sent again "
            "(redeliver=True sends it again on purpose).",
            held.run,
        )
    return Pointer(held.generation, expires, held.redelivered_by, run_id)


def _day(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, timezone.utc).date().isoformat()


def record_location(
    context: Any, retention_days: float, asset: Any, redeliver: bool, log: Any
) -> tuple[KeyValueStore, str]:
    """Where a task's delivery record lives: with its Ubidots Asset when it has one and a
    logical date (it outlives the DAG run), else in the task instance's state store."""
    lasting = lasting_location(context, asset, retention_days, redeliver, log)
    if lasting is not None:
        return lasting
    return ledger_location(context, retention_days)


__all__ = ["AssetRecordStore", "Pointer", "lasting_location", "record_id", "record_location"]
