"""The operator with the token's shared pace: a long wait asked by the API defers the task
(``dag.test()`` runs the trigger in line) and it resumes from its ledger; progress lines give
done/total, percent and ETA; the token's pace is shared across tasks through its state file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from airflow_provider_bulkdots.delivery.pacing.token import pacer_key
from airflow_provider_bulkdots.emulator import Emulator, Faults
from tests.operators.dag_runs import set_connection, xcoms
from tests.operators.test_bulkdots_dag import (
    SMALL_BODIES,
    expected_dots,
    readings,
    single_task_dag,
    stored,
    write_rows,
)


def test_a_long_retry_after_defers_and_the_task_resumes_from_its_ledger(
    conn: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = readings(90, ["greenhouse-1"])
    dag = single_task_dag(
        "op_defer_long_wait",
        data=rows,
        max_body_bytes=SMALL_BODIES,
        max_in_flight=1,
        defer_threshold=1,
        reconcile_delay=0,
    )
    # The API asks for a 3-second wait, over the threshold: the task defers, the trigger
    # waits (in line under dag.test()), and a new execution resumes from the ledger.
    conn.set_faults(Faults(burst_429=1, burst_retry_after=3))
    capfd.readouterr()
    run = dag.test()

    assert run.state == "success"
    log = capfd.readouterr().out
    assert log.count("The API asked to wait 3 s: deferring to the triggerer") == 1
    assert log.count("The wait is over: resuming the delivery from the ledger.") == 1
    assert stored(conn) == expected_dots(rows)  # every dot once
    assert conn.stats()["requests"]["429"] == 1
    # The bodies intended before the wait were never stored (429 only): their intents were
    # withdrawn, so the resumed execution sent them without reading the API back.
    assert xcoms(run)[("send", -1, "summary")]["read_requests"] == 0


def test_waits_under_the_threshold_are_spent_in_place(
    conn: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = readings(60, ["greenhouse-1"])
    dag = single_task_dag(
        "op_wait_in_place", data=rows, max_body_bytes=SMALL_BODIES, defer_threshold=60
    )
    conn.set_faults(Faults(burst_429=1, burst_retry_after=1))
    capfd.readouterr()
    run = dag.test()
    assert run.state == "success"
    assert "deferring" not in capfd.readouterr().out
    assert xcoms(run)[("send", -1, "summary")]["throttled"] == 1
    assert stored(conn) == expected_dots(rows)


def test_progress_lines_give_done_total_and_the_held_ratio(
    conn: Emulator,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = readings(200, ["greenhouse-1", "greenhouse-2"])
    data = write_rows(tmp_path / "readings.csv", rows)
    size = data.stat().st_size
    dag = single_task_dag("op_progress", data=str(data), max_body_bytes=SMALL_BODIES)
    capfd.readouterr()
    assert dag.test().state == "success"
    log = capfd.readouterr().out
    assert f"Delivered: {size:,}/{size:,} bytes (100.0 %), ETA 0 s;" in log
    assert "requests/s (no limit); 0 throttled, 0 retried." in log

    dag = single_task_dag("op_progress_rows", data=rows, max_body_bytes=SMALL_BODIES)
    set_connection(monkeypatch, conn, rate_limit=50)
    assert dag.test().state == "success"
    log = capfd.readouterr().out
    assert "Delivered: 200/200 rows (100.0 %)" in log
    assert "against a limit of 50/s" in log and "held " in log


def test_the_token_pace_is_kept_in_a_file_named_by_a_hash(
    conn: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, conn, rate_limit=50)
    dag = single_task_dag("op_pace_file", data=readings(30, ["g"]), max_body_bytes=SMALL_BODIES)
    assert dag.test().state == "success"
    state_dir = Path(os.environ["AIRFLOW__BULKDOTS__RATE_STATE_DIR"])
    state = json.loads((state_dir / f"{pacer_key(conn.url, conn.token)}.json").read_text())
    assert state["turns"] >= conn.stats()["requests"]["200"]
    assert all(conn.token not in path.read_text() for path in state_dir.iterdir())
