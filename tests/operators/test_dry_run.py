"""``dry_run=True`` through real Airflow: the plan equals the real run's summary, 0 requests.

Each DAG is ``plan >> send`` on the same input; the plan task's callback reads the emulator's
request log the moment it finished, before ``send`` made any request.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, task_instances, xcoms

START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
SMALL_BODIES = 1_000


def readings(count: int) -> list[dict[str, Any]]:
    return [
        {
            "device": f"boiler-{index % 4}",
            "timestamp": (START + dt.timedelta(seconds=index)).isoformat(),
            "temperature": round(60 + index % 40 / 10, 2),
            "pressure": 2 + index % 9,
        }
        for index in range(count)
    ]


def requests_logged(emu: Emulator) -> int:
    """Every request the emulator saw: bulk writes and reads, the token check included."""
    return sum(requests for _, requests, _ in emu.api.store.request_timeline()[1])


def plan_then_send(dag_id: str, seen: list[int], emu: Emulator, **kwargs: Any) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        plan = BulkDotsOperator(
            task_id="plan",
            dry_run=True,
            shared_by=2,
            on_success_callback=lambda context: seen.append(requests_logged(emu)),
            **kwargs,
        )
        send = BulkDotsOperator(task_id="send", **kwargs)
        plan >> send
    register(dag)
    return dag


def _sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, Any]]:
    rows = readings(400)
    csv_path = tmp_path / "readings.csv"
    pd.DataFrame(rows).to_csv(csv_path, index=False)
    parquet_path = tmp_path / "readings.parquet"
    pd.DataFrame(rows).to_parquet(parquet_path)
    db = tmp_path / "plant.db"
    with sqlite3.connect(db) as connection:
        connection.execute("CREATE TABLE r (device TEXT, timestamp TEXT, temperature REAL, p INT)")
        connection.executemany(
            "INSERT INTO r VALUES (?, ?, ?, ?)", [tuple(row.values()) for row in rows]
        )
    connection.close()
    monkeypatch.setenv(
        "AIRFLOW_CONN_PLANT_DB", json.dumps({"conn_type": "sqlite", "host": str(db)})
    )
    return {
        "list": {"data": rows},
        "csv": {"data": str(csv_path)},
        "parquet": {"data": str(parquet_path)},
        "sql": {"data": "SELECT * FROM r ORDER BY timestamp", "sql_conn_id": "plant_db"},
    }


@pytest.mark.parametrize("source", ["list", "csv", "parquet", "sql"])
def test_the_plan_equals_the_real_run_and_makes_no_request(
    conn: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str
) -> None:
    seen: list[int] = []
    kwargs = _sources(tmp_path, monkeypatch)[source]
    dag = plan_then_send(f"dry_run_{source}", seen, conn, max_body_bytes=SMALL_BODIES, **kwargs)

    run = dag.test()

    assert run.state == "success"
    assert seen == [0]  # the plan task made no request at all
    found = xcoms(run)
    plan, summary = found[("plan", -1, "plan")], found[("send", -1, "summary")]
    assert ("plan", -1, "summary") not in found
    assert plan["bodies"] > 10
    for key in ("dots", "bodies", "bytes"):
        assert plan[key] == summary[key], key
    assert plan["rows"] == summary["rows_read"] == 400
    assert plan["requests"] == summary["requests"]  # no retry, no split here: the minimum
    assert (plan["devices"], plan["variables"], plan["series"]) == (4, 2, 8)
    assert plan["start"] == "2024-03-01T00:00:00.000Z"
    assert plan["end"] == "2024-03-01T00:06:39.000Z"
    assert plan["shared_by"] == 2
    assert conn.stats()["dots"] == summary["dots_sent"] == plan["dots"]


def test_a_plan_of_an_input_that_would_fail_fails_after_pushing_the_plan(
    conn: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = readings(30)
    rows[4]["temperature"] = "hot"
    with DAG("dry_run_invalid", schedule=None, start_date=START, catchup=False) as dag:
        BulkDotsOperator(task_id="plan", data=rows, dry_run=True, retries=0)
    register(dag)

    run = dag.test()

    assert task_instances(run)[("plan", -1)].state == "failed"
    plan = xcoms(run)[("plan", -1, "plan")]
    assert plan["would_fail"] and plan["invalid_rows"] == plan["rejected_rows"] == 1
    assert plan["invalid_reasons"][0].startswith("row 5, field 'temperature', value 'hot'")
    assert requests_logged(conn) == 0
    assert "Plan: 1 invalid row(s) (the run would fail, sending nothing)" in capfd.readouterr().out
