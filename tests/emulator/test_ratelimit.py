"""The per-token rate limit, driven by a fake clock."""

from __future__ import annotations

import pytest

from airflow_provider_bulkdots.emulator import start_emulator
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter, retry_after_header
from tests.emulator.conftest import EXAMPLE, post


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_limiter_sliding_window() -> None:
    clock = FakeClock()
    limiter = EmulatorRateLimiter(4, clock=clock)
    assert [limiter.acquire("t") for _ in range(4)] == [None] * 4
    assert limiter.acquire("t") == pytest.approx(1.0)
    assert limiter.acquire("other") is None  # per token
    clock.now += 0.5
    assert limiter.acquire("t") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.acquire("t") is None  # the first four left the window


def test_limiter_fractional_and_zero() -> None:
    clock = FakeClock()
    slow = EmulatorRateLimiter(0.5, clock=clock)
    assert slow.acquire("t") is None
    assert slow.acquire("t") == pytest.approx(2.0)
    free = EmulatorRateLimiter(0, clock=clock)
    assert all(free.acquire("t") is None for _ in range(1000))
    with pytest.raises(ValueError):
        EmulatorRateLimiter(-1)


def test_retry_after_whole_seconds_at_least_one() -> None:
    assert [retry_after_header(w) for w in (0.0, 0.2, 1.0, 1.01, 4.5)] == ["1", "1", "1", "2", "5"]


def test_over_the_limit_is_429_with_retry_after_and_nothing_stored() -> None:
    clock = FakeClock()
    with start_emulator(rate_limit=4, clock=clock) as emu:
        codes = [post(emu, EXAMPLE).status_code for _ in range(6)]
        assert codes == [200, 200, 200, 200, 429, 429]
        throttled = post(emu, EXAMPLE)
        assert throttled.headers["Retry-After"] == "1"
        assert "throttled" in throttled.json()["detail"]
        assert emu.stats()["requests"] == {"200": 4, "429": 3}
        assert emu.stats()["bodies"] == 4
        clock.now += 1.0
        assert post(emu, EXAMPLE).status_code == 200


def test_rate_limit_comes_after_auth_and_before_the_body() -> None:
    clock = FakeClock()
    with start_emulator(rate_limit=1, clock=clock) as emu:
        assert post(emu, raw=b"not json").status_code == 400  # counted: passed the limit
        assert post(emu, EXAMPLE, token="wrong").status_code == 401  # auth first
        assert post(emu, raw=b"x" * 50_000).status_code == 429  # before size and JSON


def test_set_rate_limit_and_reset_restore() -> None:
    clock = FakeClock()
    with start_emulator(rate_limit=1, clock=clock) as emu:
        assert [post(emu, EXAMPLE).status_code for _ in range(2)] == [200, 429]
        emu.set_rate_limit(0)
        assert [post(emu, EXAMPLE).status_code for _ in range(5)] == [200] * 5
        emu.reset()
        assert [post(emu, EXAMPLE).status_code for _ in range(2)] == [200, 429]


def test_burst_without_fake_clock_gets_some_429() -> None:
    with start_emulator(rate_limit=4) as emu:
        codes = [post(emu, EXAMPLE).status_code for _ in range(12)]
    assert codes.count(429) >= 1
    assert set(codes) <= {200, 429}
