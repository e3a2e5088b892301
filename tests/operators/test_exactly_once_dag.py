"""Exactly once through real Airflow (``dag.test()``, SQLite) against the emulator: lost replies
with a visibility delay, ``skip_existing`` after the source grew (another DAG run), and the
ledger in Airflow Variables where the task state store does not exist. A re-run of the same
task instance (a clear) needs a scheduler: ``tests/scheduler/test_kills.py``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_bulkdots.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.stores.ledger import ledger_key, ledger_location
from tests.operators.dag_runs import ledger_of, ledger_variables, register, task_instances, xcoms
from tests.operators.test_bulkdots_dag import (
    SMALL_BODIES,
    START,
    expected_dots,
    readings,
    retrying,
    run_of,
    single_task_dag,
    stored,
    write_rows,
)

DAY_1 = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
DAY_2 = dt.datetime(2024, 5, 2, tzinfo=dt.timezone.utc)


def test_ten_percent_lost_replies_with_a_visibility_delay_store_every_dot_once(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = readings(900, ["north", "south", "east"])
    data = write_rows(tmp_path / "readings.csv", rows)
    conn.set_visibility_delay(0.5)
    conn.set_faults(Faults(drop_response_rate=0.05, drop_request_rate=0.05, seed=11))
    dag = single_task_dag(
        "eo_lost_replies", data=str(data), max_body_bytes=SMALL_BODIES, reconcile_delay=0.7
    )

    run = dag.test()

    assert run.state == "success"
    assert stored(conn) == expected_dots(rows)  # 0 duplicates, 0 lost
    summary = xcoms(run)[("send", -1, "summary")]
    requests = conn.stats()["requests"]
    assert summary["reconciled_bodies"] > 0
    assert summary["resent_dots"] > 0 and requests["lost_before_store"] > 0
    assert summary["possible_duplicate_dots"] == 0


def test_skip_existing_after_the_source_grew_stores_nothing_twice(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = readings(300, ["north", "south"])
    data = write_rows(tmp_path / "readings.csv", rows)
    dag = single_task_dag(
        "eo_skip_existing", data=str(data), max_body_bytes=SMALL_BODIES, skip_existing=True
    )
    assert dag.test(logical_date=DAY_1).state == "success"
    grown = readings(450, ["north", "south"])
    write_rows(data, grown)  # the same file, 150 rows longer

    run = dag.test(logical_date=DAY_2)  # another DAG run: its own (empty) ledger

    assert run.state == "success"
    assert stored(conn) == expected_dots(grown)
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["skipped_existing_dots"] == 3 * len(rows)
    assert summary["dots_sent"] == 3 * (len(grown) - len(rows))
    assert summary["read_requests"] == 6  # one per series: 2 devices x 3 variables


class VariablesLedgerOperator(BulkDotsOperator):
    """As on Airflow 3.2: the context has no task state store."""

    def ledger_store(self, context: Any) -> Any:
        older = {key: value for key, value in context.items() if key != "task_state_store"}
        return ledger_location(older, self.ledger_retention_days)


def test_without_a_task_state_store_the_ledger_lives_in_variables(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = readings(200, ["station-a", "station-b", "station-c"])
    data = write_rows(tmp_path / "readings.csv", rows)
    seen: dict[str, Any] = {}

    def api_back(context: Any) -> None:
        seen["keys"] = set(ledger_variables(run_of(context["ti"])))
        conn.set_faults(Faults())

    with DAG(dag_id="eo_variables", schedule=None, start_date=START, catchup=False) as dag:
        VariablesLedgerOperator(task_id="send", **retrying(api_back, data=str(data)))
    register(dag)
    conn.set_faults(Faults(down_after=3))

    run = dag.test()

    assert run.state == "success"
    assert task_instances(run)[("send", -1)].try_number == 2
    assert seen["keys"]  # the failed try's ledger, in Variables
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["resumed_bodies"] == 3
    assert stored(conn) == expected_dots(rows)
    # Never deleted: marked complete.
    header = ledger_variables(run)[ledger_key(run.dag_id, run.run_id, "send", -1)]
    assert json.loads(header)["complete"] is True
    if AIRFLOW_V_3_3_PLUS:  # and nothing in the task state store
        assert ledger_of(run).finished == {}
