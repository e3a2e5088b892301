"""A resumed try talks: first what its ledger holds, then the read-back's own progress and its
cost, then the summary block, with no silence of a minute while it works (``dag.test()``
retries the task at once; the emulator closes connections after some requests in the first
try, so bodies in flight are whose reply was lost for the second)."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, xcoms
from tests.operators.test_bulkdots_dag import (
    START,
    expected_dots,
    readings,
    retrying,
    stored,
    write_rows,
)

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+)Z")


class TalkativeOperator(BulkDotsOperator):
    """Progress lines at every step (the hook's interval), so a short test sees them."""

    def make_hook(self) -> Any:
        hook = super().make_hook()
        hook.progress_interval = 0.0
        return hook


def _lines(log: str) -> list[tuple[dt.datetime, str]]:
    """The log's timestamped lines, in order."""
    found = []
    for line in log.splitlines():
        match = STAMP.match(line)
        if match:
            found.append((dt.datetime.fromisoformat(match.group(1)), line))
    return found


def _first(lines: list[tuple[dt.datetime, str]], text: str, after: int = 0) -> int:
    return next(n for n, (_, line) in enumerate(lines) if n >= after and text in line)


@pytest.mark.timeout(300)
def test_a_resumed_try_says_what_it_found_then_reads_back_with_progress_then_sums_up(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    rows = readings(600, ["north", "south"])
    data = write_rows(tmp_path / "readings.csv", rows)

    def api_back(context: Any) -> None:
        conn.set_faults(Faults())

    with DAG(dag_id="resume_talks", schedule=None, start_date=START, catchup=False) as dag:
        TalkativeOperator(
            task_id="send",
            **retrying(api_back, data=str(data), max_in_flight=4, reconcile_delay=0),
        )
    register(dag)
    conn.set_faults(Faults(down_after=6))
    capfd.readouterr()

    run = dag.test()

    assert run.state == "success"
    assert stored(conn) == expected_dots(rows)  # every dot once
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["reconciled_bodies"] >= 2
    lines = _lines(capfd.readouterr().out)
    second = _first(lines, "Resuming: an earlier try's ledger holds")
    # Not 100 % delivered while bodies whose reply was lost wait to be read back.
    held = _first(lines, "Delivered: ", second)
    assert "(100.0 %)" not in lines[held][1]
    assert re.search(
        r"holds \d+ bodies acknowledged .* and \d+ whose reply was lost", lines[second][1]
    )
    plan = _first(lines, "Reading back ", second)
    progress = _first(lines, "Reading back: ", plan)
    done = _first(lines, "Read back: ", progress)
    block = _first(lines, "Summary: what this try did", done)
    assert _first(lines, "Reconciled: ", block) == block + 3 + (summary["resumed_bodies"] > 0)
    # Each series read once over the spans that need it: 2 devices x 3 variables.
    assert "6 series reads" in lines[plan][1]
    assert re.search(r"Reading back: \d+/6 series reads \([\d.]+ %\)", lines[progress][1])
    # No minute of silence while the try works.
    times = [at for at, _ in lines[second:]]
    assert max(b - a for a, b in itertools.pairwise(times)) < dt.timedelta(seconds=60)
