"""Progress lines: done/total, percent, ETA, requests/s against the limit, throttled and
retried counts, and the held ratio at the end (fake clock)."""

from __future__ import annotations

from collections import Counter

import pytest

from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter, format_duration
from airflow_provider_bulkdots.delivery.reporting.results import SendResult


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def result(seq: int, requests: int = 1, statuses: dict[str, int] | None = None) -> SendResult:
    counts = Counter(statuses or {"200": 1})
    return SendResult(
        seq=seq,
        body_id=f"b{seq}",
        dots=100,
        size=9_000,
        requests=requests,
        retries=requests - 1,
        statuses=counts,
    )


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (44.6, "45 s"), (185, "3 min 05 s"), (7_620, "2 h 07 min"), (-3, "0 s")],
)
def test_durations_read_like_a_person_writes_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_line_gives_done_total_percent_eta_and_the_rate_against_the_limit() -> None:
    clock = FakeClock()
    meter = ProgressMeter(limit=4, total=10_000, unit="rows", interval=30, clock=clock)
    meter.sending()
    for seq in range(100):  # 100 requests in 25 s reach 2,500 rows
        clock.now += 0.25
        meter.add(result(seq), reached=25 * (seq + 1))
    meter.add(result(100, requests=3, statuses={"429": 1, "503": 1, "200": 1}), reached=2_500)
    assert not meter.due()
    clock.now += 5
    assert meter.due()
    line = meter.line()
    assert line.startswith("Progress: 2,500/10,000 rows (25.0 %), ETA 1 min 30 s;")
    assert "103 requests, 3.43 requests/s against a limit of 4/s (0.86)" in line
    assert line.endswith("1 throttled, 2 retried.")
    assert not meter.due()
    clock.now += 30
    assert "(0.00); waiting on dots_per_hour; 1 throttled" in meter.line("dots_per_hour")


def test_an_unknown_total_counts_bodies_and_dots_without_an_eta() -> None:
    clock = FakeClock()
    meter = ProgressMeter(limit=0, clock=clock)
    meter.sending()
    clock.now += 2
    meter.add(result(0))
    line = meter.line()
    assert "1 bodies, 100 dots;" in line and "ETA" not in line
    assert "0.50 requests/s (no limit)" in line


def test_a_resumed_try_starts_where_the_earlier_one_stopped() -> None:
    clock = FakeClock()
    meter = ProgressMeter(limit=4, total=1_000, unit="bytes", clock=clock)
    meter.start_at(600)
    meter.sending()
    clock.now += 10
    meter.add(result(0), reached=700)  # 100 bytes in 10 s, 300 to go
    assert meter.eta() == pytest.approx(30)
    assert "700/1,000 bytes (70.0 %), ETA 30 s" in meter.line()


def test_the_final_line_gives_the_held_ratio() -> None:
    clock = FakeClock()
    meter = ProgressMeter(limit=4, total=40, clock=clock)
    meter.sending()
    for seq in range(40):
        clock.now += 0.2577
        meter.add(result(seq), reached=seq + 1)
    span, rate = meter.held()
    assert (span, rate) == pytest.approx((40 * 0.2577, 40 / (40 * 0.2577)))
    line = meter.final_line()
    assert line.startswith("Delivered: 40/40 rows (100.0 %), ETA 0 s; 40 requests in 10 s,")
    assert "3.88 requests/s against a limit of 4/s (0.97), held 0.97 of the limit;" in line


def test_the_final_line_shows_the_tokens_held_ratio_beside_this_tasks_share() -> None:
    """Four tasks share the token: this one holds a quarter of the limit, the token all of it."""
    clock = FakeClock()
    turns = [100]
    meter = ProgressMeter(limit=4, total=10, clock=clock, token_turns=lambda: turns[0])
    meter.sending()
    for seq in range(10):
        clock.now += 1.0
        turns[0] += 4  # this task's request and three of the other tasks
        meter.add(result(seq), reached=seq + 1)
    line = meter.final_line()
    assert meter.token_held() == pytest.approx(1.0)
    assert (
        "held 0.25 of the limit by this task (1.00 by every task of the token on this machine)"
        in line
    )


def test_done_counts_settled_dots_not_the_input_read_ahead() -> None:
    """The reader is at the end of the input when the first body is sent (spooled); half the
    dots finished are half the input."""
    clock = FakeClock()
    meter = ProgressMeter(limit=4, total=1_000, unit="bytes", clock=clock)
    for seq in range(10):
        meter.built(seq, 100, read_to=1_000)
    meter.sending()
    for seq in range(5):
        clock.now += 1
        meter.add(result(seq))
    assert meter.done == 500
    assert meter.eta() == pytest.approx(5)
    meter.finished_before(7)  # an earlier try finished it
    assert meter.done == 600
