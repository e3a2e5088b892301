"""A request that leaves late after its turn: the pace holds the API's window on departures.

On a loaded machine a process may take its turn and be descheduled before its request goes;
the late request then crowds the next ones into one window of the API (5 arrivals within
1 s at 4 requests/s: a 429). These tests replay such schedules on a fake clock against the
emulator's own limiter (a sliding window, as the API counts), across pacers sharing one state
file as the processes of a machine do, and a process killed with SIGKILL.
"""

from __future__ import annotations

import heapq
import json
import multiprocessing
import os
import signal
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.delivery.pacing.limiter import Departures, leaving
from airflow_provider_bulkdots.delivery.pacing.token import (
    LATE_TOLERANCE,
    MAX_DEPARTURES,
    PaceState,
    TokenPacer,
)
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter as ServerLimit

RATE = 4.0
ROUND_TRIP = 0.02


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def replay(lateness: list[float], processes: int, tell_departures: bool = True) -> list[float]:
    """Processes on one token (one state file) each take turns, and each request leaves
    ``lateness[i]`` seconds after its turn; returns the instants the requests arrive.

    Discrete events on a fake clock: a process tries its turn, waits what it is told, takes
    it, is descheduled for the request's lateness, then (with ``tell_departures``) calls
    ``leaving()`` as its request goes, and tries again after the reply.
    """
    clock = FakeClock(0.0)
    with tempfile.TemporaryDirectory() as state_dir:
        pacers = [
            TokenPacer(RATE, key="k", state_dir=state_dir, clock=clock) for _ in range(processes)
        ]
        events = [(0.001 * p, 0, p) for p in range(processes)]  # (when, leaves?, process)
        arrivals: list[float] = []
        late = iter(lateness)
        while events and len(arrivals) < len(lateness):
            clock.now, leaves, process = heapq.heappop(events)
            if leaves:
                if tell_departures:
                    pacers[process].leaving()
                arrivals.append(clock.now)
                heapq.heappush(events, (clock.now + ROUND_TRIP, 0, process))
                continue
            wait = pacers[process].try_turn()
            if wait > 0:
                heapq.heappush(events, (clock.now + wait, 0, process))
            else:
                heapq.heappush(events, (clock.now + next(late, 0.0), 1, process))
        for pacer in pacers:
            pacer.close()
    return arrivals


def refused_by_the_api(arrivals: list[float]) -> int:
    """How many of ``arrivals`` the emulator's limiter (the API's sliding window) refuses."""
    clock = FakeClock(0.0)
    server = ServerLimit(RATE, clock=clock)
    refused = 0
    for at in sorted(arrivals):
        clock.now = at
        refused += server.acquire("token") is not None
    return refused


def take_turn(pacer: TokenPacer, clock: FakeClock) -> float:
    """Wait (on the fake clock) for a turn and take it; the instant it was taken."""
    while (wait := pacer.try_turn()) > 0:
        clock.now += wait
    return clock.now


def tightest(arrivals: list[float], count: int = int(RATE) + 1) -> float:
    ordered = sorted(arrivals)
    return min(ordered[i + count - 1] - ordered[i] for i in range(len(ordered) - count + 1))


def test_a_request_descheduled_after_its_turn_no_longer_crowds_the_next_window() -> None:
    # The 7th request leaves 0.2 s after its turn (less than one spacing of 0.258 s), the
    # 12th 0.4 s after it (more: the next turn was already granted when it left).
    lateness = [0.0] * 30
    lateness[6], lateness[11] = 0.2, 0.4
    crowded = replay(lateness, processes=3, tell_departures=False)
    assert refused_by_the_api(crowded) >= 1  # the issue: 5 arrivals within 1 s
    assert tightest(crowded) < 1.0
    held = replay(lateness, processes=3)
    assert refused_by_the_api(held) == 0
    assert tightest(held) >= 1.0


@settings(max_examples=60, deadline=None)
@given(
    lateness=st.lists(
        st.one_of(st.just(0.0), st.floats(0.0, 0.05), st.floats(0.0, 0.8)),
        min_size=12,
        max_size=40,
    ),
    processes=st.integers(1, 4),
)
def test_however_late_requests_leave_no_window_of_the_api_is_crowded(
    lateness: list[float], processes: int
) -> None:
    arrivals = replay(lateness, processes)
    assert len(arrivals) == len(lateness)
    assert refused_by_the_api(arrivals) == 0
    assert tightest(arrivals) >= 1.0


