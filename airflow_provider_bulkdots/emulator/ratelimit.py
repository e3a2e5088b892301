"""Per-token request limit over a sliding window, with an injectable clock."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

Clock = Callable[[], float]


class EmulatorRateLimiter:
    """Allow at most ``rate`` requests per second per key, counted over a sliding window.

    With ``rate`` >= 1, more than ``floor(rate)`` requests within any 1-second window are
    refused; below 1, one request per ``1 / rate`` seconds. ``rate`` 0 means no limit.
    Refused requests do not count against the window.
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[str, deque[float]] = {}
        self._capacity = 0
        self._window = 1.0
        self.set_rate(rate)

    @property
    def rate(self) -> float:
        """Requests per second; 0 for no limit."""
        return self._rate

    def set_rate(self, rate: float) -> None:
        """Change the limit; the history of recent requests is kept."""
        if not math.isfinite(rate) or rate < 0:
            raise ValueError(f"rate must be a finite number >= 0, got {rate!r}")
        with self._lock:
            self._rate = float(rate)
            if rate:
                self._capacity = max(1, math.floor(rate))
                self._window = self._capacity / rate
            else:
                self._capacity = 0

    def reset(self) -> None:
        """Forget every request seen."""
        with self._lock:
            self._seen.clear()

    def acquire(self, key: str) -> float | None:
        """Count a request for ``key``; None if allowed, else the seconds until it would be."""
        with self._lock:
            if not self._capacity:
                return None
            now = self._clock()
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - self._window:
                seen.popleft()
            if len(seen) < self._capacity:
                seen.append(now)
                return None
            return seen[0] + self._window - now


def retry_after_header(wait_s: float) -> str:
    """A Retry-After value in whole seconds, at least 1."""
    return str(max(1, math.ceil(wait_s)))
