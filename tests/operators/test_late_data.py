"""Late data through real Airflow: ``incremental=True, lag=...`` over an hourly SQLite table.

Late rows inside the lag are stored once; late rows outside it are not sent; readings the API
already holds inside the late window are read back there (only there) and never sent again.
"""

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

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.planning.late import lag_ms
from tests.operators.dag_runs import register, xcoms

START = pendulum.datetime(2024, 7, 1, tz="UTC")
DEVICES = ("tank-a", "tank-b")
Reading = tuple[str, int]


def at(hour: int, minute: int) -> dt.datetime:
    return START + dt.timedelta(hours=hour, minutes=minute)


class Table:
    """The readings table of a logger whose uplink sometimes delivers rows late."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE readings (device TEXT, ts TEXT, level REAL)")
        connection.close()

    def add(self, rows: list[tuple[str, dt.datetime]]) -> None:
        values = [(device, moment.isoformat(), _level(device, moment)) for device, moment in rows]
        with sqlite3.connect(self.path) as connection:
            connection.executemany("INSERT INTO readings VALUES (?, ?, ?)", values)
        connection.close()

    def add_hour(self, hour: int) -> None:
        self.add([(device, at(hour, minute)) for minute in range(0, 60, 10) for device in DEVICES])


def _level(device: str, moment: dt.datetime) -> float:
    return round(moment.minute / 10 + moment.hour + (0.5 if device.endswith("b") else 0), 2)


def _key(device: str, moment: dt.datetime) -> Reading:
    return device, int(moment.timestamp() * 1000)


def stored(emu: Emulator) -> Counter[Reading]:
    return Counter((dot["device"], dot["timestamp"]) for dot in emu.dots())


@pytest.fixture
def table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Table:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TANK_DB", json.dumps({"conn_type": "sqlite", "host": str(tmp_path / "t.db")})
    )
    return Table(tmp_path / "t.db")


def _dag() -> DAG:
    with DAG("late_data_hourly", schedule="@hourly", start_date=START, catchup=False) as dag:
        BulkDotsOperator(
            task_id="send_new",
            sql_conn_id="tank_db",
            data="SELECT device, ts, level FROM readings ORDER BY ts, device",
            timestamp_column="ts",
            incremental=True,
            lag=dt.timedelta(hours=1),
            ubidots_asset="ubidots://emulator/tanks-late",
            max_body_bytes=400,
            retries=0,
        )
    register(dag)
    return dag


def _run(dag: DAG, hour: int) -> dict[str, Any]:
    run = dag.test(logical_date=START + dt.timedelta(hours=hour))
    assert run.state == "success"
    summary: dict[str, Any] = xcoms(run)[("send_new", -1, "summary")]
    return summary


def test_late_rows_inside_the_lag_are_stored_once_and_those_outside_never(
    conn: Emulator, table: Table
) -> None:
    dag = _dag()
    expected: set[Reading] = set()

    table.add_hour(0)
    expected |= {_key(d, at(0, m)) for m in range(0, 60, 10) for d in DEVICES}
    first = _run(dag, 1)
    assert first["dots_sent"] == 12 and first["read_requests"] == 0  # nothing late yet

    # Hour 1, with a late reading inside the lag (the mark is 00:50, the lag 1 h) and one
    # outside it (at or before 23:50 of the day before).
    table.add_hour(1)
    table.add([("tank-a", at(0, 15)), ("tank-b", at(-2, 0))])
    expected |= {_key(d, at(1, m)) for m in range(0, 60, 10) for d in DEVICES}
    expected.add(_key("tank-a", at(0, 15)))
    second = _run(dag, 2)
    assert stored(conn) == Counter(expected)
    assert second["dots_sent"] == 13  # the new hour and the late reading, nothing twice
    assert second["skipped_existing_dots"] == 12  # hour 0 is held: read back, left out
    assert second["read_requests"] == 2  # one read per series with late readings

    table.add_hour(2)
    table.add([("tank-b", at(1, 5)), ("tank-a", at(0, 20))])  # inside (mark 01:50); outside
    expected |= {_key(d, at(2, m)) for m in range(0, 60, 10) for d in DEVICES}
    expected.add(_key("tank-b", at(1, 5)))
    third = _run(dag, 3)
    assert stored(conn) == Counter(expected)
    assert third["dots_sent"] == 13

    fourth = _run(dag, 4)  # nothing new: the window is read, nothing sent
    assert fourth["dots_sent"] == 0 and fourth["bodies_sent"] == 0
    assert fourth["skipped_existing_dots"] == 12  # hour 2 (01:05 is now outside the lag)
    assert stored(conn) == Counter(expected)
    assert max(stored(conn).values()) == 1


def test_a_lag_is_a_duration_and_needs_incremental() -> None:
    assert lag_ms(dt.timedelta(minutes=5)) == 300_000
    assert lag_ms(pendulum.duration(hours=2)) == lag_ms("PT2H") == 7_200_000
    assert lag_ms(90) == 90_000 and lag_ms(None) == 0
    with pytest.raises(ConfigurationError, match="negative"):
        lag_ms(-1)
    with pytest.raises(ConfigurationError, match="lag"):
        lag_ms("two hours")
    operator = BulkDotsOperator(task_id="t", data=[], lag=60)
    with pytest.raises(ConfigurationError, match="lag needs incremental=True"):
        operator.watermarks({}, None)  # type: ignore[arg-type]
