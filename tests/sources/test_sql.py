"""The SQL source against real databases: a PostgreSQL server started for this module, and
SQLite files. Rows are streamed, parameters are passed to the driver, and database types are
read by the same rules as a list of rows."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.sources.sql import open_sql
from tests.dots.helpers import decode_dots
from tests.operators.dag_runs import migrate_db, register, set_connection, xcoms
from tests.sources.pg_server import PostgresServer, running_postgres

UTC = dt.timezone.utc
DAY = dt.datetime(2024, 1, 1, tzinfo=UTC)
BIG_ROWS = 200_000


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        with server.connect() as connection, connection.cursor() as cursor:
            cursor.execute(
                """
                CREATE TABLE readings (
                    device text NOT NULL,
                    ts timestamptz NOT NULL,
                    local_ts timestamp NOT NULL,
                    temperature numeric(6, 2),
                    humidity double precision,
                    door_open boolean,
                    site text
                );
                -- 200,000 rows inside 2024-01-01 (UTC), 0.4 s apart, over 20 devices;
                -- humidity NULL on every 10th row; 100 more rows on either side of the day.
                INSERT INTO readings
                SELECT 'pump-' || (n % 20), at, at AT TIME ZONE 'UTC',
                       round((n % 1000) / 7.0, 2),
                       CASE WHEN n % 10 = 0 THEN NULL ELSE (n % 97) * 0.5 END,
                       n % 3 = 0,
                       'north'
                FROM (
                    SELECT n, CASE WHEN n < 200000
                        THEN timestamptz '2024-01-01 00:00:00+00' + n * interval '400 ms'
                        ELSE timestamptz '2024-01-02 00:00:00+00' + n * interval '1 s' END AS at
                    FROM generate_series(-100, 200099) AS n
                ) AS instants;
                """
            )
        yield server


@pytest.fixture
def pg_conn(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AIRFLOW_CONN_READINGS_PG", postgres.uri)
    return "readings_pg"


def _bodies(rows: Any, options: ReshapeOptions) -> list[bytes]:
    return [body.payload for body in build_bodies(rows, options)]


def test_postgres_types_are_read_like_a_list_of_the_same_values(pg_conn: str) -> None:
    query = (
        "SELECT device, ts, local_ts, temperature, humidity, door_open FROM readings "
        "WHERE ts < %(end)s ORDER BY ts, device"
    )
    dataset = open_sql(query, pg_conn, {"end": "2024-01-01T00:00:04Z"}, batch_rows=7)
    rows = list(dataset.rows())
    start = DAY - dt.timedelta(seconds=40)
    expected_first = {
        "device": "pump-0",
        "ts": start,
        "local_ts": start.replace(tzinfo=None),
        "temperature": Decimal("-14.29"),
        "humidity": None,
        "door_open": False,
    }
    assert len(rows) == 110
    assert rows[0] == expected_first
    options = ReshapeOptions(
        timestamp_column="ts", variables=["temperature", "humidity", "door_open"]
    )
    dots = decode_dots(_bodies(rows, options))
    # numeric -14.29 as a number, NULL left out, false as 0, timestamptz to epoch ms
    first_ms = int(start.timestamp() * 1000)
    assert ("pump-0", "temperature", first_ms, -14.29, None) in dots
    assert ("pump-0", "door_open", first_ms, 0, None) in dots
    assert not [dot for dot in dots if dot[:3] == ("pump-0", "humidity", first_ms)]
    assert ("pump-1", "door_open", first_ms + 400, 1, None) not in dots  # -99 % 3 != 0
    # a naive timestamp column is read in the task's timezone, as naive datetimes are
    in_utc = ReshapeOptions(timestamp_column="local_ts", variables=["temperature"])
    in_utc_ts = ReshapeOptions(timestamp_column="ts", variables=["temperature"])
    assert _bodies(rows, in_utc) == _bodies(rows, in_utc_ts)
    berlin = ReshapeOptions(
        timestamp_column="local_ts", variables=["temperature"], timezone="Europe/Berlin"
    )
    assert decode_dots(_bodies(rows, berlin))[0][2] == first_ms - 3_600_000


def test_parameters_are_passed_to_the_driver_never_formatted_into_the_sql(
    pg_conn: str, postgres: PostgresServer
) -> None:
    hostile = "pump-1'; DROP TABLE readings; --"
    dataset = open_sql(
        "SELECT * FROM readings WHERE device = %(device)s", pg_conn, {"device": hostile}
    )

    assert list(dataset.rows()) == []
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM readings")
        assert cursor.fetchone() == (BIG_ROWS + 200,)


def _peak_while_streaming(conn_id: str, rows: int) -> tuple[int, int]:
    dataset = open_sql(
        "SELECT device, ts, temperature FROM readings ORDER BY ts LIMIT %(rows)s",
        conn_id,
        {"rows": rows},
        batch_rows=2_000,
    )
    tracemalloc.start()
    try:
        count = sum(1 for _ in dataset.rows())
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_rows_are_streamed_by_a_server_side_cursor_memory_stays_flat(pg_conn: str) -> None:
    count, peak = _peak_while_streaming(pg_conn, 20_000)
    count_10x, peak_10x = _peak_while_streaming(pg_conn, 200_000)

    assert (count, count_10x) == (20_000, 200_000)
    assert peak_10x < peak * 1.5, (peak, peak_10x)


def test_a_connection_that_is_not_a_database_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_NOT_A_DB", json.dumps({"conn_type": "bulkdots", "host": "http://127.0.0.1:1"})
    )

    with pytest.raises(ConfigurationError, match="not a DbApiHook"):
        open_sql("SELECT 1", "not_a_db")


def _sqlite_file(path: Path, rows: list[tuple[Any, ...]]) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE readings (device TEXT, ts TEXT, temperature REAL, count INTEGER)"
        )
        connection.executemany("INSERT INTO readings VALUES (?, ?, ?, ?)", rows)
    connection.close()
    return path


def _sqlite_conn(database: Path) -> str:
    return json.dumps({"conn_type": "sqlite", "host": str(database)})


def test_sqlite_rows_give_the_bodies_of_the_same_list(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        (
            f"tank-{n % 3}",
            f"2024-05-01T10:{n // 60:02d}:{n % 60:02d}+02:00",
            None if n % 4 == 0 else n * 0.25,
            n,
        )
        for n in range(300)
    ]
    database = _sqlite_file(tmp_path / "readings.db", rows)
    monkeypatch.setenv("AIRFLOW_CONN_READINGS_SQLITE", _sqlite_conn(database))
    options = ReshapeOptions(timestamp_column="ts", max_body_bytes=800)

    dataset = open_sql(
        "SELECT device, ts, temperature, count FROM readings WHERE count >= :low ORDER BY rowid",
        "readings_sqlite",
        {"low": 10},
        batch_rows=32,
    )
    as_list = [
        dict(zip(("device", "ts", "temperature", "count"), row, strict=True)) for row in rows[10:]
    ]

    assert _bodies(dataset.rows(), options) == _bodies(as_list, options)


def test_the_query_must_name_each_column_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = _sqlite_file(tmp_path / "r.db", [("a", "2024-01-01T00:00:00Z", 1.0, 1)])
    monkeypatch.setenv("AIRFLOW_CONN_R_SQLITE", _sqlite_conn(database))

    with pytest.raises(ConfigurationError, match="repeated column names"):
        list(open_sql("SELECT device, ts, count AS ts FROM readings", "r_sqlite").rows())


def test_a_day_of_a_200k_row_postgres_table_is_stored_exactly_once(
    pg_conn: str, emu: Emulator, monkeypatch: pytest.MonkeyPatch, postgres: PostgresServer
) -> None:
    migrate_db()
    set_connection(monkeypatch, emu, rate_limit=0, max_in_flight=4)
    with DAG(
        "bulkdots_sql_day",
        schedule="@daily",
        start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
        catchup=False,
    ) as dag:
        BulkDotsOperator(
            task_id="send_day",
            sql_conn_id=pg_conn,
            data=(
                "SELECT device, ts, temperature, humidity, site FROM readings "
                "WHERE ts >= %(start)s AND ts < %(end)s ORDER BY ts, device"
            ),
            sql_parameters={"start": "{{ data_interval_start }}", "end": "{{ data_interval_end }}"},
            timestamp_column="ts",
            context_columns=["site"],
        )
    register(dag)

    # the run of 2024-01-02 covers 2024-01-01 (its data interval)
    run = dag.test(logical_date=pendulum.datetime(2024, 1, 2, tz="UTC"))

    assert run.state == "success"
    summary = xcoms(run)[("send_day", -1, "summary")]
    stats = emu.stats()
    expected_dots = BIG_ROWS * 2 - BIG_ROWS // 10
    assert summary["rows_read"] == BIG_ROWS
    assert summary["missing_readings"] == BIG_ROWS // 10
    assert summary["dots_sent"] == stats["dots"] == stats["unique_dots"] == expected_dots
    assert stats["duplicates"] == 0
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(temperature), sum(humidity) FROM readings "
            "WHERE ts >= '2024-01-01' AND ts < '2024-01-02'"
        )
        temperature, humidity = cursor.fetchone()
        cursor.execute(
            "SELECT min(ts), max(ts) FROM readings WHERE ts >= '2024-01-01' AND ts < '2024-01-02'"
        )
        first, last = cursor.fetchone()
    dots = emu.dots()
    sums: Counter[str] = Counter()
    for dot in dots:
        sums[dot["variable"]] += dot["value"]
    assert sums["temperature"] == pytest.approx(float(temperature))
    assert sums["humidity"] == pytest.approx(humidity)
    stamps = [dot["timestamp"] for dot in dots]
    assert (min(stamps), max(stamps)) == (
        int(first.timestamp() * 1000),
        int(last.timestamp() * 1000),
    )
    assert all(dot["context"] == {"site": "north"} for dot in dots[:1000])
