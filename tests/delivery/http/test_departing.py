"""Requests tell the pace when they really go: bulk POSTs and reads, against the emulator.

A task may take its turn and be descheduled before its request leaves (a loaded machine); the
pace then spaces the next turns from the departure, not from the turn (the rule and its
schedules: tests/delivery/pacing/test_departures.py). Here: the departure is told once per
request, before the server sees it, by the Sender and by the reader on one pace.
"""

from __future__ import annotations

import msgspec
import pytest

from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.http.transport import departing, make_session
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer
from airflow_provider_bulkdots.delivery.settings import resolve_settings
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator
from tests.conftest import EMULATOR_TOKEN as TOKEN
from tests.delivery.raw_server import http_reply, raw_server

RATE = 4.0


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


def body(seq: int) -> Body:
    values = [{"v": float(i), "timestamp": 1_700_000_000_000 + i} for i in range(4)]
    record = {"device": f"late-{seq}", "timestamp": 1_700_000_000_000, "values": values}
    return Body(seq=seq, payload=msgspec.json.encode([record]), dot_count=4)


def test_the_departure_is_told_once_right_before_the_server_sees_the_request() -> None:
    seen: list[int] = []
    reply = http_reply("200 OK", b"{}", Content_Type="application/json", Connection="close")
    with raw_server(reply) as server:
        session = make_session(1)
        with departing(lambda: seen.append(len(server.requests))):
            session.get(server.url + "/one", timeout=10)
            session.get(server.url + "/two", timeout=10)
        session.get(server.url + "/three", timeout=10)
    assert seen == [0]  # once, before the first request reached the server
    assert len(server.requests) == 3


@pytest.mark.usefixtures("emu")
def test_writes_and_reads_late_after_their_turn_are_spaced_from_when_they_left(
    emu: Emulator,
) -> None:
    settings = resolve_settings(emu.url, None, {"rate_limit": 0, "max_in_flight": 1})
    auth = TokenAuth(TOKEN, in_query=False)
    clock = FakeClock()
    pace = TokenPacer(RATE, clock=clock, headroom=0)
    sender = Sender(make_session(1), auth, settings, limiter=pace, sleep=clock.advance)
    lateness = 0.1  # each request is descheduled this long between its turn and the wire

    def descheduled(body_id: str) -> None:
        clock.advance(lateness)

    summary = sender.deliver([body(0), body(1), body(2)], on_request=descheduled)
    assert summary.statuses["200"] == summary.requests == 3
    # Turns at 1000, then 0.25 after each departure (1000.1, 1000.35 + 0.1, ...).
    assert pace.state().departures == pytest.approx([1000.1, 1000.45, 1000.8])
    reader = SeriesReader(make_session(1), auth, settings, pace, sleep=clock.advance)
    assert reader.dots("late-0", "v", 1_700_000_000_000, 1_700_000_000_003)
    state = pace.state()
    assert state.turns == 4  # the read took its turn from the same pace as the writes
    assert state.departures[-1] == pytest.approx(1000.8 + 0.25)
    assert emu.stats()["requests"].get("429", 0) == 0
