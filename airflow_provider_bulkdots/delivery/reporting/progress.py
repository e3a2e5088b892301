"""Progress lines a person can read: how far, how long still, how fast against the limit.

A :class:`ProgressMeter` is told of each body as it is built (:meth:`~ProgressMeter.built`:
its dots and how far into the input the reader was) and fed each body's result as it is
finished. It says when a line is due and writes it::

    Progress: 41,200/100,000 rows (41.2 %), ETA 2 min 05 s; 96 requests, 3.88 requests/s
    against a limit of 4/s (0.97); 0 throttled, 1 retried.

How far counts *delivered* work, not what the reader consumed: the reader runs ahead of the
API (rows are read in batches, bodies wait in the in-flight window and in spools), so the
input read is scaled by the share of the dots built so far that are finished. The ETA is the
work left at the pace of the last ``pace_window`` seconds (the token's share of a task moves
as other tasks start, end or draw 429s: the pace since the start would promise too much).

The final line gives the held ratio: requests per second over the limit, from the first
request to the last; beside it, when the token's shared pace tells it, the ratio of every
task of the token on this machine over the same span. Pure: no Airflow, an injectable clock.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from airflow_provider_bulkdots.delivery.reporting.results import SendResult


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
    ``None``. ``done`` is how far the finished bodies reach into it (see :meth:`built`).
    ``limit`` is the token's rate in requests per second (0: none). ``token_turns``, when
    given, counts the turns every task of the token on this machine has taken (the shared
    pace's counter): the final line shows the token's held ratio beside this task's.
    """

    limit: float
    total: int | None = None
    unit: str = "rows"
    interval: float = 30.0
    clock: Callable[[], float] = time.monotonic
    token_turns: Callable[[], int] | None = None
    pace_window: float = 60.0
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
    _read_to: int = field(default=0, init=False)
    _built_dots: int = field(default=0, init=False)
    _finished_dots: int = field(default=0, init=False)
    _lost_reply_dots: int = field(default=0, init=False)
    _paces: deque[tuple[float, int]] = field(default_factory=deque, init=False)
    _first_turns: int | None = field(default=None, init=False)
    _last_turns: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._started = self._last_line = self.clock()

    def start_at(self, done: int) -> None:
        """The input an earlier try had already delivered (not counted in the speed)."""
        self.done = max(self.done, done)

    def built(self, seq: int, dots: int, read_to: int) -> None:
        """A body of ``dots`` dots was built with the reader ``read_to`` into the input."""
        self.marks[seq] = dots
        self._built_dots += dots
        self._read_to = max(self._read_to, read_to)

    def finished_before(self, seq: int) -> None:
        """An earlier try finished this body: done already, not counted in the speed."""
        self._finished_dots += self.marks.pop(seq, 0)
        self.start_at(self._delivered())

    def hold(self, seq: int) -> None:
        """The body is held to be read back (an earlier try may have sent it): not done."""
        self._lost_reply_dots += self.marks.pop(seq, 0)

    def reconciled(self, dots: int) -> None:
        """A body whose reply was lost was reconciled by reading back (and resending)."""
        self._lost_reply_dots = max(0, self._lost_reply_dots - dots)
        self._finished_dots += dots
        self.done = max(self.done, self._delivered())

    def all_sent(self) -> None:
        """Every body built was sent or left out (none is still to come): what is not
        finished by now is only what lost its reply (read back after)."""
        self.marks.clear()
        self._finished_dots = max(self._finished_dots, self._built_dots - self._lost_reply_dots)
        self.done = max(self.done, self._delivered())

    def _delivered(self) -> int:
        """How far into the input the finished dots reach: the input read so far, scaled by
        the share of the dots built from it that are finished."""
        if not self._built_dots:
            return 0
        return self._read_to * min(self._finished_dots, self._built_dots) // self._built_dots

    def sending(self) -> None:
        """The first body is about to be sent (called again, it changes nothing)."""
        if self._first_body is None:
            self._first_body = self.clock()
            self._first_turns = self._token_turns()

    def _token_turns(self) -> int | None:
        return self.token_turns() if self.token_turns is not None and self.limit else None

    def add(self, result: SendResult, reached: int | None = None) -> None:
        """Count one body's requests; ``reached`` is how far into the input it goes
        (by default, estimated from the dots finished, see :meth:`built`)."""
        now = self._last_reply = self.clock()
        dots = self.marks.pop(result.seq, None)
        if self._start_done is None:
            self._start_done = self.done
            self._paces.append((self._first_body or now, self.done))
        self.requests += result.requests
        self.retries += result.retries
        self.throttled += result.statuses.get("429", 0) + result.statuses.get("420", 0)
        if result.acknowledged:
            self.bodies += 1
            self.dots += result.dots - len(result.refused)
        if dots is not None and result.acknowledged:  # resends are counted as they finish
            self._finished_dots += dots
        elif dots is not None and result.outcome == "lost_reply":
            self._lost_reply_dots += dots
        self.done = max(self.done, self._delivered() if reached is None else reached)
        self._paces.append((now, self.done))
        while len(self._paces) > 2 and now - self._paces[1][0] >= self.pace_window:
            self._paces.popleft()

    def due(self) -> bool:
        """Whether a progress line is due (every ``interval`` seconds)."""
        return self.clock() - self._last_line >= self.interval

    def eta(self) -> float | None:
        """Seconds still needed at the pace of the last ``pace_window`` seconds, when the
        total is known."""
        if self.total is None or not self._paces:
            return None
        since, done_then = self._paces[0]
        gained = self.done - done_then
        elapsed = self.clock() - since
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

    def line(self, waiting_on: str | None = None) -> str:
        """The progress line; the speed is the one since the previous line. ``waiting_on``
        names the limit the requests last waited for (``rate_limit``, ``dots_per_hour``)."""
        now = self.clock()
        rate = (self.requests - self._last_requests) / max(now - self._last_line, 1e-9)
        self._last_line, self._last_requests = now, self.requests
        waiting = f"; waiting on {waiting_on}" if waiting_on else ""
        return (
            f"Progress: {self._how_far()}; {self.requests:,} requests, "
            f"{self._against_limit(rate)}{waiting}; {self.throttled} throttled, "
            f"{self.retries} retried."
        )

    def held(self) -> tuple[float, float]:
        """Seconds from the first body sent to the last reply, and the requests/s over them."""
        if self._first_body is None or self._last_reply is None:
            return 0.0, 0.0
        span = self._last_reply - self._first_body
        return span, (self.requests / span if span > 0 else 0.0)

    def token_held(self) -> float | None:
        """The token's requests/s over the limit (every task on this machine), from this
        task's first body to its last reply; ``None`` when the shared pace does not say."""
        span, _ = self.held()
        turns = self._token_turns()
        if self._first_turns is None or turns is None or span <= 0:
            return None
        return (turns - self._first_turns) / span / self.limit

    def final_line(self) -> str:
        """The closing line, with the held ratio: requests/s over the limit (this task's,
        and the token's beside it)."""
        span, rate = self.held()
        held = ""
        if self.limit and rate:
            held = f", held {rate / self.limit:.2f} of the limit"
            token = self.token_held()
            if token is not None:
                held += f" by this task ({token:.2f} by every task of the token on this machine)"
        return (
            f"Delivered: {self._how_far()}; {self.requests:,} requests in "
            f"{format_duration(span)}, {self._against_limit(rate)}{held}; "
            f"{self.throttled} throttled, {self.retries} retried."
        )


