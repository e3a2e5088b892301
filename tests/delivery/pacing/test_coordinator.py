"""The token's pace on a real Redis (a ``redis-server`` started for this module): turns spaced
across processes whose clocks disagree, the token never stored, requests and dots limits at
once, live before backfill, deferral, and the machine's own pace while Redis is unreachable,
paused or restarted."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.pacing.coordinator import CoordinatedPacer, SharedLimits
from airflow_provider_bulkdots.delivery.pacing.token import (
    DEFAULT_HEADROOM,
    TokenPacer,
    WaitTooLong,
    pacer_key,
)
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter
from tests.redis_server import RedisServer, running_redis

TOKEN = "BBFF-coordinator-secret-7f3a9c"
KEY = pacer_key("http://127.0.0.1:1", TOKEN)


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with running_redis() as started:
        yield started


@pytest.fixture
def redis_db(server: RedisServer) -> Iterator[RedisServer]:
    if server.process is None:  # a test stopped it
        server.start()
    server.client().flushall()
    yield server


def bounded_client(port: int, timeout: float = 0.5) -> Any:
    """A client as the hook builds it: bounded calls, one reconnection."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis(
        host="127.0.0.1",
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
    )


def make_pacer(port: int, rate: float, **kwargs: Any) -> CoordinatedPacer:
    local = kwargs.pop("local", None) or TokenPacer(rate)
    headroom = kwargs.pop("headroom", 0.0)
    limits = SharedLimits(rate, kwargs.pop("dots_per_hour", 0.0), headroom=headroom)
    return CoordinatedPacer(bounded_client(port), key=KEY, limits=limits, local=local, **kwargs)


def refused(instants: list[float], rate: float) -> int:
    """How many of these arrivals the emulator's sliding window would refuse."""
    clock = {"now": 0.0}
    limit = EmulatorRateLimiter(rate, clock=lambda: clock["now"])
    count = 0
    for instant in sorted(instants):
        clock["now"] = instant
        count += limit.acquire("token") is not None
    return count


# -- many processes, one pace ---------------------------------------------------------------

RATE = 20.0


def _machine(port: int, skew: float, turns: int, threads: int, barrier: Any, out: Any) -> None:
    """One 'machine': its wall clock off by ``skew`` seconds, ``threads`` threads taking turns."""
    import time as clock_module

    real_time = clock_module.time
    clock_module.time = lambda: real_time() + skew  # type: ignore[assignment]
    pacer = make_pacer(port, RATE, local=TokenPacer(RATE), headroom=DEFAULT_HEADROOM)
    taken: list[float] = []
    lock = threading.Lock()
    barrier.wait()

    def run() -> None:
        for _ in range(turns):
            pacer.wait_turn(clock_module.sleep)
            with lock:
                taken.append(clock_module.monotonic())  # one clock for every process

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.put((taken, pacer.fallbacks))


def test_machines_share_one_pace_spaced_and_without_a_refusal(redis_db: RedisServer) -> None:
    ctx = multiprocessing.get_context("spawn")
    skews, threads, turns = (0.0, 7.5, -4.0), (1, 3, 2), 10
    barrier, out = ctx.Barrier(len(skews)), ctx.Queue()
    processes = [
        ctx.Process(target=_machine, args=(redis_db.port, skew, turns, n, barrier, out))
        for skew, n in zip(skews, threads, strict=True)
    ]
    for process in processes:
        process.start()
    reports = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    instants = sorted(t for taken, _ in reports for t in taken)
    assert len(instants) == turns * sum(threads)
    assert all(fallbacks == 0 for _, fallbacks in reports)
    assert refused(instants, RATE) == 0  # the API's own window would accept every one
    # How much of the rate a fleet holds is a speed: bench/bench_fleet.py measures it (0.967),
    # beside the per-machine pace as its baseline; a timed assertion here failed under load.


def test_the_token_never_reaches_redis(redis_db: RedisServer) -> None:
    pacer = make_pacer(redis_db.port, 50, priority="backfill")
    for _ in range(3):
        pacer.wait_turn(time.sleep)
    client = redis_db.client()
    keys = client.keys("*")
    assert keys and all(KEY.encode() in key for key in keys)
    dumped = b"".join(client.dump(key) or b"" for key in keys)
    assert TOKEN.encode() not in dumped and TOKEN.encode() not in b"".join(keys)


# -- two limits at once ----------------------------------------------------------------------


def test_the_tighter_limit_paces_and_is_named(redis_db: RedisServer) -> None:
    # 100 requests/s, but 36,000 dots an hour (10 dots/s): 5 dots leave every 0.5 s.
    pacer = make_pacer(redis_db.port, 100, dots_per_hour=36_000, priority="live")
    waits = []
    for _ in range(3):
        waits.append(pacer.wait_turn(time.sleep, dots=5))
    assert waits[0] == pytest.approx(0, abs=0.02)
    assert waits[1] == pytest.approx(0.5, abs=0.05) and waits[2] == pytest.approx(0.5, abs=0.05)
    assert pacer.waiting_on == "dots_per_hour"
    reads = make_pacer(redis_db.port, 100, dots_per_hour=36_000, priority="live")
    reads.wait_turn(time.sleep)  # a read carries no dots: only the request limit
    reads.wait_turn(time.sleep)
    assert reads.waiting_on in ("dots_per_hour", "rate_limit")


