"""What is retried, how long the waits are, and where retrying stops."""

from __future__ import annotations

import random

import pytest

from airflow_provider_bulkdots.delivery.retry import (
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)


@pytest.mark.parametrize("status", [420, 429, 500, 502, 503, 504, 599])
def test_retryable(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 405, 413, 415, 423, 501])
def test_not_retryable(status: int) -> None:
    assert not is_retryable_status(status)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1", 1.0),
        ("0", 0.0),
        (" 2.5 ", 2.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after(header, now=now) == expected


def test_exponential_backoff_with_jitter_and_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=4.0)
    rng = random.Random(1)
    for retry, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        for _ in range(20):
            assert full / 2 <= policy.wait(retry, rng=rng) <= full


def test_retry_after_is_honoured_and_zero_still_waits() -> None:
    policy = RetryPolicy(retry_after_floor=0.25)
    rng = random.Random(2)
    assert 3.0 <= policy.wait(1, retry_after=3.0, limited=True, rng=rng) <= 3.25
    assert 0.25 <= policy.wait(1, retry_after=0.0, limited=True, rng=rng) <= 0.5
    assert policy.wait(1, retry_after=None, limited=True, rng=rng) >= 0.25


def test_waits_switch_off() -> None:
    policy = RetryPolicy(backoff_base=0, retry_after_floor=0)
    assert policy.wait(5) == 0
    assert policy.wait(1, retry_after=0, limited=True) == 0


def test_bounded_by_count_and_total_time() -> None:
    policy = RetryPolicy(max_retries=3, max_retry_seconds=10)
    assert policy.allows(0, 0, 1)
    assert policy.allows(2, 8.0, 2.0)
    assert not policy.allows(3, 0, 0)
    assert not policy.allows(1, 9.5, 1.0)
