"""Replace's parts, without Airflow: the delete with its retries (against the emulator), the
bounded confirmation, and the refusals."""

from __future__ import annotations

import pytest

from airflow_provider_bulkdots.delivery.exactly_once.readback import StoredDot
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.transport import make_session
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer
from airflow_provider_bulkdots.delivery.settings import resolve_settings
from airflow_provider_bulkdots.dots import InvalidRow, Report
from airflow_provider_bulkdots.emulator import start_emulator
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError, ConfigurationError
from airflow_provider_bulkdots.planning.replace import (
    Confirm,
    SpanDeleter,
    confirm_empty,
    refuse_unbounded,
)
from tests.emulator.conftest import post


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_a_delete_throttled_by_the_api_is_retried_and_reaches_its_span() -> None:
    clock = Clock()  # the emulator's rate window moves only when the client waits
    with start_emulator(rate_limit=1, clock=clock) as emu:
        body = [
            {"device": "d", "timestamp": 1000, "values": [{"t": 1}, {"t": 2, "timestamp": 2000}]}
        ]
        assert post(emu, body).ok
        clock.sleep(1)
        settings = resolve_settings(emu.url, extras={"max_retries": 5})
        deleter = SpanDeleter(
            make_session(1), TokenAuth(emu.token), settings, TokenPacer(0), sleep=clock.sleep
        )

        first = deleter.delete("d", "t", 1000, 1000)
        second = deleter.delete("d", "t", 1000, 1000)  # the same second: a 429 first

        assert first and second and deleter.requests == 3 and clock.now > 1
        clock.sleep(1)
        post(emu, [{"device": "x", "timestamp": 1, "values": [{"v": 1}]}])  # applies it
        held = [(d["variable"], d["timestamp"]) for d in emu.dots() if d["device"] == "d"]
        assert held == [("t", 2000)]


class Reader:
    def __init__(self, full_reads: int) -> None:
        self.full_reads = full_reads
        self.requests = 0

    def dots(self, device: str, variable: str, start_ms: int, end_ms: int) -> list[StoredDot]:
        self.requests += 1
        return [StoredDot(start_ms, 1.0, None)] if self.requests <= self.full_reads else []


def test_the_confirmation_polls_until_empty_within_its_bound() -> None:
    clock = Clock()
    confirm = Confirm(timeout=10, poll=2, sleep=clock.sleep, clock=clock)
    reader = Reader(full_reads=3)

    confirm_empty(reader, {("d", "t"): (0, 9)}, confirm)

    assert (reader.requests, clock.now) == (4, 6)
    with pytest.raises(BulkDotsDeliveryError, match=r"1 span\(s\) still hold dots .* \(d/t\)"):
        confirm_empty(Reader(full_reads=100), {("d", "t"): (0, 9)}, confirm)


def test_an_input_that_bounds_no_span_or_has_invalid_rows_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="bounds no span"):
        refuse_unbounded({}, Report())
    report = Report()
    report.count_invalid(InvalidRow(3, "t", "x", "must be a number"))
    with pytest.raises(ConfigurationError, match="1 invalid row"):
        refuse_unbounded({("d", "t"): (0, 1)}, report)
