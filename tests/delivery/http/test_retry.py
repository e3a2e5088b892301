"""What is retried, how long the waits are, and where retrying stops."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from airflow_provider_bulkdots.delivery.http.attempt import (
    Acknowledged,
    LostReply,
    Outcome,
    Refused,
    Retryable,
    is_retryable_status,
    parse_retry_after,
)
from airflow_provider_bulkdots.delivery.http.retry import RetryPolicy, send_until_final
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504, 599])
def test_retryable(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 405, 413, 415, 420, 423, 501])
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


class Script:
    """An attempt that answers the given outcomes in turn, and the waits it was given."""

    def __init__(self, *outcomes: Outcome) -> None:
        self._outcomes: Iterator[Outcome] = iter(outcomes)
        self.calls = 0
        self.waits: list[float] = []
        self.retried: list[tuple[Outcome, float]] = []

    def attempt(self) -> Outcome:
        self.calls += 1
        return next(self._outcomes)

    def run(self, policy: RetryPolicy) -> Outcome:
        return send_until_final(
            self.attempt,
            policy,
            sleep=self.waits.append,
            on_retry=lambda outcome, wait: self.retried.append((outcome, wait)),
            rng=random.Random(0),
            body_id="000001-x",
        )


BUSY = Retryable(503, "HTTP 503: busy")
LIMITED = Retryable(429, "HTTP 429: slow down", retry_after=2.0, limited=True)
LOST = LostReply("reply lost: ReadTimeout")
DONE = Acknowledged(200, "t-1")


def test_retries_until_final_and_spends_each_wait_through_sleep() -> None:
    script = Script(BUSY, LIMITED, DONE)
    assert script.run(RetryPolicy(max_retries=5)) == DONE
    assert script.calls == 3
    assert [outcome for outcome, _ in script.retried] == [BUSY, LIMITED]
    assert script.waits == [wait for _, wait in script.retried]
    assert 2.0 <= script.waits[1] <= 2.25, "Retry-After honoured"


def test_refused_is_final() -> None:
    refused = Refused(400, {"detail": "bad"})
    script = Script(refused)
    assert script.run(RetryPolicy()) == refused
    assert script.waits == []


def test_lost_replies_resent_only_when_allowed() -> None:
    assert Script(LOST, DONE).run(RetryPolicy(resend_lost_replies=True)) == DONE
    kept = Script(LOST, DONE)
    assert kept.run(RetryPolicy(resend_lost_replies=False)) == LOST
    assert kept.calls == 1


def test_stops_by_count_with_the_last_reply() -> None:
    script = Script(*[LIMITED] * 10)
    with pytest.raises(BulkDotsDeliveryError) as caught:
        script.run(RetryPolicy(max_retries=3))
    assert script.calls == 4
    assert (caught.value.status, caught.value.attempts) == (429, 4)
    assert caught.value.retry_after == 2.0, "the 429's requested wait is carried"
    assert caught.value.body_id == "000001-x"
    assert "gave up after 3 retries" in str(caught.value)


def test_stops_before_a_wait_past_the_total_time() -> None:
    script = Script(*[LIMITED] * 10)
    with pytest.raises(BulkDotsDeliveryError, match="gave up after 0 retries"):
        script.run(RetryPolicy(max_retries=10, max_retry_seconds=1.0))
    assert script.waits == [], "a 2 s Retry-After does not fit in 1 s"


def test_a_raising_sleep_stops_the_loop_at_once() -> None:
    class Stop(Exception):
        pass

    def sleep(seconds: float) -> None:
        raise Stop

    with pytest.raises(Stop):
        send_until_final(lambda: BUSY, RetryPolicy(), sleep=sleep, on_retry=lambda o, w: None)
