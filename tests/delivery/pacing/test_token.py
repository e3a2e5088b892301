"""The shared pace of a token: spacing, 429 holds and shares (fake clock), one file shared by
real processes, and machines converging on one token (simulated, against the emulator's
own limiter)."""

from __future__ import annotations

import heapq
import itertools
import json
import multiprocessing
from pathlib import Path

import pytest

from airflow_provider_bulkdots.delivery.pacing.token import (
    Adaptation,
    PaceState,
    TokenPacer,
    WaitTooLong,
    pacer_key,
)
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter as ServerLimit

TOKEN = "BBFF-pacing-secret-0123456789"


class FakeClock:
    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def turns_at(pacer: TokenPacer, clock: FakeClock, count: int) -> list[float]:
    """The instants of ``count`` turns, waiting on the fake clock."""
    taken = []
    for _ in range(count):
        pacer.wait_turn(lambda s: setattr(clock, "now", clock.now + s))
        taken.append(clock.now)
    return taken


def gaps(instants: list[float]) -> list[float]:
    ordered = sorted(instants)
    return [b - a for a, b in itertools.pairwise(ordered)]


def test_turns_are_spaced_at_the_rate_without_a_burst() -> None:
    clock = FakeClock()
    pacer = TokenPacer(4, clock=clock, headroom=0)
    assert turns_at(pacer, clock, 5) == pytest.approx([1000, 1000.25, 1000.5, 1000.75, 1001])
    clock.now += 60  # idle time is not saved up
    first, second = turns_at(pacer, clock, 2)
    assert second - first == pytest.approx(0.25)


def test_headroom_keeps_a_margin_under_the_rate() -> None:
    clock = FakeClock()
    pacer = TokenPacer(20, clock=clock)
    assert gaps(turns_at(pacer, clock, 3)) == pytest.approx([1 / (20 * 0.97)] * 2)


def test_no_rate_means_no_wait_and_no_state(tmp_path: Path) -> None:
    pacer = TokenPacer(0, key="k", state_dir=tmp_path)
    assert [pacer.try_turn() for _ in range(100)] == [0.0] * 100
    assert list(tmp_path.iterdir()) == []


def test_a_429_holds_every_turn_and_shrinks_the_share_once_per_burst() -> None:
    clock = FakeClock()
    pacer = TokenPacer(10, clock=clock, headroom=0, adaptation=Adaptation(increase=0.1))
    turns_at(pacer, clock, 1)
    for _ in range(3):  # three requests in flight are refused together
        pacer.throttled(2.0)
    state = pacer.state()
    assert state.share == pytest.approx(0.9)  # a lone burst: timing, not contention
    assert state.throttled == 3
    assert pacer.try_turn() == pytest.approx(2.0)
    (first,) = turns_at(pacer, clock, 1)
    assert first == pytest.approx(1002.0)
    (second,) = turns_at(pacer, clock, 1)
    assert second - first == pytest.approx(1 / 9)


def test_a_burst_soon_after_another_halves_the_share() -> None:
    clock = FakeClock()
    adaptation = Adaptation(increase=0, contention_window=30)
    pacer = TokenPacer(10, clock=clock, headroom=0, adaptation=adaptation)
    pacer.throttled(1.0)
    clock.now += 20  # within the window: another machine draws on the token
    pacer.throttled(1.0)
    assert pacer.state().share == pytest.approx(0.9 * 0.5)
    clock.now += 31  # a quiet spell, then a 429 while pacing at under half the rate:
    pacer.throttled(1.0)  # not this machine's jitter, so the token is contended
    assert pacer.state().share == pytest.approx(0.9 * 0.5 * 0.5)