def test_a_per_hour_window_defers_instead_of_waiting(redis_db: RedisServer) -> None:
    pacer = make_pacer(redis_db.port, 2 / 3600, priority="live")  # 2 requests an hour
    assert pacer.wait_turn(time.sleep, defer_over=60) == 0
    for _ in range(2):  # asked twice: nothing is reserved by a wait that is deferred
        with pytest.raises(WaitTooLong) as deferred:
            pacer.wait_turn(time.sleep, defer_over=60)
        assert 1700 < deferred.value.seconds <= 1800
    assert pacer.waiting_on == "rate_limit"


# -- live before backfill ----------------------------------------------------------------------


def test_live_waits_one_backfill_turn_at_most_and_backfills_keep_their_order(
    redis_db: RedisServer,
) -> None:
    rate = 10.0
    interval = 1 / rate
    state = f"bulkdots:pace:{{{KEY}}}"
    client = redis_db.client()
    order: list[int] = []
    lock = threading.Lock()

    def backfill(index: int) -> None:
        make_pacer(redis_db.port, rate).wait_turn(time.sleep)
        with lock:
            order.append(index)

    def queued(count: int) -> None:
        deadline = time.monotonic() + 10
        while int(client.hget(state, "seq") or 0) < count:
            assert time.monotonic() < deadline, "the backfill did not reach the coordinator"
            time.sleep(0.001)

    workers = []
    for index in range(12):  # 12 backfill requests queue, one after the other
        worker = threading.Thread(target=backfill, args=(index,))
        worker.start()
        workers.append(worker)
        queued(index + 1)
    live = make_pacer(redis_db.port, rate, priority="live")
    live_waits = [live.wait_turn(time.sleep) for _ in range(4)]
    assert len(order) < 8  # the live requests did not wait for the backfill queue
    for worker in workers:
        worker.join()
    assert order == sorted(order)  # first come, first served among backfills
    # Each live request waits for the turn already taken and one backfill turn at most.
    assert max(live_waits) <= 2 * interval + 0.03


def test_a_backfill_that_stops_waiting_leaves_the_queue(redis_db: RedisServer) -> None:
    pacer = make_pacer(redis_db.port, 2)
    pacer.wait_turn(time.sleep)

    class Stop(Exception):
        pass

    def give_up(seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        pacer.wait_turn(give_up)
    assert redis_db.client().zcard(f"bulkdots:pace:{{{KEY}}}:queue") == 0


# -- faults ------------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_unreachable_then_back(redis_db: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    local = TokenPacer(10, clock=time.time)
    pacer = make_pacer(redis_db.port, 10, local=local, clock=clock, priority="live")
    redis_db.stop()
    caplog.set_level(logging.WARNING)
    for _ in range(3):
        pacer.wait_turn(time.sleep)
    assert pacer.fallbacks == 1
    assert local.state().turns == 3  # the machine's own pace took them
    warned = [r for r in caplog.records if "Rate coordinator unreachable" in r.getMessage()]
    assert len(warned) == 1
    redis_db.start()
    clock.now += 10  # past retry_after: the coordinator is asked again
    pacer.wait_turn(time.sleep)
    assert local.state().turns == 3
    assert redis_db.client().exists(f"bulkdots:pace:{{{KEY}}}")
    assert pacer.fallbacks == 1


def test_a_paused_coordinator_is_not_waited_for(redis_db: RedisServer) -> None:
    local = TokenPacer(10)
    pacer = make_pacer(redis_db.port, 10, local=local, priority="live")
    pacer.wait_turn(time.sleep)
    redis_db.client().execute_command("CLIENT", "PAUSE", "3000", "ALL")
    started = time.monotonic()
    pacer.wait_turn(time.sleep)
    assert time.monotonic() - started < 2.5  # two bounded tries, not the whole pause
    assert pacer.fallbacks == 1 and local.state().turns == 1


def test_a_restarted_coordinator_is_used_again_at_once(redis_db: RedisServer) -> None:
    local = TokenPacer(20)
    pacer = make_pacer(redis_db.port, 20, local=local, headroom=DEFAULT_HEADROOM)
    for _ in range(3):
        pacer.wait_turn(time.sleep)
    redis_db.restart()  # every key and the loaded script are gone
    instants = []
    for _ in range(5):
        pacer.wait_turn(time.sleep)
        instants.append(time.monotonic())
    assert pacer.fallbacks == 0 and local.state().turns == 0
    assert refused(instants, 20) == 0
