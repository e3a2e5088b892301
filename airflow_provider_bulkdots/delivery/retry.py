"""What to retry and how long to wait: bounded by a count and by a total time.

Retried: 429 and 420 (limits), 5xx except 501, connection errors and timeouts. Not retried:
every other 4xx (400 and 413 are split by the sender instead). A reply lost after the request
was sent (dropped connection, read timeout) has an *unknown outcome*: the API may have stored
it, so it is retried only when ``retry_unknown_outcome`` is on.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass

RETRY_STATUSES = frozenset({420, 429})


def is_retryable_status(status: int) -> bool:
    """A limit reply, or a server error other than 501 Not Implemented."""
    return status in RETRY_STATUSES or (500 <= status <= 599 and status != 501)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (a number or an HTTP date), else ``None``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, within ``max_retries`` and ``max_retry_seconds``.

    ``backoff_base`` is the first wait (doubling each retry up to ``backoff_max``);
    ``retry_after_floor`` is the least wait after a limit reply, even when ``Retry-After`` says
    0 or is missing. Set both to 0 to switch the waits off in tests.
    """

    max_retries: int = 8
    max_retry_seconds: float = 300.0
    retry_unknown_outcome: bool = True
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_floor: float = 0.25

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

    def allows(self, retries_done: int, elapsed: float, next_wait: float) -> bool:
        """Whether one more retry fits in the count and in the total time."""
        return retries_done < self.max_retries and elapsed + next_wait <= self.max_retry_seconds