def test_a_lone_429_near_the_whole_rate_costs_a_tenth_of_the_share() -> None:
    clock = FakeClock()
    pacer = TokenPacer(10, clock=clock, headroom=0, adaptation=Adaptation(increase=0.01))
    pacer.throttled(1.0)
    assert pacer.state().share == pytest.approx(0.9)
    clock.now += 40  # 39 quiet seconds after the hold give the share back
    pacer.try_turn()
    assert pacer.state().share == 1.0
    pacer.throttled(1.0)  # lone again: jitter, not contention
    assert pacer.state().share == pytest.approx(0.9)


def test_the_share_grows_back_additively_after_the_hold() -> None:
    clock = FakeClock()
    adaptation = Adaptation(increase=0.1, jitter_decrease=0.5)
    pacer = TokenPacer(10, clock=clock, headroom=0, adaptation=adaptation)
    pacer.throttled(1.0)
    assert pacer.state().share == pytest.approx(0.5)
    clock.now += 1.0 + 0.2 + 3.0  # the hold, one interval of calm, then 3 quiet seconds
    pacer.try_turn()
    assert pacer.state().share == pytest.approx(0.8)
    clock.now += 10
    pacer.try_turn()
    assert pacer.state().share == 1.0


def test_the_share_never_falls_below_its_floor() -> None:
    clock = FakeClock()
    pacer = TokenPacer(4, clock=clock, adaptation=Adaptation(min_share=0.1))
    for _ in range(10):
        pacer.throttled(1.0)
        clock.now += 5
    assert pacer.state().share == pytest.approx(0.1)


def test_a_wait_over_the_threshold_is_handed_back_not_slept() -> None:
    clock = FakeClock()
    pacer = TokenPacer(4, clock=clock)
    pacer.throttled(120.0)
    slept: list[float] = []
    with pytest.raises(WaitTooLong) as raised:
        pacer.wait_turn(slept.append, defer_over=60)
    assert raised.value.seconds == pytest.approx(120)
    assert slept == []
    pacer.throttled(0)  # a short hold is waited in place
    clock.now += 119.5
    assert pacer.wait_turn(lambda s: setattr(clock, "now", clock.now + s), 60) == pytest.approx(0.5)


def test_the_state_file_is_named_by_a_hash_and_never_holds_the_token(tmp_path: Path) -> None:
    key = pacer_key("https://industrial.api.ubidots.com", TOKEN)
    assert TOKEN not in key
    assert key != pacer_key("https://things.ubidots.com", TOKEN)
    assert key != pacer_key("https://industrial.api.ubidots.com", TOKEN + "x")
    pacer = TokenPacer(4, key=key, state_dir=tmp_path / "rate")
    pacer.try_turn()
    pacer.throttled(1.0)
    assert pacer.path == tmp_path / "rate" / f"{key}.json"
    text = pacer.path.read_text()
    assert TOKEN not in text
    assert json.loads(text)["throttled"] == 1
    assert oct((tmp_path / "rate").stat().st_mode & 0o777) == oct(0o700)


def test_pacers_of_one_token_share_turns_through_the_file(tmp_path: Path) -> None:
    clock = FakeClock()
    one = TokenPacer(4, key="k", state_dir=tmp_path, clock=clock, headroom=0)
    other = TokenPacer(4, key="k", state_dir=tmp_path, clock=clock, headroom=0)
    stranger = TokenPacer(4, key="other", state_dir=tmp_path, clock=clock, headroom=0)
    assert one.try_turn() == 0
    assert other.try_turn() == pytest.approx(0.25)
    assert stranger.try_turn() == 0
    one.throttled(5)
    assert other.try_turn() == pytest.approx(5)


def test_an_unreadable_or_stale_state_starts_afresh(tmp_path: Path) -> None:
    clock = FakeClock()
    pacer = TokenPacer(4, key="k", state_dir=tmp_path, clock=clock)
    tmp_path.joinpath("k.json").write_text('{"next_turn": "soon", "share": [')
    assert pacer.try_turn() == 0
    tmp_path.joinpath("k.json").write_text(json.dumps({"next_turn": clock.now + 10 * 86400}))
    assert pacer.try_turn() == 0  # a clock that jumped back does not block for days
    assert PaceState.from_json(b"[1, 2]") == PaceState()


