"""Read-back planning: each series once over the merged spans that need it (pure), and a
resumed delivery of 18 bodies whose reply was lost, 6 series each, reading 6 series, not 108."""

from __future__ import annotations

import msgspec
import pytest

from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.delivery.exactly_once.readback_plan import (
    SeriesRead,
    merge_spans,
    plan_reads,
)
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator
from tests.delivery.exactly_once.test_exactly_once import T0, assert_each_dot_once, run
from tests.delivery.exactly_once.test_ledger import MemoryStore


def six_series_bodies(count: int, per_body: int = 10) -> list[Body]:
    """Bodies cut in time order from one input: 2 devices x 3 variables, a reading a second."""
    made = []
    for seq in range(count):
        records = []
        for device in ("north", "south"):
            values = [
                {
                    "t": float(seq + i),
                    "h": float(i),
                    "c": 400.0 + i,
                    "timestamp": T0 + 1000 * (seq * per_body + i),
                }
                for i in range(per_body)
            ]
            records.append(
                {"device": device, "timestamp": values[0]["timestamp"], "values": values}
            )
        made.append(Body(seq, msgspec.json.encode(records), 2 * 3 * per_body))
    return made


def test_adjacent_bodies_read_each_series_once() -> None:
    reads = plan_reads((body.payload for body in six_series_bodies(18)), page_size=1000)
    end = T0 + 1000 * (18 * 10 - 1)
    assert reads == [
        SeriesRead(device, variable, T0, end)
        for device in ("north", "south")
        for variable in ("c", "h", "t")
    ]


@pytest.mark.parametrize(
    ("spans", "merged"),
    [
        ([(0, 9_000, 10), (10_000, 19_000, 10)], [(0, 19_000)]),  # one reading apart
        ([(10_000, 19_000, 10), (0, 9_000, 10)], [(0, 19_000)]),  # any order
        ([(0, 9_000, 10), (5_000, 12_000, 8)], [(0, 12_000)]),  # overlapping
        # A day apart at a reading a second: 86,400 dots between, more than a page.
        ([(0, 9_000, 10), (86_410_000, 86_419_000, 10)], [(0, 9_000), (86_410_000, 86_419_000)]),
        ([(5, 5, 1), (7, 7, 1)], [(5, 5), (7, 7)]),  # single instants: no density known
    ],
)
def test_spans_merge_where_one_read_costs_less_than_two(
    spans: list[tuple[int, int, int]], merged: list[tuple[int, int]]
) -> None:
    assert merge_spans(spans, page_size=1000) == merged


def test_a_resume_reads_each_series_once_for_all_unknown_bodies(emu: Emulator) -> None:
    sent = six_series_bodies(24)
    store = MemoryStore()
    crashed = DeliveryLedger(store, "ledger", "fp")
    crashed.load()
    crashed.intend(body.body_id for body in sent[:18])  # intents stored before the requests...
    run(emu, sent[:12])  # ...12 reach the API, 6 do not; then the worker dies before any ack

    retry = run(emu, sent, store, delay=0)

    assert_each_dot_once(emu, sent)
    counts = retry.delivery.counts
    assert counts.reconciled_bodies == 18
    assert counts.resent_dots == 6 * 60
    assert retry.reader.requests == 6  # was 18 bodies x 6 series = 108
