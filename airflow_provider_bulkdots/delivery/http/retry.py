"""What to retry, how long to wait, and the retry loop: bounded by a count and a total time.

Retried: 429 and 420 (limits), 5xx except 501, connection errors and timeouts. Not retried:
every other 4xx (400 and 413 are split by the sender instead). A reply lost after the request
was sent (dropped connection, read timeout) has a lost reply: the API may have stored
it, so it is retried only when ``resend_lost_replies`` is on.

The loop is tenacity's: it stops after ``max_retries`` retries or before a wait that would
end past ``max_retry_seconds``, waits per :meth:`RetryPolicy.wait` (``Retry-After`` first),
and spends its waits through the caller's ``sleep``, which may raise to stop it at once.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity

from airflow_provider_bulkdots.delivery.http.attempt import LostReply, Outcome, Retryable
from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer
from airflow_provider_bulkdots.delivery.settings import DEFAULTS, DeliverySettings
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, within ``max_retries`` and ``max_retry_seconds``.

    ``backoff_base`` is the first wait (doubling each retry up to ``backoff_max``);
    ``retry_after_floor`` is the least wait after a limit reply, even when ``Retry-After`` says
    0 or is missing. Set both to 0 to switch the waits off in tests. The bounds default to
    the settings' declaration (``delivery.settings.SETTINGS``).
    """

    max_retries: int = DEFAULTS["max_retries"]
    max_retry_seconds: float = DEFAULTS["max_retry_seconds"]
    resend_lost_replies: bool = DEFAULTS["resend_lost_replies"]
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_floor: float = 0.25

    @classmethod
    def from_settings(cls, settings: DeliverySettings) -> RetryPolicy:
        """The policy of resolved settings (the waits keep their defaults)."""
        return cls(
            max_retries=settings.max_retries,
            max_retry_seconds=settings.max_retry_seconds,
            resend_lost_replies=settings.resend_lost_replies,
        )

    def wait(
        self,
        retry_number: int,
        retry_after: float | None = None,
        limited: bool = False,
        rng: random.Random | None = None,
    ) -> float:
        """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

        ``limited`` marks a 429/420: its wait is at least ``retry_after_floor``. Jitter spreads
        the threads so they do not come back together.
        """
        uniform = (rng or random).uniform
        exponential = min(self.backoff_max, self.backoff_base * 2 ** (retry_number - 1))
        jittered = exponential / 2 + uniform(0, exponential / 2)
        floor = self.retry_after_floor
        if retry_after is not None:
            return max(retry_after, floor) + uniform(0, floor)
        if limited:
            return max(floor, jittered)
        return jittered

    def stop(self) -> tenacity.stop.stop_base:
        """tenacity's stop condition of these bounds: ``max_retries`` retries, or a wait that
        would end past ``max_retry_seconds`` since the first attempt (writes and reads alike)."""
        return tenacity.stop_after_attempt(self.max_retries + 1) | tenacity.stop_before_delay(
            self.max_retry_seconds
        )

    def retries(self, outcome: Outcome) -> bool:
        """Whether an outcome is sent again: nothing stored, or stored maybe and allowed."""
        if isinstance(outcome, LostReply):  # never after a 2xx status line: final by reading
            return self.resend_lost_replies and outcome.status is None
        return isinstance(outcome, Retryable)

    def outcome_wait(
        self, retry_number: int, outcome: Outcome, rng: random.Random | None = None
    ) -> float:
        """The wait before retry ``retry_number`` of an outcome, per :meth:`wait`."""
        if isinstance(outcome, Retryable):
            return self.wait(retry_number, outcome.retry_after, outcome.limited, rng=rng)
        return self.wait(retry_number, rng=rng)


OnRetry = Callable[[Outcome, float], None]


def send_until_final(
    attempt: Callable[[], Outcome],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None],
    on_retry: OnRetry,
    rng: random.Random | None = None,
    body_id: str = "",
) -> Outcome:
    """Call ``attempt`` until its outcome is final; that outcome.

    Final: acknowledged, refused, or a lost reply not to be resent. ``on_retry(outcome,
    wait)`` runs before each wait. Exceptions of ``attempt`` and ``sleep`` propagate at once.
    Raises :class:`BulkDotsDeliveryError` (with the last status and ``Retry-After``) when
    the count or the total time runs out.
    """

    def wait(state: tenacity.RetryCallState) -> float:
        return policy.outcome_wait(state.attempt_number, _result(state), rng)

    retrying = tenacity.Retrying(
        stop=policy.stop(),
        wait=wait,
        retry=tenacity.retry_if_result(policy.retries),
        sleep=sleep,
        before_sleep=lambda state: on_retry(_result(state), state.upcoming_sleep),
        retry_error_callback=lambda state: _give_up(state, body_id),
    )
    outcome: Outcome = retrying(attempt)
    return outcome


def _result(state: tenacity.RetryCallState) -> Outcome:
    assert state.outcome is not None
    outcome: Outcome = state.outcome.result()
    return outcome


def _give_up(state: tenacity.RetryCallState, body_id: str) -> Outcome:
    last = _result(state)
    assert isinstance(last, Retryable | LostReply)
    raise BulkDotsDeliveryError(
        f"gave up after {state.attempt_number - 1} retries in {state.seconds_since_start:.1f} s; "
        f"last: {last.reason}",
        status=last.status,
        body_id=body_id,
        attempts=state.attempt_number,
        retry_after=last.retry_after if isinstance(last, Retryable) else None,
    )


Result = TypeVar("Result")


class Again(Exception):
    """A request safe to repeat (a read, a delete) to make again: nothing was learned.

    ``limited`` marks a 429/420, whose wait is also reported to the pace (``throttled``).
    """

    def __init__(self, reason: str, retry_after: float | None = None, limited: bool = False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.limited = limited


def repeat_until_answered(
    request: Callable[..., Result],
    *args: Any,
    policy: RetryPolicy,
    pacer: Pacer,
    sleep: Callable[[float], None],
    doing: str,
) -> Result:
    """Call ``request(*args)`` again while it raises :class:`Again`, within the policy's bounds;
    its result. Past them, :class:`BulkDotsDeliveryError` says ``"<doing> gave up after ..."``."""

    def wait(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        again = error if isinstance(error, Again) else Again("")
        seconds = policy.wait(state.attempt_number, again.retry_after, again.limited)
        if again.limited:
            pacer.throttled(seconds)
        return seconds

    def give_up(state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        raise BulkDotsDeliveryError(
            f"{doing} gave up after {state.attempt_number - 1} retries; last: {error}"
        )

    retrying = tenacity.Retrying(
        stop=policy.stop(),
        wait=wait,
        retry=tenacity.retry_if_exception_type(Again),
        sleep=sleep,
        retry_error_callback=give_up,
    )
    result: Result = retrying(request, *args)
    return result