# -- real processes on one file ------------------------------------------------------------

RATE = 20.0
SECONDS = 3.0


def _take_turns(index: int, state_dir: str, barrier: object, results: object, threads: int) -> None:
    """One worker process: ``threads`` threads take turns for ``SECONDS``; report the instants."""
    import threading
    import time

    read = threading.local()

    def clock() -> float:  # the instant each thread last read, under the state's lock
        read.now = time.time()
        return read.now

    pacer = TokenPacer(RATE, key="shared", state_dir=state_dir, clock=clock)
    taken: list[float] = []
    lock = threading.Lock()
    barrier.wait()  # type: ignore[attr-defined]
    end = time.time() + SECONDS

    def run() -> None:
        while True:
            pacer.wait_turn(time.sleep)
            if read.now >= end:
                return
            with lock:
                taken.append(read.now)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    results.put((index, taken))  # type: ignore[attr-defined]


def test_processes_on_one_token_share_the_rate_and_none_starves(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    threads = [1, 2, 4, 1]  # uneven demand, as tasks with different max_in_flight
    barrier = ctx.Barrier(len(threads))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=_take_turns, args=(i, str(tmp_path), barrier, results, n))
        for i, n in enumerate(threads)
    ]
    for process in processes:
        process.start()
    per_process = [taken for _, taken in sorted(results.get(timeout=120) for _ in processes)]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    everything = [t for taken in per_process for t in taken]
    spacing = 1 / (RATE * 0.97)
    # Taken under one lock from one clock: never two turns closer than the spacing, so no
    # one-second window ever holds more than the rate, whichever process took them.
    assert min(gaps(everything)) >= spacing * (1 - 1e-6)
    assert len(everything) <= RATE * SECONDS + 1
    # Turns go in queue order: each process gets about its waiters' part, none starves.
    for waiters, taken in zip(threads, per_process, strict=True):
        expected = len(everything) * waiters / sum(threads)
        assert len(taken) >= 0.5 * expected, [len(t) for t in per_process]


# -- machines converging on one token -------------------------------------------------------


def simulate(machines: int, rate: float, seconds: float) -> tuple[list[int], int, list[float]]:
    """Machines with their own state, each wanting the whole rate, against the API's limit.

    Discrete events on a fake clock: each machine's sender takes a turn, sends, and on a 429
    honours Retry-After. Returns the accepted requests per machine (after a warm-up of a
    quarter of the time), the 429s in that span, and the final shares.
    """
    clock = FakeClock(0.0)
    server = ServerLimit(rate, clock=clock)
    pacers = [TokenPacer(rate, clock=clock) for _ in range(machines)]
    events = [(0.001 * m, m) for m in range(machines)]
    accepted = [0] * machines
    refused = 0
    warm_up = seconds / 4
    while events:
        when, machine = heapq.heappop(events)
        if when > seconds:
            break
        clock.now = when
        wait = pacers[machine].try_turn()
        if wait > 0:
            heapq.heappush(events, (when + wait, machine))
            continue
        retry_after = server.acquire("token")
        counted = when >= warm_up
        if retry_after is None:
            accepted[machine] += counted
        else:
            refused += counted
            pacers[machine].throttled(float(max(1, int(retry_after + 0.999))))
        heapq.heappush(events, (when + 0.02, machine))  # the reply's round trip
    return accepted, refused, [p.state().share for p in pacers]


def test_machines_on_one_token_converge_without_a_storm() -> None:
    rate, seconds = 10.0, 600.0
    accepted, refused, _ = simulate(machines=3, rate=rate, seconds=seconds)
    span = seconds * 3 / 4
    total = sum(accepted)
    assert total / (rate * span) >= 0.7  # most of the token's rate is used
    assert refused / (total + refused) <= 0.03  # a probe now and then, no storm
    fair = total / 3
    assert all(count >= 0.5 * fair for count in accepted), accepted
