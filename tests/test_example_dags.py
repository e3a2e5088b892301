"""Every example DAG, run through real Airflow (``dag.test()`` on SQLite) against the emulator."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.stores.summary import SUMMARY_KEYS
from tests.operators.dag_runs import (
    EXAMPLE_DAGS,
    example_dags,
    ledger_of,
    migrate_db,
    set_connection,
    stored_task_ids,
    task_instances,
    xcoms,
)

DATA = EXAMPLE_DAGS / "data"


@pytest.fixture(scope="module")
def dags() -> dict[str, DAG]:
    migrate_db()
    return example_dags()


@pytest.fixture
def emu(bulkdots_emulator_clean: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """The plugin's session emulator, empty; one request in flight so arrival = send order."""
    set_connection(monkeypatch, bulkdots_emulator_clean, rate_limit=0, max_in_flight=1)
    yield bulkdots_emulator_clean


def sample_rows(day: str) -> list[dict[str, str]]:
    with (DATA / f"logger_{day}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_every_example_dag_parses(dags: dict[str, DAG]) -> None:
    assert set(dags) == {
        "bulkdots_asset_triggered",
        "bulkdots_daily_backfill",
        "bulkdots_etl_taskflow",
        "bulkdots_fan_out",
        "bulkdots_plan_load_check",
        "bulkdots_taskflow_hook",
    }
    assert {path.stem for path in EXAMPLE_DAGS.glob("*.py")} == set(dags)


def test_daily_backfill_sends_the_day_and_reports_it(
    dags: dict[str, DAG], emu: Emulator, tmp_path: Path
) -> None:
    run = dags["bulkdots_daily_backfill"].test(
        logical_date=pendulum.datetime(2024, 1, 2, tz="UTC"),
        run_conf={"rejected_dir": str(tmp_path)},
    )

    assert run.state == "success"
    values = xcoms(run)
    task_ids = values[("send_logger_day", -1, "return_value")]
    summary = values[("send_logger_day", -1, "summary")]
    stats = emu.stats()
    # One task_id per acknowledged request, in send order (one request in flight at a time).
    assert task_ids == stored_task_ids(emu)
    assert len(task_ids) == len(set(task_ids)) == stats["requests"]["200"] == summary["requests"]
    assert list(summary)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    rows = sample_rows("20240102")
    readings = sum(1 for row in rows for name in row if name not in ("time", "logger"))
    assert summary["rows_read"] == len(rows)
    assert summary["dots_sent"] == stats["dots"] == stats["unique_dots"]
    assert summary["dots_sent"] + summary["missing_readings"] == readings
    assert summary["bytes_sent"] == summary["bytes"]
    assert summary["retries"] == summary["resumed_bodies"] == 0
    assert summary["possible_duplicate_dots"] == 0
    assert summary["seconds"] > 0
    rejected = tmp_path / "bulkdots_daily_backfill" / "20240102.jsonl"
    assert rejected.exists() == (summary["invalid_rows"] > 0)


def test_etl_taskflow_loads_the_transformed_rows(dags: dict[str, DAG], emu: Emulator) -> None:
    run = dags["bulkdots_etl_taskflow"].test()

    assert run.state == "success"
    assert {task for task, _ in task_instances(run)} == {"extract", "transform", "load"}
    values = xcoms(run)
    cleaned = values[("transform", -1, "return_value")]
    assert cleaned and all(row["device"].startswith("greenhouse") for row in cleaned)
    summary = values[("load", -1, "summary")]
    dots = emu.dots()
    readings = Counter(
        name for row in cleaned for name in ("temperature_f", "humidity") if row[name] != ""
    )
    assert Counter(dot["variable"] for dot in dots) == readings
    assert len(dots) == summary["dots_sent"] == 2 * len(cleaned) - summary["missing_readings"]
    assert {dot["device"] for dot in dots} == {"greenhouse-north", "greenhouse-south"}
    assert all(dot["context"] == {"site": "north-farm"} for dot in dots)
    first = cleaned[0]
    stored = next(
        dot
        for dot in dots
        if dot["device"] == first["device"] and dot["variable"] == "temperature_f"
    )
    assert stored["value"] == first["temperature_f"]
    assert values[("load", -1, "return_value")] == stored_task_ids(emu)


def test_taskflow_hook_delivers_once_with_the_ledger_in_the_task_state_store(
    dags: dict[str, DAG], emu: Emulator
) -> None:
    run = dags["bulkdots_taskflow_hook"].test()

    assert run.state == "success"
    result = xcoms(run)[("load_day", -1, "return_value")]
    stats = emu.stats()
    assert result["dots_sent"] == stats["dots"] == stats["unique_dots"] > 0
    assert result["task_ids"] == stored_task_ids(emu)
    assert list(result)[: len(SUMMARY_KEYS)] == list(SUMMARY_KEYS)
    # The hook found the task instance's state store itself: its ledger is complete there.
    ledger = ledger_of(run, task_id="load_day")
    assert ledger.complete and len(ledger.finished) == result["bodies"]


def test_fan_out_maps_one_instance_per_file(
    dags: dict[str, DAG], emu: Emulator, tmp_path: Path
) -> None:
    for day in ("20240101", "20240102", "20240103"):
        lines = (DATA / f"logger_{day}.csv").read_text().splitlines(keepends=True)
        (tmp_path / f"logger_{day}.csv").write_text("".join(lines[:121]))
    shutil.copy(DATA / "logger_20240104.csv", tmp_path / "not_a_logger_file.csv")

    run = dags["bulkdots_fan_out"].test(run_conf={"data_dir": str(tmp_path)})

    assert run.state == "success"
    mapped = sorted(index for task, index in task_instances(run) if task == "send_file")
    assert mapped == [0, 1, 2]
    values = xcoms(run)
    files = values[("list_files", -1, "return_value")]
    assert [Path(path).name for path in files] == [
        "logger_20240101.csv",
        "logger_20240102.csv",
        "logger_20240103.csv",
    ]
    dots = emu.dots()
    task_id_days = {dot["task_id"]: _day(dot["timestamp"]) for dot in dots}
    for index, path in enumerate(files):
        summary = values[("send_file", index, "summary")]
        task_ids = values[("send_file", index, "return_value")]
        assert summary["rows_read"] == 120
        assert len(task_ids) == summary["requests"] > 0
        # Each instance's task_ids name requests holding only its own file's day.
        day = Path(path).stem.removeprefix("logger_")
        assert {task_id_days[task_id] for task_id in task_ids} == {day}
    all_ids = [tid for index in range(3) for tid in values[("send_file", index, "return_value")]]
    assert sorted(all_ids) == sorted(set(task_id_days)) == sorted(stored_task_ids(emu))
    assert emu.stats()["duplicates"] == 0


def test_plan_load_check_plans_exactly_what_the_load_sends_and_checks_it(
    dags: dict[str, DAG], emu: Emulator, tmp_path: Path
) -> None:
    dag = dags["bulkdots_plan_load_check"]
    dag.get_task("check").processing_delay = 0  # the emulator shows writes at once
    seen: list[int] = []
    dag.get_task("plan").on_success_callback = [
        lambda context: seen.append(
            sum(requests for _, requests, _ in emu.api.store.request_timeline()[1])
        )
    ]

    run = dag.test(
        logical_date=pendulum.datetime(2024, 1, 3, tz="UTC"),
        run_conf={"rejected_dir": str(tmp_path), "differences_dir": str(tmp_path)},
    )

    assert run.state == "success"
    assert seen == [0]  # the plan made no request
    values = xcoms(run)
    plan, summary = values[("plan", -1, "plan")], values[("load", -1, "summary")]
    check = values[("check", -1, "check")]
    assert (plan["dots"], plan["bodies"], plan["bytes"]) == (
        summary["dots"],
        summary["bodies"],
        summary["bytes"],
    )
    assert plan["invalid_rows"] == summary["invalid_rows"]
    assert check["passed"] and check["differences"] == 0
    assert (
        check["expected_dots"] == check["dots_read"] == summary["dots_sent"] == emu.stats()["dots"]
    )
    differences = tmp_path / "bulkdots_plan_load_check" / "20240103.jsonl"
    assert differences.read_bytes() == b""


def test_the_examples_cap_their_concurrency_without_a_pool(dags: dict[str, DAG]) -> None:
    """A pool that does not exist holds its tasks forever under a real scheduler: the examples
    need none, since the tasks running at once share the token's rate."""
    daily, fan_out = dags["bulkdots_daily_backfill"], dags["bulkdots_fan_out"]
    assert daily.max_active_runs == 3
    for dag in (daily, fan_out):
        senders = [task for task in dag.tasks if task.task_type.startswith("BulkDots")]
        assert senders and all(task.pool == "default_pool" for task in senders), dag.dag_id
    (mapped,) = [task for task in fan_out.tasks if task.task_id == "send_file"]
    assert mapped.max_active_tis_per_dag == 3


def _day(timestamp_ms: int) -> str:
    return pendulum.from_timestamp(timestamp_ms / 1000, tz="UTC").format("YYYYMMDD")
