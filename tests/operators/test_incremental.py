"""Incremental loads through real Airflow: an hourly DAG over a growing SQLite table sends each
reading once; watermarks live in the Ubidots asset's state store (or a Variable) and move
only over acknowledged bodies."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.dots import Body, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.stores.watermarks import (
    VariableWatermarks,
    Watermarks,
    WatermarkStore,
)
from tests.operators.dag_runs import register, xcoms

START = pendulum.datetime(2024, 6, 1, tz="UTC")
TARGET = "ubidots://emulator/pumps"
DEVICES = ("pump-a", "pump-b", "pump-c")


def _rows_of_hour(hour: int) -> list[tuple[Any, ...]]:
    """An hour of readings every 30 s, three pumps; flow is NULL on every 7th row."""
    base = START + dt.timedelta(hours=hour)
    rows = []
    for step in range(120):
        for index, device in enumerate(DEVICES):
            at = (base + dt.timedelta(seconds=30 * step)).isoformat()
            n = step * 3 + index
            rows.append((device, at, round(20 + n * 0.01, 2), None if n % 7 == 0 else n))
    return rows


class Table:
    """A SQLite table that grows an hour at a time, as a logger's database does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE readings (device TEXT, ts TEXT, temp REAL, flow INT)")
        connection.close()
        self.rows = 0
        self.readings = 0

    def add_hour(self, hour: int) -> None:
        rows = _rows_of_hour(hour)
        with sqlite3.connect(self.path) as connection:
            connection.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
        connection.close()
        self.rows += len(rows)
        self.readings += sum(2 if row[3] is not None else 1 for row in rows)


def _hourly_dag(dag_id: str, conn_id: str, **kwargs: Any) -> DAG:
    with DAG(dag_id, schedule="@hourly", start_date=START, catchup=False) as dag:
        BulkDotsOperator(
            task_id="send_new",
            sql_conn_id=conn_id,
            data="SELECT device, ts, temp, flow FROM readings ORDER BY ts, device",
            timestamp_column="ts",
            incremental=True,
            ubidots_asset=f"{TARGET}/{dag_id}",  # its own watermarks: tests stay independent
            max_body_bytes=2_000,
            retries=0,
            **kwargs,
        )
    register(dag)
    return dag


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Table:
    monkeypatch.setenv(
        "AIRFLOW_CONN_LOGGER_DB",
        json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "logger.db")}),
    )
    return Table(tmp_path / "logger.db")


def _run(dag: DAG, hour: int) -> tuple[str, dict[str, Any]]:
    run = dag.test(logical_date=START + dt.timedelta(hours=hour))
    summary = xcoms(run).get(("send_new", -1, "summary"), {})
    return run.state, summary


def _assert_each_reading_once(emu: Emulator, table: Table) -> None:
    stats = emu.stats()
    assert stats["dots"] == stats["unique_dots"] == table.readings
    assert stats["duplicates"] == 0
    counts = Counter((dot["device"], dot["variable"], dot["timestamp"]) for dot in emu.dots())
    assert max(counts.values()) == 1


def test_an_hourly_incremental_run_over_a_growing_table_stores_each_reading_once(
    conn: Emulator, table: Table
) -> None:
    dag = _hourly_dag("bulkdots_incremental_hourly", "logger_db")
    sent = []
    for hour in range(1, 4):
        table.add_hour(hour - 1)
        state, summary = _run(dag, hour)
        assert state == "success"
        sent.append(summary["rows_read"])
        _assert_each_reading_once(conn, table)

    state, summary = _run(dag, 4)  # nothing new: nothing sent

    assert state == "success"
    assert summary["rows_read"] == 0 and summary["requests"] == 0
    assert sent == [360, 360, 360]
    _assert_each_reading_once(conn, table)
    newest = int((START + dt.timedelta(hours=2, seconds=3570)).timestamp() * 1000)
    watermarks = _asset_state(f"{TARGET}/bulkdots_incremental_hourly")
    watermarks = watermarks["bulkdots_watermarks"]["variables"]
    assert watermarks["pump-b"] == {"temp": newest, "flow": newest}  # pump-a: flow NULL


def _asset_state(uri: str) -> dict[str, Any]:
    """The asset state store's keys and values for the asset ``uri``, from the metadata DB."""
    from airflow.models.asset import AssetModel
    from airflow.models.asset_state_store import AssetStateStoreModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetStateStoreModel.key, AssetStateStoreModel.value)
            .join(AssetModel, AssetStateStoreModel.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
        ).all()
        return {key: json.loads(value) for key, value in rows}


