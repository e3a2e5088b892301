"""BulkDotsOperator through real Airflow: ``dag.test()`` on SQLite, against the emulator.

Each test builds a small DAG, serializes it into the metadata DB and runs it in this process,
so callbacks can steer the emulator between tries. ``dag.test()`` runs a task's retries
within the same call and the same DAG run (it waits out ``retry_delay``, here 0), which is
what the resume ledger is keyed on.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pendulum
import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.compat import AIRFLOW_V_3_3_PLUS
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.conftest import EMULATOR_TOKEN as TOKEN
from tests.operators.dag_runs import (
    EXAMPLE_DAGS,
    example_dags,
    ledger_of,
    ledger_variables,
    register,
    rendered_fields,
    set_connection,
    stored_task_ids,
    task_instances,
    xcoms,
)

START = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
VARIABLES = ("temperature", "humidity", "co2")
NO_DELAY = dt.timedelta(0)
# Small bodies, so a few hundred rows make several requests.
SMALL_BODIES = 1_000

Dot = tuple[str, str, int, float]


def write_rows(path: Path, rows: Iterable[dict[str, Any]]) -> Path:
    rows = list(rows)
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def readings(count: int, devices: Iterable[str], offset: float = 0.0) -> list[dict[str, Any]]:
    """``count`` rows a second apart, devices interleaved, every reading present."""
    names = list(devices)
    return [
        {
            "device": names[index % len(names)],
            "timestamp": (START + dt.timedelta(seconds=index)).isoformat(),
            "temperature": round(15 + index % 50 / 10 + offset, 2),
            "humidity": 40 + index % 30,
            "co2": 400 + index % 200,
        }
        for index in range(count)
    ]


def expected_dots(rows: Iterable[dict[str, Any]]) -> Counter[Dot]:
    """The dots ``rows`` should become: one per reading."""
    dots: Counter[Dot] = Counter()
    for row in rows:
        millis = int(dt.datetime.fromisoformat(row["timestamp"]).timestamp() * 1000)
        for name in VARIABLES:
            dots[(row["device"], name, millis, float(row[name]))] += 1
    return dots


def stored(emu: Emulator, task_ids: Iterable[str] | None = None) -> Counter[Dot]:
    """The emulator's dots (those of ``task_ids`` when given), with multiplicity."""
    wanted = None if task_ids is None else set(task_ids)
    return Counter(
        (dot["device"], dot["variable"], dot["timestamp"], float(dot["value"]))
        for dot in emu.dots()
        if wanted is None or dot["task_id"] in wanted
    )


def single_task_dag(dag_id: str, **operator_kwargs: Any) -> DAG:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        BulkDotsOperator(task_id="send", **operator_kwargs)
    register(dag)
    return dag


def retrying(on_retry: Callable[[Any], None], **operator_kwargs: Any) -> dict[str, Any]:
    """Operator arguments: one Airflow retry at once, and no retry inside the Hook."""
    return {
        "retries": 1,
        "retry_delay": NO_DELAY,
        "max_retries": 0,
        "max_in_flight": 1,
        "max_body_bytes": SMALL_BODIES,
        "on_retry_callback": on_retry,
        **operator_kwargs,
    }


def run_of(ti: Any) -> Any:
    """The metadata DB's DagRun of a running task instance (for use inside callbacks)."""
    from airflow.models.dagrun import DagRun

    (run,) = DagRun.find(dag_id=ti.dag_id, run_id=ti.run_id)
    return run


# -- on_invalid ---------------------------------------------------------------------------


def rows_with_two_bad(count: int = 60) -> list[dict[str, Any]]:
    rows = readings(count, ["greenhouse-1", "greenhouse-2"])
    rows[2]["temperature"] = "warm"  # row 3
    rows[40]["timestamp"] = "yesterday"  # row 41
    return rows


