"""The ETA a user can plan with: a large CSV read through the real reader, reshape and packer,
delivered at a throttled pace on a fake clock (the property is the ratio of the printed ETA to
the time that really remained, so a fast fake rate shortens the run without changing it).

The reader runs ahead of the API: rows are read in batches of 2,048, every body waits in a
spool (``on_invalid="fail"`` reads the whole input before the first request) and in the
in-flight window. The percentage and the ETA must follow what is delivered, not what is read.
"""

from __future__ import annotations

import csv
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter
from airflow_provider_bulkdots.delivery.reporting.results import SendResult
from airflow_provider_bulkdots.dots import Report, ReshapeOptions, checked_bodies
from airflow_provider_bulkdots.hooks.delivery import measuring
from airflow_provider_bulkdots.sources import ReadOptions, open_dataset

ROWS = 120_000
DEVICES = 40
READ_AHEAD = 8  # the window pulls 2 * max_in_flight bodies ahead


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 5 MB of wide readings: 40 devices interleaved, 3 variables."""
    path = tmp_path_factory.mktemp("eta") / "readings.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["device", "timestamp", "temperature", "humidity", "co2"])
        for index in range(ROWS):
            stamp = 1_700_000_000_000 + index * 1000
            writer.writerow(
                [f"dev-{index % DEVICES}", stamp, 15 + index % 50 / 10, 40 + index % 30, index]
            )
    return path


def deliver(
    path: Path, pace: Callable[[float], float]
) -> tuple[list[tuple[float, float, float]], float]:
    """Deliver the file's bodies one at a time, ``1 / pace(elapsed)`` seconds each; the
    progress lines printed as (time, percent, ETA), and the time the last reply came."""
    clock = FakeClock()
    meter = ProgressMeter(limit=4, interval=5, clock=clock)
    options = ReshapeOptions(layout="wide", timestamp_unit="ms", max_body_bytes=10_000)
    dataset = open_dataset(str(path), options=options, reading=ReadOptions())
    report = Report()
    source = iter(
        checked_bodies(dataset.rows(), options, report, measuring(dataset.progress, report, meter))
    )
    window: deque = deque()
    lines: list[tuple[float, float, float]] = []
    start = clock.now
    meter.sending()
    while True:
        while len(window) < READ_AHEAD and (body := next(source, None)) is not None:
            window.append(body)
        if not window:
            break
        body = window.popleft()
        clock.now += 1 / pace(clock.now - start)
        meter.add(
            SendResult(
                seq=body.seq,
                body_id=body.body_id,
                dots=body.dot_count,
                size=body.size,
                requests=1,
                statuses=Counter({"200": 1}),
            )
        )
        if meter.due():
            eta = meter.eta()
            assert meter.total and eta is not None
            lines.append((clock.now, 100 * meter.done / meter.total, eta))
            meter.line()
    meter.all_sent()
    assert meter.done == meter.total
    return lines, clock.now


def _line_at(lines: list[tuple[float, float, float]], percent: float) -> tuple[float, float, float]:
    return min(lines, key=lambda line: abs(line[1] - percent))


def test_the_eta_at_a_quarter_half_and_three_quarters_is_within_a_fifth_of_the_truth(
    big_csv: Path,
) -> None:
    lines, end = deliver(big_csv, lambda elapsed: 4.0)
    assert len(lines) > 40
    for percent in (25, 50, 75):
        at, shown, eta = _line_at(lines, percent)
        assert abs(shown - percent) < 2
        remaining = end - at
        assert 0.8 <= eta / remaining <= 1.2, (percent, eta, remaining)


def test_when_the_tasks_share_drops_the_eta_follows_the_pace_of_the_last_minute(
    big_csv: Path,
) -> None:
    """Three more tasks start on the token after two minutes: this task's share falls to a
    quarter. The ETA printed a minute later and after is within a fifth of the truth (the
    pace since the start would promise about twice too little)."""
    lines, end = deliver(big_csv, lambda elapsed: 4.0 if elapsed < 120 else 1.0)
    later = [line for line in lines if line[0] - 1_000 >= 120 + 60]
    assert later
    for at, _, eta in later[: len(later) * 3 // 4]:
        assert 0.8 <= eta / (end - at) <= 1.2, (at, eta, end - at)
