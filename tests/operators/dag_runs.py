"""Running DAGs through real Airflow (``dag.test()`` on the session's SQLite) and reading back
what the runs left: task instances, XComs, rendered fields and the delivery ledger.

Shared by ``tests/operators`` and ``tests/test_example_dags.py``; the database is migrated
once per process, whichever of them asks first.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

    from airflow_provider_bulkdots.delivery.exactly_once.ledger import LedgerState
    from airflow_provider_bulkdots.emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DAGS = ROOT / "example_dags"
LEDGER_PREFIX = "bulkdots_ledger:"


@functools.cache
def migrate_db() -> None:
    """Create the metadata tables in the session's SQLite file and register the DAG bundle.

    ``initdb`` in this process creates the tables from the ORM and stamps the head revision:
    the same schema as ``airflow db migrate``, without a second interpreter start.
    """
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.utils.db import initdb

    initdb()
    DagBundlesManager().sync_bundles_to_db()


def register(*dags: DAG) -> None:
    """Serialize DAGs built in a test into the metadata DB, as the DAG processor would.

    ``dag.test()`` creates its run from the serialized DAG, then executes the tasks of the
    Python object it was called on (callbacks and all) in this process.
    """
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(collect_dags=False)
    for dag in dags:
        bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def example_dags() -> dict[str, DAG]:
    """The shipped example DAGs, parsed from their folder and registered."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(str(EXAMPLE_DAGS))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    return dict(bag.dags)  # type: ignore[arg-type]


def set_connection(monkeypatch: pytest.MonkeyPatch, emu: Emulator, **extra: Any) -> None:
    """``bulkdots_default`` pointing at the emulator, as ``AIRFLOW_CONN_...`` JSON."""
    value = {"conn_type": "bulkdots", "host": emu.url, "password": emu.token, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_BULKDOTS_DEFAULT", json.dumps(value))


def task_instances(run: DagRun) -> dict[tuple[str, int], Any]:
    """The run's task instances by (task_id, map_index)."""
    return {(ti.task_id, ti.map_index): ti for ti in run.get_task_instances()}


def xcoms(run: DagRun) -> dict[tuple[str, int, str], Any]:
    """Every XCom of the run, decoded, by (task_id, map_index, key)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == run.dag_id, XComModel.run_id == run.run_id)
        ).all()
        return {(row.task_id, row.map_index, row.key): _decoded(row.value) for row in rows}


def rendered_fields(run: DagRun) -> dict[tuple[str, int], dict[str, Any]]:
    """The rendered template fields stored for each task instance of the run."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(RenderedTaskInstanceFields).where(
                RenderedTaskInstanceFields.dag_id == run.dag_id,
                RenderedTaskInstanceFields.run_id == run.run_id,
            )
        ).all()
        return {(row.task_id, row.map_index): dict(row.rendered_fields) for row in rows}


class _Rows:
    """A read-only KeyValueStore over rows already fetched."""

    def __init__(self, rows: dict[str, str]) -> None:
        self.rows = rows

    def get(self, key: str) -> str | None:
        return self.rows.get(key)

    def set(self, key: str, value: str) -> None:
        raise AssertionError("a test reads the ledger, it never writes it")


def ledger_rows(run: DagRun, map_index: int = -1, task_id: str = "send") -> dict[str, str]:
    """The delivery ledger's keys in the task state store of one task instance of ``run``."""
    from airflow.models.task_state_store import TaskStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(
            select(TaskStateStoreModel).where(
                TaskStateStoreModel.dag_id == run.dag_id,
                TaskStateStoreModel.run_id == run.run_id,
                TaskStateStoreModel.task_id == task_id,
                TaskStateStoreModel.map_index == map_index,
            )
        )
        return {row.key: _decoded(row.value) for row in rows}


def ledger_of(run: DagRun, map_index: int = -1, task_id: str = "send") -> LedgerState:
    """What a later try of that task instance would find in its ledger."""
    from airflow_provider_bulkdots.compat import AIRFLOW_V_3_3_PLUS
    from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
    from airflow_provider_bulkdots.stores.ledger import STATE_STORE_PREFIX, ledger_key

    if AIRFLOW_V_3_3_PLUS:
        rows, prefix = ledger_rows(run, map_index, task_id), STATE_STORE_PREFIX
    else:  # Airflow 3.2: in Variables
        prefix = ledger_key(run.dag_id, run.run_id, task_id, map_index)
        rows = {
            key: value
            for key, value in ledger_variables().items()
            if key == prefix or key.startswith(prefix + "/")
        }
    return DeliveryLedger(_Rows(rows), prefix, "").load()


def ledger_variables(run: DagRun | None = None, map_index: int = -1) -> dict[str, str]:
    """The ledger keys in Airflow Variables (where Airflow has no task state store): all of
    them, or those of the ``send`` task instance of ``run``."""
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(Variable).where(Variable.key.startswith(LEDGER_PREFIX)))
        found = {row.key: row.val for row in rows}
    if run is None:
        return found
    from airflow_provider_bulkdots.stores.ledger import ledger_key

    prefix = ledger_key(run.dag_id, run.run_id, "send", map_index)
    return {key: value for key, value in found.items() if key.split("/")[0] == prefix}


def _decoded(value: Any) -> Any:
    """An XCom's value; the operator's extra link is stored by Airflow as plain text."""
    if not isinstance(value, str | bytes):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value.decode() if isinstance(value, bytes) else value


def stored_task_ids(emu: Emulator) -> list[str]:
    """The emulator's stored task_ids, each once, in the order the requests arrived."""
    return list(dict.fromkeys(dot["task_id"] for dot in emu.dots()))