def test_a_late_request_spaces_the_next_turn_from_when_it_left() -> None:
    clock = FakeClock()
    mine = TokenPacer(RATE, clock=clock, headroom=0)
    assert isinstance(mine, Departures)
    assert mine.try_turn() == 0
    clock.now += 0.1  # descheduled before the request went
    leaving(mine)
    assert mine.try_turn() == pytest.approx(0.25)  # from 1000.1, not from 1000.0
    assert mine.state().departures == [pytest.approx(1000.1)]


def test_a_request_on_time_costs_no_second_look_at_the_state(tmp_path: Path) -> None:
    clock = FakeClock()
    pacer = TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock, headroom=0)
    assert pacer.try_turn() == 0
    written = (tmp_path / "k.json").read_bytes()
    clock.now += LATE_TOLERANCE / 2
    pacer.leaving()
    assert (tmp_path / "k.json").read_bytes() == written
    pacer.leaving()  # no turn outstanding: nothing to record
    assert pacer.state().departures == [1000.0]


def test_departures_are_kept_for_one_window_of_the_rate() -> None:
    clock = FakeClock()
    pacer = TokenPacer(RATE, clock=clock, headroom=0)
    for _ in range(10):
        take_turn(pacer, clock)
    assert len(pacer.state().departures) == int(RATE)
    fast = TokenPacer(1000, clock=clock)
    for _ in range(100):
        take_turn(fast, clock)
    assert len(fast.state().departures) == MAX_DEPARTURES


def test_damaged_departures_are_repaired_by_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    path = tmp_path / "k.json"
    pacer = TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock)
    for hostile in ("soon", [1, "x"], [float(i) for i in range(MAX_DEPARTURES + 1)]):
        path.write_text(json.dumps({"next_turn": 999.0, "departures": hostile}))
        assert pacer.try_turn() == 0
        assert str(path) in caplog.text and "departures" in caplog.text
        caplog.clear()
    path.write_text(json.dumps({"departures": [1000.0, 1000.0 + 10 * 86400]}))
    assert pacer.state().departures == [1000.0]  # an instant days ahead is not kept
    assert "ahead" in caplog.text


def test_a_shorter_state_is_written_over_a_longer_one_in_one_piece(tmp_path: Path) -> None:
    # The file is rewritten in place, padded to its length, never truncated after the write:
    # a process killed between two system calls cannot leave the new state followed by the
    # tail of the old, which would read as no state at all (no pace for the next turn).
    clock = FakeClock()
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"next_turn": 999.5, "written_by": "an older pacer " * 30}))
    pacer = TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock)
    size = path.stat().st_size
    assert pacer.try_turn() == 0  # rewrites the state, shorter (without the unknown key)
    state = pacer.state()
    assert path.stat().st_size == size
    assert PaceState.from_json(path.read_bytes()) == state


def _take_turns_then_die(state_dir: str, now: float, turns: int) -> None:
    """A task that takes ``turns`` turns (its requests leave), then is killed with SIGKILL."""
    clock = FakeClock(now)
    pacer = TokenPacer(RATE, key="k", state_dir=state_dir, clock=clock)
    for _ in range(turns):
        take_turn(pacer, clock)
    os.kill(os.getpid(), signal.SIGKILL)


def test_the_retry_of_a_killed_task_waits_for_the_window_the_killed_one_used(
    tmp_path: Path,
) -> None:
    ctx = multiprocessing.get_context("spawn")
    killed = ctx.Process(target=_take_turns_then_die, args=(str(tmp_path), 1000.0, 4))
    killed.start()
    killed.join(timeout=60)
    assert killed.exitcode == -signal.SIGKILL
    clock = FakeClock(1000.8)  # the retry starts while the killed task's window is open
    retry = TokenPacer(RATE, key="k", state_dir=tmp_path, clock=clock, headroom=0.03)
    state = retry.state()
    assert state.turns == 4 and len(state.departures) == 4
    first = retry.try_turn()
    assert clock.now + first == pytest.approx(state.departures[0] + 4 / (RATE * 0.97))
