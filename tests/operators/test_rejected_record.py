"""The rejected file as a record across tries, through real Airflow (``dag.test()`` runs the
retry in the same DAG run): no try erases an earlier one's lines, ``on_invalid="fail"`` fails
also for dots the API refused in an earlier try, and a path that cannot be written fails the
task before the first request."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.emulator import Emulator, Faults
from tests.operators.dag_runs import task_instances, xcoms
from tests.operators.test_bulkdots_dag import (
    expected_dots,
    readings,
    retrying,
    single_task_dag,
    stored,
    write_rows,
)

# The first reading of odd-1's temperature (2024-03-01T00:00:00Z).
T = 1_709_251_200_000
REFUSED = Faults(not_saved=("odd-1/temperature@1709251200000",))


def test_a_dot_refused_in_try_1_is_kept_in_the_file_and_fails_try_2(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # odd-1's rows first, so its bodies fill and go out first; the API refuses one dot of it.
    rows = [*readings(30, ["odd-1"]), *readings(200, ["station-a", "station-b"])[30:]]
    data = write_rows(tmp_path / "readings.csv", rows)
    rejected = tmp_path / "rejected.jsonl"

    def api_back(context: Any) -> None:
        conn.set_faults(REFUSED)  # the API is back; the dot is still refused

    dag = single_task_dag(
        "op_rejected_across_tries",
        **retrying(api_back, data=str(data), on_invalid="fail", rejected_path=str(rejected)),
    )
    conn.set_faults(Faults(not_saved=REFUSED.not_saved, down_after=20))

    run = dag.test()

    assert run.state == "failed"
    assert task_instances(run)[("send", -1)].try_number == 2
    out = capfd.readouterr().out
    assert "the API refused 1 dot(s) in an earlier try of this task" in out
    # Try 1 wrote the refused dot; try 2 skipped its finished body and erased nothing.
    lines = [json.loads(text) for text in rejected.read_text().splitlines()]
    assert [(line["kind"], line["variable"], line["try_number"]) for line in lines] == [
        ("refused_by_api", "temperature", 1)
    ]
    assert stat.S_IMODE(rejected.stat().st_mode) == 0o600
    expected = expected_dots(rows)
    del expected[next(dot for dot in expected if dot[:3] == ("odd-1", "temperature", T))]
    assert stored(conn) == expected  # every other dot once
    assert xcoms(run)[("send", -1, "summary")]["resumed_bodies"] > 0


def test_a_rejected_path_that_is_a_directory_fails_before_any_request(
    conn: Emulator, tmp_path: Path
) -> None:
    data = write_rows(tmp_path / "readings.csv", readings(50, ["station-a"]))
    dag = single_task_dag("op_rejected_dir", data=str(data), rejected_path=str(tmp_path))

    run = dag.test()

    assert run.state == "failed"
    assert conn.stats()["requests"] == {}
    assert xcoms(run)[("send", -1, "summary")]["requests"] == 0


def test_a_symlink_at_rejected_path_is_refused(conn: Emulator, tmp_path: Path) -> None:
    data = write_rows(tmp_path / "readings.csv", readings(50, ["station-a"]))
    victim = tmp_path / "victim"
    victim.write_text("keep\n")
    (tmp_path / "rejected.jsonl").symlink_to(victim)
    dag = single_task_dag(
        "op_rejected_symlink", data=str(data), rejected_path=str(tmp_path / "rejected.jsonl")
    )

    run = dag.test()

    assert run.state == "failed"
    assert conn.stats()["requests"] == {}
    assert victim.read_text() == "keep\n"
