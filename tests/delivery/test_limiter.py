"""The rate limiter spaces requests; driven by a fake clock."""

from __future__ import annotations

import threading

import pytest

from airflow_provider_bulkdots.delivery.limiter import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_requests_are_spaced_without_burst_from_the_first() -> None:
    clock = FakeClock()
    limiter = RateLimiter(4, clock=clock, headroom=0)
    waits = [limiter.reserve() for _ in range(5)]
    # The first waits one interval too, in case another task just sent on the same token.
    assert waits == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.25])


def test_idle_time_is_not_saved_up_as_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, headroom=0)
    limiter.reserve()
    clock.now += 60
    assert limiter.reserve() == 0
    assert limiter.reserve() == pytest.approx(0.1)


def test_headroom_slows_slightly() -> None:
    limiter = RateLimiter(20, clock=FakeClock())
    first = limiter.reserve()
    assert limiter.reserve() - first == pytest.approx(1 / (20 * 0.97))


def test_zero_rate_means_no_limit() -> None:
    limiter = RateLimiter(0, clock=FakeClock())
    assert [limiter.reserve() for _ in range(100)] == [0] * 100


def test_defer_holds_every_caller() -> None:
    clock = FakeClock()
    limiter = RateLimiter(10, clock=clock, headroom=0)
    limiter.reserve()
    limiter.defer(2.0)
    assert limiter.reserve() == pytest.approx(2.0)
    assert limiter.reserve() == pytest.approx(2.1)


def test_threads_get_distinct_slots() -> None:
    clock = FakeClock()
    limiter = RateLimiter(100, clock=clock, headroom=0)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(50):
            wait = limiter.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(round(w * 100) for w in waits) == list(range(1, 401))


@pytest.mark.parametrize("rate", [-1, float("nan")])
def test_bad_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter(rate)
