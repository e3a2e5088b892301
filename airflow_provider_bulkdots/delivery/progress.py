"""Progress lines a person can read: how far, how long still, how fast against the limit.

A :class:`ProgressMeter` is fed each body's result as it is acknowledged, with how far into
the input that body reached (rows, or bytes of a file). It says when a line is due and writes
it::

    Progress: 41,200/100,000 rows (41.2 %), ETA 2 min 05 s; 96 requests, 3.88 requests/s
    against a limit of 4/s (0.97); 0 throttled, 1 retried.

The final line gives the held ratio: requests per second over the limit, from the first
request to the last. Pure: no Airflow, an injectable clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_bulkdots.delivery.results import SendResult


def format_duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``2 h 07 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class ProgressMeter:
    """Running counts of one delivery and the lines that report them.

    ``total`` is the size of the input in ``unit`` when it is knowable (rows of a list or a
    DataFrame, rows in a Parquet file's metadata, bytes of a CSV or JSON Lines file), else
    ``None``. ``done`` is how far the acknowledged bodies reach into it: ``marks`` maps a
    body's ``seq`` to how far into the input it was built (filled by whoever builds them).
    ``limit`` is the token's rate in requests per second (0: none).
    """

    limit: float
    total: int | None = None
    unit: str = "rows"
    interval: float = 30.0
    clock: Callable[[], float] = time.monotonic
    marks: dict[int, int] = field(default_factory=dict)
    done: int = 0
    bodies: int = 0
    dots: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    _started: float = field(default=0.0, init=False)
    _first_body: float | None = field(default=None, init=False)
    _last_reply: float | None = field(default=None, init=False)
    _last_line: float = field(default=0.0, init=False)
    _last_requests: int = field(default=0, init=False)
    _start_done: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._started = self._last_line = self.clock()

    def start_at(self, done: int) -> None:
        """The input an earlier try had already delivered (not counted in the speed)."""
        self.done = max(self.done, done)

    def sending(self) -> None:
        """The first body is about to be sent (called again, it changes nothing)."""
        if self._first_body is None:
            self._first_body = self.clock()

    def add(self, result: SendResult, reached: int | None = None) -> None:
        """Count one body's requests; ``reached`` is how far into the input it goes
        (by default, its mark)."""
        self._last_reply = self.clock()
        mark = self.marks.pop(result.seq, None)
        reached = mark if reached is None else reached
        if self._start_done is None:
            self._start_done = self.done
        self.requests += result.requests
        self.retries += result.retries
        self.throttled += result.statuses.get("429", 0) + result.statuses.get("420", 0)
        if result.acknowledged:
            self.bodies += 1
            self.dots += result.dots - len(result.rejected)
        if reached is not None:
            self.done = max(self.done, reached)

    def due(self) -> bool:
        """Whether a progress line is due (every ``interval`` seconds)."""
        return self.clock() - self._last_line >= self.interval

    def eta(self) -> float | None:
        """Seconds still needed at the pace so far, when the total is known."""
        if self.total is None or self._start_done is None:
            return None
        gained = self.done - self._start_done
        elapsed = self.clock() - (self._first_body or self._started)
        if gained <= 0 or elapsed <= 0:
            return None
        return max(0, self.total - self.done) * elapsed / gained

    def _how_far(self) -> str:
        if self.total is None:
            return f"{self.bodies:,} bodies, {self.dots:,} dots"
        percent = 100 * self.done / self.total if self.total else 100.0
        text = f"{self.done:,}/{self.total:,} {self.unit} ({percent:.1f} %)"
        eta = self.eta()
        return text + (f", ETA {format_duration(eta)}" if eta is not None else "")

    def _against_limit(self, rate: float) -> str:
        if not self.limit:
            return f"{rate:.2f} requests/s (no limit)"
        return (
            f"{rate:.2f} requests/s against a limit of {self.limit:g}/s ({rate / self.limit:.2f})"
        )

    def line(self) -> str:
        """The progress line; the speed is the one since the previous line."""
        now = self.clock()
        rate = (self.requests - self._last_requests) / max(now - self._last_line, 1e-9)
        self._last_line, self._last_requests = now, self.requests
        return (
            f"Progress: {self._how_far()}; {self.requests:,} requests, "
            f"{self._against_limit(rate)}; {self.throttled} throttled, {self.retries} retried."
        )

    def held(self) -> tuple[float, float]:
        """Seconds from the first body sent to the last reply, and the requests/s over them."""
        if self._first_body is None or self._last_reply is None:
            return 0.0, 0.0
        span = self._last_reply - self._first_body
        return span, (self.requests / span if span > 0 else 0.0)

    def final_line(self) -> str:
        """The closing line, with the held ratio: requests/s over the limit."""
        span, rate = self.held()
        held = f", held {rate / self.limit:.2f} of the limit" if self.limit and rate else ""
        return (
            f"Delivered: {self._how_far()}; {self.requests:,} requests in "
            f"{format_duration(span)}, {self._against_limit(rate)}{held}; "
            f"{self.throttled} throttled, {self.retries} retried."
        )