def test_on_invalid_fail_sends_nothing_and_names_each_row(
    conn: Emulator, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    data = write_rows(tmp_path / "readings.csv", rows_with_two_bad())
    rejected = tmp_path / "rejected" / "readings.jsonl"
    dag = single_task_dag(
        "op_on_invalid_fail",
        data=str(data),
        on_invalid="fail",
        rejected_path=str(rejected),
        max_body_bytes=SMALL_BODIES,
    )

    run = dag.test()

    assert run.state == "failed"
    assert task_instances(run)[("send", -1)].state == "failed"
    assert conn.stats()["requests"] == {}
    assert conn.dots() == []
    # The summary is pushed also when the task fails: nothing sent.
    # The summary (and the extra link Airflow stores at the end of every try), no task_ids.
    assert [key for key in xcoms(run) if not key[2].startswith("_link_")] == [
        ("send", -1, "summary")
    ]
    assert xcoms(run)[("send", -1, "summary")]["bodies_sent"] == 0
    log = capfd.readouterr().out
    assert "InvalidRowsError: 2 invalid row(s); nothing was sent" in log
    assert "row 3 (line 4), field 'temperature', value 'warm': must be a number" in log
    assert "row 41 (line 42), field 'timestamp', value 'yesterday': must be a datetime" in log
    lines = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [(line["row"], line["field"]) for line in lines] == [
        (3, "temperature"),
        (41, "timestamp"),
    ]
    # Nothing was intended nor acknowledged.
    assert ledger_of(run).intents == set()
    assert ledger_variables(run) == {}


def test_on_invalid_skip_stores_every_valid_row_and_lists_the_others(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = rows_with_two_bad()
    data = write_rows(tmp_path / "readings.csv", rows)
    rejected = tmp_path / "rejected" / "readings.jsonl"
    dag = single_task_dag(
        "op_on_invalid_skip",
        data=str(data),
        on_invalid="skip",
        rejected_path=str(rejected),
        max_body_bytes=SMALL_BODIES,
    )

    run = dag.test()

    assert run.state == "success"
    valid = [row for number, row in enumerate(rows, 1) if number not in (3, 41)]
    assert stored(conn) == expected_dots(valid)
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["invalid_rows"] == 2
    assert summary["rows_read"] == len(rows)
    assert summary["dots_sent"] == 3 * len(valid)
    lines = [json.loads(line) for line in rejected.read_text().splitlines()]
    assert [
        {key: value for key, value in line.items() if value is not None and key != "rule"}
        for line in lines
    ] == [
        {
            "kind": "invalid_row",
            "row": 3,
            "line": 4,
            "field": "temperature",
            "value": "'warm'",
            "try_number": 1,
        },
        {
            "kind": "invalid_row",
            "row": 41,
            "line": 42,
            "field": "timestamp",
            "value": "'yesterday'",
            "try_number": 1,
        },
    ]
    assert lines[0]["rule"].startswith("must be a number")
    assert lines[1]["rule"].startswith("must be a datetime")


# -- resuming -----------------------------------------------------------------------------


def test_a_retry_sends_only_what_the_failed_try_had_not(conn: Emulator, tmp_path: Path) -> None:
    rows = readings(200, ["station-a", "station-b", "station-c"])
    data = write_rows(tmp_path / "readings.csv", rows)
    seen: dict[str, Any] = {}

    def api_back(context: Any) -> None:
        ti = context["ti"]
        seen["ledger"] = ledger_of(run_of(ti))
        seen["stored_before_retry"] = conn.stats()["requests"].get("200", 0)
        conn.set_faults(Faults())

    dag = single_task_dag("op_resume", **retrying(api_back, data=str(data)))
    conn.set_faults(Faults(down_after=3))

    run = dag.test()

    assert run.state == "success"
    ti = task_instances(run)[("send", -1)]
    assert ti.try_number == 2
    # The failed try left its three finished bodies in the task state store...
    ledger = seen["ledger"]
    assert len(ledger.finished) == seen["stored_before_retry"] == 3
    assert not ledger.complete
    # ...the retry sent only the rest, and every dot is stored exactly once.
    values = xcoms(run)
    summary = values[("send", -1, "summary")]
    assert summary["resumed_bodies"] == 3
    assert summary["resumed_dots"] + summary["dots_sent"] == 3 * len(rows)
    stats = conn.stats()
    assert stats["requests"]["200"] == 3 + summary["requests"]
    assert stats["duplicates"] == 0
    assert stored(conn) == expected_dots(rows)
    # The task_ids of both tries, in send order; the ledger is kept, marked complete.
    assert values[("send", -1, "return_value")] == stored_task_ids(conn)
    final = ledger_of(run)
    assert final.complete and len(final.finished) == summary["bodies"]
    if AIRFLOW_V_3_3_PLUS:  # the task state store, not Variables
        assert ledger_variables(run) == {}


def _grown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return readings(len(rows) + 60, ["station-a", "station-b", "station-c"])


def _reordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return random.Random(3).sample(rows, len(rows))


def _revalued(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return readings(len(rows), ["station-a", "station-b", "station-c"], offset=100.25)


@pytest.mark.parametrize("change", [_grown, _reordered, _revalued])
def test_a_changed_input_after_a_failed_try_sends_no_acknowledged_dot_again(
    conn: Emulator, tmp_path: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
) -> None:
    """The file is rewritten between the first try (three bodies acknowledged, then the API
    went down) and its retry (the same DagRun's task instance, try 2): the retry checks its
    changed bodies against the first try's dot record and stores each dot once."""
    rows = readings(200, ["station-a", "station-b", "station-c"])
    data = write_rows(tmp_path / "readings.csv", rows)
    changed = change(rows)
    first_try: list[int] = []

    def api_back_with_new_data(context: Any) -> None:
        first_try.append(len(conn.dots()))
        write_rows(data, changed)
        conn.set_faults(Faults())

    dag = single_task_dag("op_changed_input", **retrying(api_back_with_new_data, data=str(data)))
    conn.set_faults(Faults(down_after=3))

    run = dag.test()

    assert run.state == "success"
    assert task_instances(run)[("send", -1)].try_number == 2
    keys = Counter(dot[:3] for dot in stored(conn))
    assert set(keys) == {dot[:3] for dot in expected_dots(changed)}
    assert set(keys.values()) == {1}  # every dot once: none the first try stored was resent
    summary = xcoms(run)[("send", -1, "summary")]
    (acknowledged,) = first_try
    assert acknowledged > 0
    assert summary["dots_sent"] == len(keys) - acknowledged
    # by body id where a body did not change, else by the dot record
    spared = summary["acknowledged_dots_skipped"] + summary["ambiguous_dots_read_back"]
    assert summary["resumed_dots"] + spared >= acknowledged
    assert ledger_of(run).complete


def test_mapped_instances_keep_their_own_xcom_and_resume_state(
    conn: Emulator, tmp_path: Path
) -> None:
    files = {
        index: write_rows(
            tmp_path / f"site-{index}.csv",
            readings(120, [f"site-{index}-north", f"site-{index}-south"]),
        )
        for index in range(3)
    }
    seen: dict[str, Any] = {}

    def api_back(context: Any) -> None:
        ti = context["ti"]
        seen["map_index"] = ti.map_index
        seen["ledger"] = ledger_of(run_of(ti), map_index=ti.map_index)
        conn.set_faults(Faults())

    with DAG(dag_id="op_mapped", schedule=None, start_date=START, catchup=False) as dag:
        BulkDotsOperator.partial(task_id="send", **retrying(api_back)).expand(
            data=[str(files[index]) for index in range(3)]
        )
    register(dag)
    # Whichever instance runs first fails after two requests; the others find the API back.
    conn.set_faults(Faults(down_after=2))

    run = dag.test()

    assert run.state == "success"
    tis = task_instances(run)
    assert sorted(index for _, index in tis) == [0, 1, 2]
    failed_first = seen["map_index"]
    assert {index: ti.try_number for (_, index), ti in tis.items()} == {
        index: 2 if index == failed_first else 1 for index in range(3)
    }
    # The failed instance had its own ledger with its two finished bodies.
    assert len(seen["ledger"].finished) == 2
    values = xcoms(run)
    for index in range(3):
        summary = values[("send", index, "summary")]
        task_ids = values[("send", index, "return_value")]
        assert summary["resumed_bodies"] == (2 if index == failed_first else 0)
        own_rows = list(csv.DictReader(files[index].open(newline="")))
        assert stored(conn, task_ids) == expected_dots(own_rows)
    assert conn.stats()["duplicates"] == 0
    assert all(ledger_of(run, map_index=index).complete for index in range(3))


# -- templating, secrets ------------------------------------------------------------------


def test_the_daily_dag_reads_the_file_of_each_data_interval(conn: Emulator, tmp_path: Path) -> None:
    dag = example_dags()["bulkdots_daily_backfill"]
    days = [pendulum.datetime(2024, 1, 3, tz="UTC"), pendulum.datetime(2024, 1, 5, tz="UTC")]

    task_ids_by_day = {}
    for day in days:
        run = dag.test(logical_date=day, run_conf={"rejected_dir": str(tmp_path)})
        assert run.state == "success"
        fields = rendered_fields(run)[("send_logger_day", -1)]
        stamp = day.format("YYYYMMDD")
        assert fields["data"] == str(EXAMPLE_DAGS / "data" / f"logger_{stamp}.csv")
        assert fields["rejected_path"] == f"{tmp_path}/bulkdots_daily_backfill/{stamp}.jsonl"
        task_ids_by_day[day] = xcoms(run)[("send_logger_day", -1, "return_value")]

    dots = conn.dots()
    for day, task_ids in task_ids_by_day.items():
        start, end = day.timestamp() * 1000, day.add(days=1).timestamp() * 1000
        times = [dot["timestamp"] for dot in dots if dot["task_id"] in set(task_ids)]
        assert times and all(start <= time < end for time in times)
    assert sum(map(len, task_ids_by_day.values())) == conn.stats()["requests"]["200"]


def test_the_token_never_reaches_logs_xcoms_or_rendered_fields(
    emu: Emulator,
    airflow_db: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The token rides in the query string, where a logged URL would show it.
    set_connection(monkeypatch, emu, rate_limit=0, max_in_flight=1, auth_in_query=True)
    data = write_rows(tmp_path / "readings.csv", readings(60, ["vault-1"]))
    dag = single_task_dag(
        "op_token", data=str(data), max_body_bytes=SMALL_BODIES, reconcile_delay=0.2
    )
    emu.fail_next(1, 503)
    emu.drop_next(1)
    # The task logs at INFO; at DEBUG, urllib3 and the emulator itself log the raw URL.
    caplog.set_level("INFO")

    run = dag.test()

    assert run.state == "success"
    stats = emu.stats()
    assert stats["requests"]["200"] >= 2  # the token was accepted
    # The dropped reply's body was read back (the token in the query of those reads too).
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["reconciled_bodies"] == 1 and summary["read_requests"] >= 1
    assert stats["duplicates"] == 0
    out, err = capfd.readouterr()
    logged = out + err + caplog.text
    # The capture saw the task's log, failures included.
    assert "Summary:" in logged and "Reply lost for body" in logged
    log_files = [path for path in (Path(os.environ["AIRFLOW_HOME"]) / "logs").rglob("*")]
    stored_logs = "".join(p.read_text(errors="replace") for p in log_files if p.is_file())
    assert TOKEN not in logged
    assert TOKEN not in stored_logs
    assert xcoms(run) and rendered_fields(run)
    assert TOKEN not in json.dumps(list(xcoms(run).values()), default=str)
    assert TOKEN not in json.dumps(list(rendered_fields(run).values()), default=str)


# -- what a retry could not mend -----------------------------------------------------------


def test_a_lost_reply_without_resending_fails_at_once_and_keeps_the_ledger(
    conn: Emulator, tmp_path: Path
) -> None:
    rows = readings(200, ["station-a", "station-b"])
    data = write_rows(tmp_path / "readings.csv", rows)
    retried: list[Any] = []
    dag = single_task_dag(
        "op_lost_reply",
        **retrying(retried.append, data=str(data), resend_lost_replies=False, reconcile=False),
    )
    conn.drop_next(1)  # the first body is stored, then its reply is lost

    run = dag.test()

    assert run.state == "failed"
    assert retried == []  # a retry would resend blindly: the task fails for a person to decide
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["lost_reply_bodies"] == 1
    assert (
        summary["requests"] == conn.stats()["requests"]["200"] + conn.stats()["requests"]["dropped"]
    )
    # Nothing was sent twice, and every acknowledged body stays in the ledger for a clear.
    assert conn.stats()["duplicates"] == 0
    assert stored(conn) == expected_dots(rows)
    ledger = ledger_of(run)
    assert len(ledger.finished) == conn.stats()["requests"]["200"]  # not the dropped one
    assert len(ledger.intents - set(ledger.finished)) == 1  # its outcome: unknown