@dataclass
class StepMeter:
    """Progress of a known number of steps (the read-back's series reads): a line every
    ``interval`` seconds with count, percent and ETA at the pace so far::

        Reading back: 12/30 series reads (40.0 %), ETA 35 s; 14 read requests.
    """

    what: str
    total: int
    unit: str = "series reads"
    interval: float = 30.0
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    _started: float = field(default=0.0, init=False)
    _last_line: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        self._started = self._last_line = self.clock()

    def step(self, requests: int) -> str | None:
        """One step done (``requests`` so far): the line, when one is due."""
        self.done += 1
        now = self.clock()
        if now - self._last_line < self.interval:
            return None
        self._last_line = now
        return self.line(requests)

    def elapsed(self) -> float:
        """Seconds since the first step began."""
        return self.clock() - self._started

    def line(self, requests: int) -> str:
        """How far, the ETA, and the requests made."""
        elapsed = self.elapsed()
        percent = 100 * self.done / self.total if self.total else 100.0
        eta = ""
        if self.done and elapsed > 0:
            eta = f", ETA {format_duration((self.total - self.done) * elapsed / self.done)}"
        return (
            f"{self.what}: {self.done:,}/{self.total:,} {self.unit} ({percent:.1f} %){eta}; "
            f"{requests:,} read requests."
        )
