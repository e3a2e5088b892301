"""Dots the API refused, through real Airflow: logged once, in the rejected file beside the
invalid rows (same keys, told apart by ``kind``), and failing the task without a retry only
when ``on_invalid="fail"``.

The emulator answers the first two requests 400: the sender splits the one body until the
first dot is alone, reports it, and sends the rest.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.stores.rejected import REJECTED_FIELDS
from tests.operators.dag_runs import register, task_instances, xcoms

START = dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
ROWS = [
    {
        "device": "press-1",
        "timestamp": "2024-05-01T00:00:00+00:00",
        "temperature": 21.5,
        "rpm": 900,
    },
    {
        "device": "press-1",
        "timestamp": "2024-05-01T00:00:01+00:00",
        "temperature": "hot",
        "rpm": 910,
    },
]


def run_refusing_first_dot(
    dag_id: str, emu: Emulator, tmp_path: Path, on_invalid: str, rows: list[dict[str, Any]]
) -> tuple[Any, Path, list[Any]]:
    """Run one task over ``rows`` while the API refuses the first dot; the run, the rejected
    file and the retries Airflow started."""
    rejected = tmp_path / "rejected.jsonl"
    retried: list[Any] = []
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        BulkDotsOperator(
            task_id="send",
            data=rows,
            on_invalid=on_invalid,
            rejected_path=str(rejected),
            retries=1,
            retry_delay=dt.timedelta(0),
            on_retry_callback=retried.append,
        )
    register(dag)
    emu.fail_next(2, 400)
    return dag.test(), rejected, retried


def test_refused_dots_fail_the_task_without_retry_when_asked_to_fail(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Fail mode would refuse the whole input for an invalid row: only the valid one here.
    run, rejected, retried = run_refusing_first_dot(
        "op_api_refused_fail", conn, tmp_path, "fail", ROWS[:1]
    )

    assert run.state == "failed"
    assert retried == [], "a retry could not change the API's mind"
    assert task_instances(run)[("send", -1)].try_number == 1
    out = capfd.readouterr().out
    assert "the API refused 1 dot(s); every other dot was stored" in out
    assert out.count("The API refused a dot: press-1/") == 1, "logged once"
    stored = [(d["device"], d["variable"]) for d in conn.dots()]
    assert stored == [("press-1", "rpm")]
    summary = xcoms(run)[("send", -1, "summary")]
    assert (summary["refused_dots"], summary["dots_sent"]) == (1, 1)
    (line,) = [json.loads(text) for text in rejected.read_text().splitlines()]
    assert line["kind"] == "refused_by_api"
    assert (line["device"], line["variable"], line["timestamp"]) == (
        "press-1",
        "temperature",
        1714521600000,
    )
    assert line["rule"].startswith("refused by the API: Injected fault")


def test_refused_dots_beside_invalid_rows_in_one_schema_when_skipping(
    conn: Emulator, tmp_path: Path
) -> None:
    run, rejected, retried = run_refusing_first_dot(
        "op_api_refused_skip", conn, tmp_path, "skip", ROWS
    )

    assert run.state == "success"
    assert retried == []
    lines = [json.loads(text) for text in rejected.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["invalid_row", "refused_by_api"]
    assert all(tuple(line) == REJECTED_FIELDS for line in lines), "one schema for both kinds"
    invalid, refused = lines
    assert (invalid["row"], invalid["field"], invalid["value"]) == (2, "temperature", "'hot'")
    assert invalid["rule"].startswith("must be a number")
    assert (refused["row"], refused["variable"], refused["value"]) == (None, "temperature", "21.5")
    summary = xcoms(run)[("send", -1, "summary")]
    assert (summary["invalid_rows"], summary["refused_dots"]) == (1, 1)
    assert summary["dots_sent"] == 1  # the first row's rpm; the second row was invalid
