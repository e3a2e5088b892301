"""The task log as a user reads it in the Airflow UI: a real scheduler runs a load with one
invalid row; the log page shows the summary block, one fact per line (the screenshot in the
docs is taken here: BULKDOTS_SCREENSHOT_DIR=docs/img)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.emulator import Emulator, start_emulator
from tests.real_airflow import RealAirflow

TOKEN = "BBFF-task-log-test-51c9e2"
DAG_ID = "bulkdots_task_log"

DAG_FILE = """
import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

ROWS = [
    {"device": f"logger-{i %% 3}", "timestamp": 1_700_000_000_000 + i * 1000,
     "temperature": round(15 + i %% 40 / 10, 1), "humidity": 40 + i %% 30}
    for i in range(900)
]
ROWS[41]["temperature"] = "warm"

with DAG(
    dag_id="%(dag_id)s",
    schedule="@once",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
):
    BulkDotsOperator(
        task_id="send",
        data=ROWS,
        on_invalid="skip",
        rejected_path="%(rejected)s",
    )
"""

SUMMARY_LINES = (
    "Summary: what this try did",
    "Read: 900 rows -> 1,798 dots in",
    "Sent: 1,798 dots in",
    "Uncertain: nothing (every body's outcome is known).",
    "Invalid: 1 row left out, written to",
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with start_emulator(token=TOKEN, rate_limit=20) as emu:
        yield emu


@pytest.fixture(scope="module")
def airflow(
    browser: Any, emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealAirflow]:
    dags = tmp_path_factory.mktemp("dags")
    rejected = tmp_path_factory.mktemp("rejected") / "rejected.jsonl"
    (dags / f"{DAG_ID}.py").write_text(DAG_FILE % {"dag_id": DAG_ID, "rejected": rejected})
    connection = {
        "conn_type": "bulkdots",
        "host": emulator.url,
        "password": TOKEN,
        "extra": {"rate_limit": 20},
    }
    env = {
        "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
        "AIRFLOW__BULKDOTS__RATE_STATE_DIR": str(tmp_path_factory.mktemp("rate")),
    }
    real = RealAirflow(Path(dags), env=env, home=tmp_path_factory.mktemp("airflow-home"))
    with real:
        yield real


@pytest.mark.timeout(600)
def test_the_task_log_in_the_ui_shows_the_summary_block(
    airflow: RealAirflow, page: Any, screenshot_dir: Path
) -> None:
    def finished() -> bool:
        states = list(airflow.task_states(DAG_ID).values())
        return bool(states) and states[0] in ("success", "failed")

    airflow.wait_until(finished, timeout=300, what="the task to finish")
    assert list(airflow.task_states(DAG_ID).values()) == ["success"], airflow.task_logs(DAG_ID)
    ((run_id,),) = airflow.query("SELECT run_id FROM dag_run WHERE dag_id = ?", DAG_ID)

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"http://127.0.0.1:{airflow.port}/dags/{DAG_ID}/runs/{run_id}/tasks/send")
    for text in SUMMARY_LINES:
        page.get_by_text(text).first.wait_for(timeout=60_000)
    assert TOKEN not in page.content()
    summary = page.get_by_text(SUMMARY_LINES[0]).first
    summary.scroll_into_view_if_needed()
    page.screenshot(path=str(screenshot_dir / "task-log-summary.png"))