def test_the_fallback_keeps_watermarks_in_a_variable(conn: Emulator, table: Table) -> None:
    class WithoutAssetState(BulkDotsOperator):
        """As on Airflow before 3.3, where the context has no asset_state_store."""

        def watermarks(self, context: Any, options: ReshapeOptions) -> Any:
            return Watermarks(VariableWatermarks(TARGET + "/fallback"), options)

    with DAG("bulkdots_incremental_fallback", schedule="@hourly", start_date=START) as dag:
        WithoutAssetState(
            task_id="send_new",
            sql_conn_id="logger_db",
            data="SELECT device, ts, temp, flow FROM readings ORDER BY ts, device",
            timestamp_column="ts",
            incremental=True,
            ubidots_asset=TARGET + "/fallback",
        )
    register(dag)
    table.add_hour(0)
    assert _run(dag, 1)[0] == "success"
    table.add_hour(1)
    state, summary = _run(dag, 2)

    assert state == "success" and summary["rows_read"] == 360
    _assert_each_reading_once(conn, table)
    from airflow.models.variable import Variable

    stored = json.loads(Variable.get(VariableWatermarks(TARGET + "/fallback").key))
    newest = int((START + dt.timedelta(hours=1, seconds=3570)).timestamp() * 1000)
    assert stored["variables"]["pump-c"] == {"temp": newest, "flow": newest}


def test_a_failed_run_advances_only_over_acknowledged_bodies(conn: Emulator, table: Table) -> None:
    dag = _hourly_dag(
        "bulkdots_incremental_failure", "logger_db", max_in_flight=1, max_retries=0, reconcile=False
    )
    table.add_hour(0)
    conn.set_faults(Faults(down_after=5))  # five bodies stored, then no reply to anything

    state, _ = _run(dag, 1)
    assert state == "failed"
    assert 0 < conn.stats()["dots"] < table.readings
    conn.set_faults(Faults())
    table.add_hour(1)
    state, summary = _run(dag, 2)

    assert state == "success"
    _assert_each_reading_once(conn, table)
    assert summary["rows_read"] < 2 * 360


def test_a_run_failing_in_the_middle_leaves_a_gap_the_next_run_fills_alone(
    conn: Emulator, table: Table
) -> None:
    dag = _hourly_dag("bulkdots_incremental_gap", "logger_db")
    table.add_hour(0)
    assert _run(dag, 1)[0] == "success"
    table.add_hour(1)
    conn.set_faults(Faults(disabled_devices=("pump-b",)))  # 423 for pump-b all run long

    state, failed = _run(dag, 2)

    assert state == "failed"
    pump_b = sum(2 if row[3] is not None else 1 for row in _rows_of_hour(1) if row[0] == "pump-b")
    assert failed["quarantined_devices"] == {"pump-b": pump_b}
    conn.set_faults(Faults())
    table.add_hour(2)
    new = sum(2 if row[3] is not None else 1 for row in _rows_of_hour(2))

    state, summary = _run(dag, 3)

    assert state == "success"
    _assert_each_reading_once(conn, table)  # run 2's acknowledged readings not sent again
    assert summary["dots_sent"] == pump_b + new


class MemoryStore:
    def __init__(self) -> None:
        self.value: dict[str, Any] | None = None

    def load(self) -> dict[str, Any] | None:
        return self.value

    def save(self, value: dict[str, Any]) -> None:
        self.value = value


def _bodies(rows: list[dict[str, Any]], options: ReshapeOptions) -> list[Body]:
    return list(build_bodies(rows, options))


def test_a_gap_is_remembered_the_next_run_sends_only_it_and_what_is_new() -> None:
    options = ReshapeOptions(max_body_bytes=200)
    rows = [{"device": "d", "timestamp": 1_700_000_000_000 + n, "a": n, "b": -n} for n in range(40)]
    store: WatermarkStore = MemoryStore()
    marks = Watermarks(store, options)
    bodies = list(marks.track(iter(_bodies(list(marks.keep(iter(rows))), options))))
    assert len(bodies) > 4
    marks.save(body.seq for body in bodies[:2] + bodies[3:])  # the third body's reply never came

    # The watermark stops before the gap; the bodies acknowledged beyond it are remembered.
    assert store.load() is not None and "acknowledged" in store.load()  # type: ignore[operator]
    grown = [*rows, {"device": "d", "timestamp": 1_700_000_000_040, "a": 40, "b": -40}]
    again = Watermarks(store, options)
    resent = list(again.keep(iter(grown)))
    assert sum(len(row) - 2 for row in resent) == bodies[2].dot_count + 2  # the gap + the new
    # A run that sends them all, acknowledged, folds the spans into the watermark.
    again_bodies = list(again.track(iter(_bodies(resent, options))))
    again.save(body.seq for body in again_bodies)
    assert "acknowledged" not in store.load()  # type: ignore[operator]
    assert list(Watermarks(store, options).keep(iter(grown))) == []
