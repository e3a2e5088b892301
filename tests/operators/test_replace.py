"""``replace=True`` through real Airflow against the emulator: a corrected span replaces
exactly that span; a try that stops between the delete and the end of the write is retried
without losing or doubling the span's data; refusals come before any request."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from tests.operators.dag_runs import register, task_instances, xcoms

START = dt.datetime(2024, 8, 1, tzinfo=dt.timezone.utc)
T0 = int(START.timestamp() * 1000)
MINUTE = 60_000
Dot = tuple[str, str, int, float]


def rows(devices: tuple[str, ...], minutes: range, offset: float = 0.0) -> list[dict[str, Any]]:
    return [
        {
            "device": device,
            "timestamp": T0 + minute * MINUTE,
            "flow": round(minute / 10 + offset, 2),
            "temp": 20 + minute % 7 + offset,
        }
        for minute in minutes
        for device in devices
    ]


def dots_of(
    data: list[dict[str, Any]], variables: tuple[str, ...] = ("flow", "temp")
) -> Counter[Dot]:
    return Counter(
        (row["device"], name, row["timestamp"], float(row[name]))
        for row in data
        for name in variables
    )


def stored(emu: Emulator) -> Counter[Dot]:
    return Counter(
        (d["device"], d["variable"], d["timestamp"], float(d["value"])) for d in emu.dots()
    )


def run_once(dag_id: str, **kwargs: Any) -> Any:
    with DAG(dag_id=dag_id, schedule=None, start_date=START, catchup=False) as dag:
        BulkDotsOperator(task_id="send", max_body_bytes=600, **kwargs)
    register(dag)
    return dag.test()


def requests_logged(emu: Emulator) -> int:
    return sum(requests for _, requests, _ in emu.api.store.request_timeline()[1])


def test_a_corrected_span_replaces_exactly_that_span(conn: Emulator) -> None:
    original = rows(("pump-1", "pump-2", "pump-3"), range(0, 120, 5))
    assert run_once("replace_original", data=original).state == "success"
    before = stored(conn)
    # Corrections for pump-1 and pump-2's flow only, minutes 30-60: other instants than the
    # original's (every 10 min, offset by 3), other values.
    corrected = [
        {
            "device": row["device"],
            "timestamp": row["timestamp"] + 3 * MINUTE,
            "flow": row["flow"] + 100,
        }
        for row in rows(("pump-1", "pump-2"), range(30, 61, 10))
    ]

    run = run_once("replace_corrected", data=corrected, replace=True)

    assert run.state == "success"
    after = stored(conn)
    span = {
        "pump-1": (T0 + 33 * MINUTE, T0 + 63 * MINUTE),
        "pump-2": (T0 + 33 * MINUTE, T0 + 63 * MINUTE),
    }

    def inside(dot: Dot) -> bool:
        low_high = span.get(dot[0])
        return dot[1] == "flow" and low_high is not None and low_high[0] <= dot[2] <= low_high[1]

    assert Counter({d: n for d, n in after.items() if inside(d)}) == dots_of(corrected, ("flow",))
    assert Counter({d: n for d, n in after.items() if not inside(d)}) == Counter(
        {d: n for d, n in before.items() if not inside(d)}
    )
    assert conn.stats()["duplicates"] == 0


@pytest.mark.parametrize("faults", ["every_write_fails", "down_after_3_bodies"])
def test_a_try_stopped_after_the_delete_is_retried_to_the_input_exactly_once(
    conn: Emulator, faults: str
) -> None:
    original = rows(("valve-1",), range(0, 60))
    assert run_once(f"replace_before_{faults}", data=original).state == "success"
    corrected = rows(("valve-1",), range(0, 60), offset=0.5)
    if faults == "every_write_fails":
        conn.fail_next(1, 503)  # the delete and its read-back pass; the first write fails
    else:
        conn.set_faults(Faults(down_after=3))  # three bodies stored, then nothing answers
    tries: list[int] = []

    def healed(context: Any) -> None:
        tries.append(len(conn.dots()))
        conn.api.faults.clear()

    run = run_once(
        f"replace_retried_{faults}",
        data=corrected,
        replace=True,
        retries=1,
        retry_delay=dt.timedelta(0),
        max_retries=0,
        max_in_flight=1,
        reconcile_timeout=5,
        reconcile_delay=0,
        on_retry_callback=healed,
    )

    assert run.state == "success"
    assert len(tries) == 1  # one try stopped, the retry finished
    assert tries[0] < len(dots_of(corrected))  # the span was left short by the first try
    assert stored(conn) == dots_of(corrected)  # the input exactly once, nothing of the old


def test_a_dry_run_shows_what_replace_would_delete(conn: Emulator) -> None:
    data = rows(("pump-1",), range(0, 10))
    run = run_once("replace_plan", data=data, replace=True, dry_run=True)

    assert run.state == "success"
    plan = xcoms(run)[("send", -1, "plan")]
    assert plan["deletes"] == [
        {"device": "pump-1", "variable": name, "start_ms": T0, "end_ms": T0 + 9 * MINUTE}
        for name in ("flow", "temp")
    ]
    assert plan["requests"] == plan["bodies"] + 2 * 2  # a delete and a read-back per series
    assert requests_logged(conn) == 0


@pytest.mark.parametrize(
    ("case", "kwargs", "reason"),
    [
        ("empty", {"data": []}, "bounds no span"),
        (
            "invalid",
            {"data": [{"device": "p", "timestamp": T0, "flow": "x"}], "on_invalid": "skip"},
            "invalid row",
        ),
        (
            "incremental",
            {"data": [], "incremental": True, "ubidots_asset": "ubidots://e/r"},
            "incremental",
        ),
    ],
)
def test_replace_is_refused_before_any_request(
    conn: Emulator,
    capfd: pytest.CaptureFixture[str],
    case: str,
    kwargs: dict[str, Any],
    reason: str,
) -> None:
    run = run_once(f"replace_refused_{case}", replace=True, retries=0, **kwargs)

    assert task_instances(run)[("send", -1)].state == "failed"
    assert requests_logged(conn) == 0
    assert reason in capfd.readouterr().out
