"""A request-rate limiter shared by the threads of one delivery.

Requests are spaced ``1/rate`` seconds apart: no token bucket, so no burst ever goes over the
rate, even at the start. The first request also waits one interval: a task that starts right
after another one on the same token (a backfill's next day) then continues its spacing instead
of crowding its last second. A 429's ``Retry-After`` pushes the next slot back for every thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

#: Share of the rate kept in reserve: requests reach the API with some jitter, and one that
#: arrives a few milliseconds early must not make the API count ``rate + 1`` in a second.
DEFAULT_HEADROOM = 0.03


class Pacer(Protocol):
    """What the sender asks of a pace: the seam for a limiter shared beyond one task.

    Called from every sending thread at once, so an implementation must be thread-safe.
    :meth:`reserve` runs before each request (the token check included) and returns the
    seconds the caller must wait before sending; the caller spends that wait itself, so a
    stopping delivery can interrupt it. :meth:`defer` runs when the API answered 429/420 with
    the wait about to be spent: later reservations should start no earlier than that.
    """

    def reserve(self) -> float: ...

    def defer(self, seconds: float) -> None: ...


class RateLimiter:
    """Hands out send times ``1 / (rate * (1 - headroom))`` apart; ``rate`` 0 means no limit.

    :meth:`reserve` takes the next slot and returns how long to wait for it; the caller waits
    (so a waiting thread can be woken to stop). The clock is injectable for tests.
    """

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        headroom: float = DEFAULT_HEADROOM,
    ) -> None:
        if rate < 0 or rate != rate:
            raise ValueError(f"rate must be >= 0, not {rate}")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), not {headroom}")
        self.rate = rate
        self.interval = 1.0 / (rate * (1 - headroom)) if rate > 0 else 0.0
        self._clock = clock
        self._lock = threading.Lock()
        self._next: float | None = None

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait until it (0 if now)."""
        with self._lock:
            now = self._clock()
            slot = now + self.interval if self._next is None else max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    def defer(self, seconds: float) -> None:
        """Hold every thread for ``seconds`` from now (the API asked us to slow down)."""
        with self._lock:
            held = self._clock() + seconds
            self._next = held if self._next is None else max(self._next, held)
