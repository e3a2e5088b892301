"""The input changed between tries (rows appended, removed, reordered; a try stopped mid-send):
the retry sends no dot an earlier try had acknowledged, against the emulator over loopback.

The bodies come from the core (``build_bodies``), as a task builds them, so a changed input
changes the bodies' bytes and ids the way it does in a task.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.dots import Body, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.emulator import Emulator, Faults
from tests.delivery.exactly_once.test_exactly_once import (
    Parts,
    Terminated,
    TerminatingMeter,
    run,
)
from tests.delivery.exactly_once.test_ledger import MemoryStore

T0 = 1_704_067_200_000
OPTIONS = ReshapeOptions(device_column="logger", timestamp_column="time", max_body_bytes=2000)


def rows(count: int, first: int = 0) -> list[dict[str, Any]]:
    """Readings of three loggers, one a minute, time-ordered (a table ``ORDER BY time``)."""
    made = []
    for index in range(first, first + count):
        minute, logger = divmod(index, 3)
        made.append(
            {
                "time": T0 + minute * 60_000,
                "logger": f"chg-{logger}",
                "temperature": 20 + index % 50 / 10,
                "humidity": 40 + index % 17,
            }
        )
    return made


def built(input_rows: list[dict[str, Any]]) -> list[Body]:
    return list(build_bodies(input_rows, OPTIONS))


def stored(emu: Emulator) -> Counter[tuple[str, str, int]]:
    return Counter((dot["device"], dot["variable"], dot["timestamp"]) for dot in emu.dots())


def expected(input_rows: list[dict[str, Any]]) -> Counter[tuple[str, str, int]]:
    return Counter(
        (row["logger"], variable, row["time"])
        for row in input_rows
        for variable in ("temperature", "humidity")
    )


def assert_once(emu: Emulator, *inputs: list[dict[str, Any]]) -> None:
    want: Counter[tuple[str, str, int]] = Counter()
    for input_rows in inputs:
        want |= expected(input_rows)  # the union: each dot once
    assert stored(emu) == want


def test_a_grown_table_rerun_sends_only_the_new_rows_without_reading(emu: Emulator) -> None:
    """The issue's case: the shared tail body changed; its acknowledged dots are matched by
    the dot record (same count and digest in their range), not resent, not read."""
    store = MemoryStore()
    old = rows(300)
    run(emu, built(old), store)
    grown = rows(400)
    assert built(grown)[-1].body_id not in {body.body_id for body in built(old)}

    again = run(emu, built(grown), store)

    assert_once(emu, grown)
    counts = again.delivery.counts
    assert counts.acknowledged_dots_skipped > 0  # the old tail body's dots
    assert counts.ambiguous_dots_read_back == counts.read_requests == 0
    assert again.delivery.summary.dots == 2 * 100


def test_a_try_stopped_mid_send_then_a_grown_input_stores_each_dot_once(emu: Emulator) -> None:
    store = MemoryStore()
    old = rows(600)
    first = Parts(emu, store, delay=0, meter=TerminatingMeter(limit=0), max_in_flight=2)
    first.sender.progress_interval = 0.05
    emu.set_faults(Faults(latency_s=0.3))
    with pytest.raises(Terminated):
        first.delivery.run(iter(built(old)))
    emu.set_faults(Faults())
    assert 0 < sum(stored(emu).values()) < 2 * len(old)

    grown = rows(900)
    run(emu, built(grown), store, delay=0)

    assert_once(emu, grown)


@pytest.mark.parametrize("change", ["reordered", "rows_removed", "row_inserted", "rechunked"])
def test_a_file_rewritten_otherwise_sends_no_acknowledged_dot_again(
    emu: Emulator, change: str
) -> None:
    store = MemoryStore()
    old = rows(450)
    sent_before = built(old)[:8]  # the first try acknowledged eight bodies, then failed
    run(emu, sent_before, store)
    now = {
        "reordered": random.Random(5).sample(old, len(old)),
        "rows_removed": old[::2],
        "row_inserted": [*old[:40], {**old[40], "time": old[40]["time"] + 1}, *old[40:]],
        "rechunked": old,
    }[change]
    bodies = (
        list(build_bodies(now, ReshapeOptions(**{**vars(OPTIONS), "max_body_bytes": 3100})))
        if change == "rechunked"
        else built(now)
    )

    again = run(emu, bodies, store, delay=0)

    sent_rows = [row for body in sent_before for row in old if _in(body, row)]
    assert_once(emu, sent_rows, now)
    counts = again.delivery.counts
    assert counts.acknowledged_dots_skipped + counts.ambiguous_dots_read_back > 0


def _in(body: Body, row: dict[str, Any]) -> bool:
    return (
        f'"device":"{row["logger"]}"'.encode() in body.payload
        and str(row["time"]).encode() in body.payload
    )


def test_the_dot_record_costs_a_bounded_few_bytes_per_body(emu: Emulator) -> None:
    store = MemoryStore()
    sent = built(rows(900))
    run(emu, sent, store)

    record = sum(len(value) for key, value in store.values.items() if "/r/" in key)
    assert record / len(sent) < 400  # three devices a body: three ranges and the body's id
    ranges = list(DeliveryLedger(store, "ledger", "fp").recorded_ranges())
    assert not ranges  # read only after load
    ledger = DeliveryLedger(store, "ledger", "fp")
    ledger.load()
    assert [body_id for body_id, _ in ledger.recorded_ranges()] == [b.body_id for b in sent]
