"""Failures injected on purpose, so clients can be tested against a misbehaving endpoint."""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often. The default is nothing.

    - ``error_rate``: fraction of bulk POSTs answered with one of ``error_statuses``
      (nothing stored).
    - ``burst_429``: the next k authenticated bulk POSTs get 429 with ``Retry-After: 1``.
    - ``drop_response_rate``: fraction of accepted bulk POSTs whose dots are stored, then
      the connection is closed without a reply (the client cannot know it succeeded).
    - ``latency_s``: added before every API request is handled.
    - ``down_after``: after N bulk POSTs, every API request has its connection closed
      without a reply, until the faults are changed or reset.
    - ``seed``: seed of the random draws, for repeatable runs.
    """

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    burst_429: int = 0
    drop_response_rate: float = 0.0
    latency_s: float = 0.0
    down_after: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_statuses", tuple(self.error_statuses))
        for name in ("error_rate", "drop_response_rate"):
            rate = getattr(self, name)
            if not _is_real(rate) or not 0.0 <= rate <= 1.0:
                raise ValueError(f"{name} must be a number between 0 and 1, got {rate!r}")
        if not self.error_statuses or not all(
            _is_int(s) and 500 <= s <= 599 for s in self.error_statuses
        ):
            raise ValueError(f"error_statuses must be 5xx codes, got {self.error_statuses!r}")
        if not _is_int(self.burst_429) or self.burst_429 < 0:
            raise ValueError(f"burst_429 must be an integer >= 0, got {self.burst_429!r}")
        if not _is_real(self.latency_s) or not 0.0 <= self.latency_s <= 60.0:
            raise ValueError(f"latency_s must be between 0 and 60, got {self.latency_s!r}")
        if self.down_after is not None and (not _is_int(self.down_after) or self.down_after < 0):
            raise ValueError(f"down_after must be an integer >= 0, got {self.down_after!r}")
        if self.seed is not None and not _is_int(self.seed):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Faults:
        """Build from a JSON object with the same field names; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; known: {', '.join(sorted(names))}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a JSON-ready dict."""
        data = dataclasses.asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        return data


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


class Verdict(enum.Enum):
    """What happens to a bulk POST before it is looked at."""

    PROCEED = "proceed"
    REFUSE = "refuse"  # the server is down: close without reply
    ERROR = "error"  # answer with an injected 5xx


class FaultInjector:
    """The live fault state of one server: configured faults plus one-shot queues."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._fail_queue: deque[int] = deque()
        self._drop_queue = 0
        self.set(faults or Faults())

    @property
    def faults(self) -> Faults:
        """The configured faults."""
        return self._faults

    @property
    def latency_s(self) -> float:
        """Seconds added before each API request."""
        return self._faults.latency_s

    def set(self, faults: Faults) -> None:
        """Replace the configured faults; restarts the burst and the ``down_after`` count."""
        with self._lock:
            self._faults = faults
            self._rng = random.Random(faults.seed)
            self._burst_left = faults.burst_429
            self._posts = 0

    def clear(self) -> None:
        """No faults at all, and empty one-shot queues."""
        with self._lock:
            self._fail_queue.clear()
            self._drop_queue = 0
        self.set(Faults())

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` bulk POSTs are answered ``status`` and store nothing."""
        if not _is_int(n) or n < 0 or not _is_int(status) or not 400 <= status <= 599:
            raise ValueError(f"need n >= 0 and a 4xx/5xx status, got {n!r}, {status!r}")
        with self._lock:
            self._fail_queue.extend([status] * n)

    def drop_next(self, n: int) -> None:
        """The next ``n`` accepted bulk POSTs are stored, then closed without a reply."""
        if not _is_int(n) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        with self._lock:
            self._drop_queue += n

    def is_down(self) -> bool:
        """True once ``down_after`` bulk POSTs have been served."""
        with self._lock:
            return self._down_locked()

    def _down_locked(self) -> bool:
        down_after = self._faults.down_after
        return down_after is not None and self._posts >= down_after

    def on_post(self) -> tuple[Verdict, int]:
        """Decide the fate of a bulk POST as it arrives; the int is the status for ERROR."""
        with self._lock:
            if self._down_locked():
                return Verdict.REFUSE, 0
            self._posts += 1
            if self._fail_queue:
                return Verdict.ERROR, self._fail_queue.popleft()
            faults = self._faults
            if faults.error_rate and self._rng.random() < faults.error_rate:
                return Verdict.ERROR, self._rng.choice(faults.error_statuses)
            return Verdict.PROCEED, 0

    def take_429(self) -> bool:
        """True if this authenticated bulk POST falls in a 429 burst."""
        with self._lock:
            if self._burst_left > 0:
                self._burst_left -= 1
                return True
            return False

    def take_drop(self) -> bool:
        """True if the reply to this accepted bulk POST is to be dropped."""
        with self._lock:
            if self._drop_queue > 0:
                self._drop_queue -= 1
                return True
            rate = self._faults.drop_response_rate
            return bool(rate) and self._rng.random() < rate
