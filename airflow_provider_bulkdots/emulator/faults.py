"""Failures injected on purpose, so clients can be tested against a misbehaving endpoint.

Two families act on a bulk POST:

- before it is looked at: the server is down (``down_after``), an injected 5xx
  (``error_rate``, ``fail_next``), a 429 burst (``burst_429``);
- once its body is accepted (authenticated, within the rate, valid), a :class:`ReplyFault`
  chosen per request: from the queue filled by ``inject_next`` (FIFO, so the next N accepted
  bodies get exactly the faults asked for), else drawn from the ``*_rate`` fields with the
  seeded generator (one draw per accepted body).

Three more act as Ubidots' response-codes page documents, on chosen devices or after a count:
``not_saved`` (204 "one of the fields is incorrect and the request is not saved"),
``disabled_devices`` (423, device disabled) and ``quota_after`` (420, the plan's API limit).
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any


class ReplyFault(enum.Enum):
    """What happens to the reply of an accepted bulk POST (``value`` is its stats label)."""

    NONE = "200"  # stored, answered 200 {"task_id": ...}
    DROP_AFTER_STORE = "dropped"  # stored, then the connection closes without a reply
    DROP_BEFORE_STORE = "lost_before_store"  # closed without a reply, nothing stored
    HTML_200 = "html_200"  # a 200 text/html page, no task_id
    EMPTY_JSON_200 = "empty_json_200"  # a 200 application/json {}
    NO_CONTENT_204 = "no_content_204"  # a 204 without a body: "not saved" (Ubidots' docs)
    STALL_BODY = "stall_body"  # stored; 200 status line and half the body, then silence
    RESET_BODY = "reset_body"  # stored; 200 status line and half the body, then a TCP reset

    @classmethod
    def named(cls, name: object) -> ReplyFault:
        """The fault called ``name`` (its lower-case member name, e.g. ``"stall_body"``)."""
        for fault in cls:
            if fault.name.lower() == name:
                return fault
        known = ", ".join(f.name.lower() for f in cls)
        raise ValueError(f"unknown reply fault {name!r}; known: {known}")

    @property
    def stores(self) -> bool:
        """Whether the body's dots are stored (the wrong 2xx replies: see ``wrong_2xx_stores``;
        a 204 never stores: Ubidots documents it as "the request is not saved")."""
        return self not in (ReplyFault.DROP_BEFORE_STORE, ReplyFault.NO_CONTENT_204)


WRONG_2XX = (ReplyFault.HTML_200, ReplyFault.EMPTY_JSON_200, ReplyFault.NO_CONTENT_204)
_RATE_FIELDS = (
    "drop_response_rate",
    "drop_request_rate",
    "wrong_2xx_rate",
    "stall_body_rate",
    "reset_body_rate",
)


@dataclass(frozen=True)
class Faults:
    """What goes wrong, and how often. The default is nothing.

    - ``error_rate``: fraction of bulk POSTs answered with one of ``error_statuses``
      (nothing stored).
    - ``burst_429``: the next k authenticated bulk POSTs get 429 with ``Retry-After:
      burst_retry_after`` (whole seconds, 1 by default; plans with long windows ask for more).
    - ``drop_response_rate``: fraction of accepted bulk POSTs whose dots are stored, then
      the connection is closed without a reply (the client cannot know it succeeded).
    - ``drop_request_rate``: fraction of accepted bulk POSTs closed without a reply and
      *not* stored (the reply is lost before storing).
    - ``wrong_2xx_rate``: fraction answered with a 2xx that carries no task_id, drawn from
      ``wrong_2xx_kinds`` (``html_200``, ``empty_json_200``, ``no_content_204``); the dots
      are stored when ``wrong_2xx_stores`` (the default), else dropped.
    - ``stall_body_rate``: fraction stored, answered with a 200 status line, headers and half
      the body, then nothing for ``stall_s`` seconds, then the connection closes.
    - ``reset_body_rate``: fraction stored, answered with a 200 status line, headers and half
      the body, then a TCP reset.
    - ``latency_s``: added before every API request is handled.
    - ``down_after``: after N bulk POSTs, every API request has its connection closed
      without a reply, until the faults are changed or reset.
    - ``not_saved``: ``"device"``, ``"device/variable"`` or ``"device/variable@timestamp"``
      (ms); a valid body holding a dot they match is answered 204 without a body and nothing
      of it is stored.
    - ``disabled_devices``: device labels; a valid body holding a dot of one is answered 423
      and nothing of it is stored.
    - ``quota_after``: after N bulk POSTs, every authenticated bulk POST is answered 420 ("You
      have exceeded your API limits") with ``Retry-After: quota_retry_after`` (0: no header).
    - ``seed``: seed of the random draws, for repeatable runs.

    The five reply-fault rates are exclusive outcomes of one draw: their sum is at most 1.
    """

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500, 502, 503)
    burst_429: int = 0
    burst_retry_after: int = 1
    drop_response_rate: float = 0.0
    drop_request_rate: float = 0.0
    wrong_2xx_rate: float = 0.0
    wrong_2xx_kinds: tuple[str, ...] = tuple(f.name.lower() for f in WRONG_2XX)
    wrong_2xx_stores: bool = True
    stall_body_rate: float = 0.0
    reset_body_rate: float = 0.0
    stall_s: float = 30.0
    latency_s: float = 0.0
    down_after: int | None = None
    not_saved: tuple[str, ...] = ()
    disabled_devices: tuple[str, ...] = ()
    quota_after: int | None = None
    quota_retry_after: int = 3600
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("error_statuses", "wrong_2xx_kinds", "not_saved", "disabled_devices"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("not_saved", "disabled_devices"):
            if not all(isinstance(label, str) and label for label in getattr(self, name)):
                raise ValueError(f"{name} must be labels, got {getattr(self, name)!r}")
        if self.quota_after is not None and (not _is_int(self.quota_after) or self.quota_after < 0):
            raise ValueError(f"quota_after must be an integer >= 0, got {self.quota_after!r}")
        if not _is_int(self.quota_retry_after) or not 0 <= self.quota_retry_after <= 86_400:
            raise ValueError(
                f"quota_retry_after must be whole seconds, 0 to 86400: {self.quota_retry_after!r}"
            )
        for name in ("error_rate", *_RATE_FIELDS):
            _check_range(name, getattr(self, name), 0.0, 1.0)
        if sum(getattr(self, name) for name in _RATE_FIELDS) > 1.0 + 1e-9:
            raise ValueError(f"the reply-fault rates ({', '.join(_RATE_FIELDS)}) sum over 1")
        if not self.error_statuses or not all(
            _is_int(s) and 500 <= s <= 599 for s in self.error_statuses
        ):
            raise ValueError(f"error_statuses must be 5xx codes, got {self.error_statuses!r}")
        wrong = {f.name.lower() for f in WRONG_2XX}
        if not self.wrong_2xx_kinds or not set(self.wrong_2xx_kinds) <= wrong:
            raise ValueError(
                f"wrong_2xx_kinds must be among {sorted(wrong)}, got {self.wrong_2xx_kinds!r}"
            )
        if not isinstance(self.wrong_2xx_stores, bool):
            raise ValueError(f"wrong_2xx_stores must be a boolean, got {self.wrong_2xx_stores!r}")
        if not _is_int(self.burst_429) or self.burst_429 < 0:
            raise ValueError(f"burst_429 must be an integer >= 0, got {self.burst_429!r}")
        if not _is_int(self.burst_retry_after) or not 0 <= self.burst_retry_after <= 86_400:
            raise ValueError(
                f"burst_retry_after must be whole seconds, 0 to 86400: {self.burst_retry_after!r}"
            )
        _check_range("latency_s", self.latency_s, 0.0, 60.0)
        _check_range("stall_s", self.stall_s, 0.0, 600.0)
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
        data["wrong_2xx_kinds"] = list(self.wrong_2xx_kinds)
        data["not_saved"] = list(self.not_saved)
        data["disabled_devices"] = list(self.disabled_devices)
        return data

    def refusal_of(self, dots: list[tuple[str, str, int]]) -> tuple[int, str] | None:
        """The 423 or 204 a valid body of ``(device, variable, timestamp)`` dots gets, with
        the device."""
        disabled = set(self.disabled_devices)
        not_saved = set(self.not_saved)
        for device, _variable, _timestamp in dots:
            if device in disabled:
                return 423, device
        for device, variable, timestamp in dots:
            labels = (device, f"{device}/{variable}", f"{device}/{variable}@{timestamp}")
            if not not_saved.isdisjoint(labels):
                return 204, device
        return None

    def draw_reply_fault(self, rng: random.Random) -> ReplyFault:
        """One seeded draw among the reply faults, by their rates."""
        if not any(getattr(self, name) for name in _RATE_FIELDS):
            return ReplyFault.NONE
        draw = rng.random()
        for name, fault in zip(_RATE_FIELDS, _RATE_FAULTS, strict=True):
            draw -= getattr(self, name)
            if draw < 0:
                if fault is ReplyFault.HTML_200:  # stands for the family
                    return ReplyFault.named(rng.choice(self.wrong_2xx_kinds))
                return fault
        return ReplyFault.NONE


_RATE_FAULTS = (
    ReplyFault.DROP_AFTER_STORE,
    ReplyFault.DROP_BEFORE_STORE,
    ReplyFault.HTML_200,
    ReplyFault.STALL_BODY,
    ReplyFault.RESET_BODY,
)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def _check_range(name: str, value: object, low: float, high: float) -> None:
    if not _is_real(value) or not low <= value <= high:  # type: ignore[operator]
        raise ValueError(f"{name} must be a number between {low:g} and {high:g}, got {value!r}")


@dataclass
class FaultPlan:
    """The faults of one API request, decided once as it arrives.

    ``down``, ``latency_s`` and ``error_status`` are fixed then; a 429 burst and the reply
    fault apply only to requests that get that far, so :meth:`throttled` and :meth:`reply`
    use up a burst slot or a queued fault only when called.
    """

    faults: Faults
    down: bool = False
    error_status: int | None = None
    drawn_reply: ReplyFault = ReplyFault.NONE
    injector: FaultInjector | None = None
    over_quota: bool = False

    @property
    def latency_s(self) -> float:
        """Seconds added before the reply."""
        return self.faults.latency_s

    def throttled(self) -> bool:
        """Whether this authenticated bulk POST falls in a 429 burst (uses up one)."""
        return self.injector is not None and self.injector.take_burst_slot()

    def reply(self) -> ReplyFault:
        """The reply fault of this accepted body: a queued one first, else the drawn one."""
        queued = self.injector.take_queued_reply() if self.injector is not None else None
        return queued or self.drawn_reply

    def stores(self, fault: ReplyFault) -> bool:
        """Whether an accepted body whose reply gets ``fault`` is stored."""
        return fault.stores and (fault not in WRONG_2XX or self.faults.wrong_2xx_stores)


class FaultInjector:
    """The live fault state of one server: configured faults plus one-shot queues."""

    def __init__(self, faults: Faults | None = None) -> None:
        self._lock = threading.Lock()
        self._fail_queue: deque[int] = deque()
        self._reply_queue: deque[ReplyFault] = deque()
        self.set(faults or Faults())

    @property
    def faults(self) -> Faults:
        """The configured faults."""
        return self._faults

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
            self._reply_queue.clear()
        self.set(Faults())

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` bulk POSTs are answered ``status`` and store nothing."""
        if not _is_int(n) or n < 0 or not _is_int(status) or not 400 <= status <= 599:
            raise ValueError(f"need n >= 0 and a 4xx/5xx status, got {n!r}, {status!r}")
        with self._lock:
            self._fail_queue.extend([status] * n)

    def inject_next(self, kind: str | ReplyFault, n: int = 1) -> None:
        """The next ``n`` accepted bulk POSTs get the reply fault ``kind`` (after any queued)."""
        fault = kind if isinstance(kind, ReplyFault) else ReplyFault.named(kind)
        if not _is_int(n) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        with self._lock:
            self._reply_queue.extend([fault] * n)

    def drop_next(self, n: int) -> None:
        """The next ``n`` accepted bulk POSTs are stored, then closed without a reply."""
        self.inject_next(ReplyFault.DROP_AFTER_STORE, n)

    def plan_read(self) -> FaultPlan:
        """The plan of an API read: down (after ``down_after`` bulk POSTs) and latency."""
        with self._lock:
            return FaultPlan(self._faults, down=self._down_locked())

    def plan_post(self) -> FaultPlan:
        """The plan of a bulk POST as it arrives: down, an injected error, a drawn reply."""
        with self._lock:
            faults = self._faults
            if self._down_locked():
                return FaultPlan(faults, down=True)
            self._posts += 1
            if self._fail_queue:
                return FaultPlan(faults, error_status=self._fail_queue.popleft())
            if faults.error_rate and self._rng.random() < faults.error_rate:
                return FaultPlan(faults, error_status=self._rng.choice(faults.error_statuses))
            drawn = faults.draw_reply_fault(self._rng)
            over = faults.quota_after is not None and self._posts > faults.quota_after
            return FaultPlan(faults, drawn_reply=drawn, injector=self, over_quota=over)

    def _down_locked(self) -> bool:
        down_after = self._faults.down_after
        return down_after is not None and self._posts >= down_after

    def take_burst_slot(self) -> bool:
        """Use up one request of the 429 burst; False once it is spent."""
        with self._lock:
            if self._burst_left > 0:
                self._burst_left -= 1
                return True
            return False

    def take_queued_reply(self) -> ReplyFault | None:
        """The next queued reply fault, if any."""
        with self._lock:
            return self._reply_queue.popleft() if self._reply_queue else None
