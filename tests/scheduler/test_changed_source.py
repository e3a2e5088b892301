"""A PostgreSQL table that grows between a task's try 1 and its retry, through a real
scheduler (LocalExecutor, SQLite, :class:`tests.real_airflow.RealAirflow`) and a real
PostgreSQL server (:mod:`tests.sources.pg_server`): every dot is stored once on the emulator,
per device (issue 17.1, the dot record).

- Rows appended after try 1 delivered everything (and then failed): the bodies built at the
  end of the table change; their acknowledged dots are not sent again (matched by the record,
  or read back where the bodies were cut otherwise: one read per series at most).
- Rows of a late logger inserted over the whole span after try 1 failed mid-send (the API went
  down): every body changes; no dot try 1 stored is sent again.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.emulator import Emulator, Faults, start_emulator
from tests.real_airflow import RealAirflow
from tests.sources.pg_server import PostgresServer, running_postgres

HERE = Path(__file__).resolve().parent
TOKEN = "BBFF-changed-source-71d0"
T0 = 1_719_792_000_000  # 2024-07-01
INSTANTS = 400  # x 3 loggers x 2 variables = 2,400 dots, about 40 bodies of 4,000 bytes
VARIABLES = ("temperature", "humidity")

pytestmark = pytest.mark.timeout(1200)


def rows(loggers: list[str], first: int, count: int) -> list[tuple[int, str, float, float]]:
    """One row a minute per logger, for ``count`` minutes from minute ``first``."""
    return [
        (T0 + minute * 60_000, logger, round(20 + minute % 50 / 10, 1), 40.0 + minute % 17)
        for minute in range(first, first + count)
        for logger in loggers
    ]


def insert(server: PostgresServer, table: str, new: list[tuple[int, str, float, float]]) -> None:
    with server.connect() as connection, connection.cursor() as cursor:
        cursor.executemany(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", new)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        for table in ("changed_tail", "changed_middle"):
            with server.connect() as connection, connection.cursor() as cursor:
                cursor.execute(
                    f"CREATE TABLE {table} (time bigint NOT NULL, logger text NOT NULL, "
                    "temperature double precision, humidity double precision)"
                )
            insert(server, table, rows([f"{table}-{n}" for n in range(3)], 0, INSTANTS))
        yield server


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with start_emulator(token=TOKEN, rate_limit=0, max_body_bytes=4000) as emu:
        emu.set_visibility_delay(0.5)
        yield emu


@pytest.fixture(scope="module")
def airflow(
    emulator: Emulator, postgres: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealAirflow]:
    dags = tmp_path_factory.mktemp("dags")
    (dags / "changed_source_dags.py").write_text((HERE / "changed_source_dags.py").read_text())
    connection = {"conn_type": "bulkdots", "host": emulator.url, "password": TOKEN}
    env = {
        "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
        "AIRFLOW_CONN_READINGS_PG": postgres.uri,
        "AIRFLOW__BULKDOTS__RATE_STATE_DIR": str(tmp_path_factory.mktemp("rate")),
        "PYTHONPATH": str(HERE.parents[1]),
    }
    real = RealAirflow(Path(dags), env=env, home=tmp_path_factory.mktemp("airflow-home"))
    with real:
        for dag_id in ("changed_tail", "changed_middle"):
            real.wait_parsed(dag_id)
        yield real


def trigger(airflow: RealAirflow, dag_id: str) -> str:
    out = airflow.cli("dags", "trigger", dag_id, "-o", "json")
    listed = next(line for line in out.splitlines() if line.startswith("[{"))
    return str(json.loads(listed)[0]["dag_run_id"])


def ti_state(airflow: RealAirflow, dag_id: str, run_id: str) -> tuple[str | None, int]:
    found = airflow.query(
        "SELECT state, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
        dag_id,
        run_id,
    )
    return (found[0][0], int(found[0][1])) if found else (None, 0)


def run_state(airflow: RealAirflow, dag_id: str, run_id: str) -> str | None:
    found = airflow.query(
        "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id
    )
    return found[0][0] if found else None


def summary(airflow: RealAirflow, dag_id: str, run_id: str) -> dict[str, Any]:
    (value,) = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'summary'",
        dag_id,
        run_id,
    )[0]
    decoded = json.loads(value)
    return json.loads(decoded) if isinstance(decoded, str) else decoded


def stored(emu: Emulator, prefix: str) -> Counter[tuple[str, str, int]]:
    return Counter(
        (dot["device"], dot["variable"], dot["timestamp"])
        for dot in emu.dots()
        if dot["device"].startswith(prefix + "-")
    )


def expected(table: list[tuple[int, str, float, float]]) -> set[tuple[str, str, int]]:
    return {(logger, variable, time) for time, logger, _, _ in table for variable in VARIABLES}


def retry_after_change(airflow: RealAirflow, dag_id: str, change: Any, timeout: float = 300) -> str:
    """Trigger ``dag_id``; once try 1 failed, ``change()`` the table; wait for the end."""
    run_id = trigger(airflow, dag_id)
    airflow.wait_until(
        lambda: ti_state(airflow, dag_id, run_id)[0] == "up_for_retry",
        timeout=timeout,
        what=f"try 1 of {dag_id} to fail",
    )
    change()
    airflow.wait_until(
        lambda: run_state(airflow, dag_id, run_id) in ("success", "failed"),
        timeout=timeout,
        what=f"{dag_id} to end",
    )
    assert (run_state(airflow, dag_id, run_id), ti_state(airflow, dag_id, run_id)[1]) == (
        "success",
        2,
    ), airflow.task_logs(dag_id)[-5000:]
    return run_id


def test_rows_appended_after_a_delivered_try_are_the_only_dots_sent_again(
    airflow: RealAirflow, emulator: Emulator, postgres: PostgresServer
) -> None:
    loggers = [f"changed_tail-{n}" for n in range(3)]
    before = rows(loggers, 0, INSTANTS)
    appended = rows(loggers, INSTANTS, 50)
    sent_by_try_1: list[int] = []

    def grow() -> None:
        sent_by_try_1.append(sum(stored(emulator, "changed_tail").values()))
        insert(postgres, "changed_tail", appended)

    run_id = retry_after_change(airflow, "changed_tail", grow)

    dots = stored(emulator, "changed_tail")
    assert set(dots) == expected(before + appended)
    assert set(dots.values()) == {1}  # per device, per variable, per timestamp: once
    assert sent_by_try_1 == [len(expected(before))]
    retry = summary(airflow, "changed_tail", run_id)
    assert retry["dots_sent"] == len(expected(appended))
    # The old tail body's dots: those its changed successor holds exactly are matched without
    # a read; where the bodies were cut otherwise, the range is read back, one read a series.
    assert retry["acknowledged_dots_skipped"] > 0
    assert retry["ambiguous_dots_read_back"] < 3 * 2 * 50
    assert retry["read_requests"] <= 3 * 2
    assert "Input changed since an earlier try" in airflow.task_logs("changed_tail")


def test_a_late_logger_inserted_after_a_try_failed_mid_send_stores_every_dot_once(
    airflow: RealAirflow, emulator: Emulator, postgres: PostgresServer
) -> None:
    loggers = [f"changed_middle-{n}" for n in range(3)]
    before = rows(loggers, 0, INSTANTS)
    late = rows(["changed_middle-late"], 0, INSTANTS)  # ORDER BY time: in every body
    emulator.set_faults(Faults(down_after=12))
    sent_by_try_1: list[int] = []

    def insert_late_rows() -> None:
        sent_by_try_1.append(sum(stored(emulator, "changed_middle").values()))
        insert(postgres, "changed_middle", late)
        emulator.set_faults(Faults())

    run_id = retry_after_change(airflow, "changed_middle", insert_late_rows)

    dots = stored(emulator, "changed_middle")
    assert set(dots) == expected(before + late)
    assert set(dots.values()) == {1}
    (first,) = sent_by_try_1
    assert 0 < first < len(expected(before))
    retry = summary(airflow, "changed_middle", run_id)
    assert retry["dots_sent"] == len(expected(before + late)) - first
    assert retry["acknowledged_dots_skipped"] + retry["ambiguous_dots_read_back"] >= first
