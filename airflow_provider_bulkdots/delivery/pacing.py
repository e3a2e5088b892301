"""One request rate per token, shared by every task on the machine, adapting across machines.

Every request made with a token (bulk POSTs and reads alike) first takes a *turn* from the
token's :class:`TokenPacer`. Turns are spaced ``1 / (rate * share * (1 - headroom))`` seconds
apart, counted from the moment each turn is *taken*, just before its request leaves: a process
that was late to take its turn pushes the next one back instead of crowding it, so no window of
the API sees more than its limit, whatever the scheduling jitter of the processes. Idle time is
never saved up as a burst.

The state of a token lives in a small JSON file in ``state_dir``, named by a hash of host and
token (never the token), read and written under an exclusive ``flock``: every worker process
on the machine (LocalExecutor, Celery workers on one host) shares it. Without a directory the
state is kept in memory, for one process.

Machines do not see each other's file, so each one adapts its *share* of the rate (additive
increase, multiplicative decrease): a 429 holds every task of the machine for the
``Retry-After`` and multiplies the share by ``decrease`` (once per burst of 429s) when it
comes within ``contention_window`` seconds of the previous burst: another machine is drawing
on the token. A lone 429 after a quiet spell, while the machine paces at nearly the whole rate,
is taken for timing jitter (a request that reached the API late and crowded one of its
windows) and costs only ``jitter_decrease``. Every
quiet second then adds ``increase`` back, up to the whole rate. Several machines on one token
thus converge on shares that add up to about the limit, without a storm, and one machine alone
does not lose half its rate for a minute over one late packet.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

#: Share of the rate kept in reserve, so that network jitter never makes the API count
#: ``rate + 1`` requests in one of its windows.
DEFAULT_HEADROOM = 0.03
#: An instant further ahead than this in a state file is taken for a clock that jumped back.
STALE_AFTER_SECONDS = 6 * 3600.0
STATE_DIR_ENV = "BULKDOTS_RATE_STATE_DIR"


def default_state_dir() -> Path:
    """``$BULKDOTS_RATE_STATE_DIR``, else a directory of this user in the system's temp dir."""
    configured = os.environ.get(STATE_DIR_ENV, "").strip()
    if configured:
        return Path(configured)
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"airflow-bulkdots-rate-{user}"


def pacer_key(base_url: str, token: str) -> str:
    """The name of a token's shared state: a hash of host and token, never the token itself."""
    digest = hashlib.sha256(f"bulkdots-pacer\0{base_url.rstrip('/')}\0{token}".encode())
    return digest.hexdigest()[:40]


class WaitTooLong(Exception):
    """The API asked for a wait at least as long as the caller's threshold (``seconds``).

    Not an error: the operator hands the wait to the triggerer instead of holding a worker.
    """

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the API asked to wait {seconds:.0f} s")
        self.seconds = seconds
        #: The delivery's counts when it stopped for this wait (set by the sender).
        self.summary: Any = None


@dataclass(frozen=True, slots=True)
class Adaptation:
    """How a machine's share moves: ``increase`` per quiet second; per burst of 429s,
    ``decrease`` when the burst follows another within ``contention_window`` seconds (the
    token is contended), else ``jitter_decrease`` (a lone 429: timing, not contention)."""

    increase: float = 0.01
    decrease: float = 0.5
    min_share: float = 0.05
    jitter_decrease: float = 0.9
    contention_window: float = 30.0
    #: A 429 can be this machine's own timing jitter only while it paces near the whole rate.
    jitter_share: float = 0.95

    def __post_init__(self) -> None:
        valid = (
            self.increase >= 0
            and 0 < self.decrease <= 1
            and 0 < self.jitter_decrease <= 1
            and 0 < self.min_share <= 1
            and self.contention_window >= 0
        )
        if not valid:
            raise ValueError(f"invalid adaptation {self}")

    def factor(self, now: float, last_burst: float, share: float) -> float:
        """The multiplicative decrease of a burst of 429s starting at ``now``: ``decrease``
        when the token is contended (another burst not long ago, or a 429 while this machine
        was pacing well under the rate, which its own jitter cannot explain)."""
        recent = last_burst > 0 and now - last_burst <= self.contention_window
        if recent or share < self.jitter_share:
            return self.decrease
        return self.jitter_decrease


@dataclass(slots=True)
class PaceState:
    """The shared state of one token on one machine (times are wall-clock seconds)."""

    next_turn: float = 0.0
    next_slot: float = 0.0
    share: float = 1.0
    grown_at: float = 0.0
    calm_until: float = 0.0
    last_burst: float = 0.0
    turns: int = 0
    throttled: int = 0

    @classmethod
    def from_json(cls, raw: bytes) -> PaceState:
        """The state in ``raw``, or a fresh one when it is empty or unreadable."""
        try:
            data = json.loads(raw.decode()) if raw.strip() else {}
        except (UnicodeDecodeError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        known = {f.name for f in fields(cls)}
        state = cls()
        for key, value in data.items():
            if key in known and isinstance(value, int | float) and value == value:
                setattr(state, key, type(getattr(state, key))(value))
        state.share = min(1.0, max(state.share, 1e-3))
        return state

    def to_json(self) -> bytes:
        """Compact JSON of the fields."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    def repair(self, now: float) -> None:
        """Forget instants that lie too far ahead (the clock jumped back, or a reboot)."""
        if self.next_turn > now + STALE_AFTER_SECONDS:
            self.next_turn = now
        if self.next_slot > now + STALE_AFTER_SECONDS:
            self.next_slot = now
        if self.grown_at > now:
            self.grown_at = now
        if self.calm_until > now + STALE_AFTER_SECONDS:
            self.calm_until = now
        if self.last_burst > now:
            self.last_burst = 0.0


def interval(rate: float, share: float, headroom: float) -> float:
    """Seconds between two turns at ``share`` of ``rate``."""
    return 1.0 / (rate * share * (1.0 - headroom))


def grow_share(state: PaceState, now: float, adaptation: Adaptation) -> None:
    """Additive increase: ``increase`` per second since the last growth, after the calm."""
    since = max(state.grown_at, state.calm_until)
    if now > since:
        state.share = min(1.0, state.share + adaptation.increase * (now - since))
    state.grown_at = max(state.grown_at, now)


def reserve_slot(
    state: PaceState, now: float, rate: float, headroom: float, defer_over: float | None = None
) -> float:
    """Queue up: the instant this waiter may try to take its turn (turns go in queue order).

    Nothing is reserved when the wait would be ``defer_over`` seconds or more.
    """
    state.repair(now)
    slot = max(now, state.next_slot, state.next_turn)
    if defer_over is None or slot - now < defer_over:
        state.next_slot = slot + interval(rate, state.share, headroom)
    return slot


def take_turn(
    state: PaceState, now: float, rate: float, headroom: float, adaptation: Adaptation
) -> float:
    """Take the turn if it is due (return 0) or return the seconds until it may be.

    Spacing is counted from the instant the last turn was really taken, so a late turn
    pushes the next one back instead of letting the two crowd one window of the API.
    """
    state.repair(now)
    if now < state.next_turn:
        return state.next_turn - now
    grow_share(state, now, adaptation)
    state.next_turn = now + interval(rate, state.share, headroom)
    state.turns += 1
    return 0.0


def note_throttled(
    state: PaceState,
    now: float,
    retry_after: float,
    rate: float,
    headroom: float,
    adaptation: Adaptation,
) -> None:
    """Hold every turn for ``retry_after``; shrink the share once per burst of 429s (by half
    when the token is contended, a little after a lone 429)."""
    state.repair(now)
    state.throttled += 1
    state.next_turn = max(state.next_turn, now + retry_after)
    state.next_slot = max(state.next_slot, now + retry_after)
    if now >= state.calm_until:
        grow_share(state, now, adaptation)
        factor = adaptation.factor(now, state.last_burst, state.share)
        state.share = max(adaptation.min_share, state.share * factor)
        state.calm_until = now + retry_after + interval(rate, state.share, headroom)
        state.last_burst = now


class _MemoryState:
    """The state of one process, guarded by a thread lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PaceState()

    @contextmanager
    def locked(self) -> Iterator[PaceState]:
        with self._lock:
            yield self._state


class _FileState:
    """The state in a file every process of the machine reaches, under ``flock``.

    Threads of one process share one descriptor (``flock`` locks belong to the open file, so
    they would not exclude each other): a thread lock comes first. A forked child reopens it.
    """

    def __init__(self, path: Path) -> None:
        import fcntl  # POSIX only; imported here so the module loads everywhere

        self._fcntl = fcntl
        self.path = path
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    @contextmanager
    def locked(self) -> Iterator[PaceState]:
        with self._lock:
            fd = self._descriptor()
            self._fcntl.flock(fd, self._fcntl.LOCK_EX)
            try:
                state = PaceState.from_json(os.pread(fd, 4096, 0))
                yield state
                raw = state.to_json()
                os.pwrite(fd, raw, 0)
                os.ftruncate(fd, len(raw))
            finally:
                self._fcntl.flock(fd, self._fcntl.LOCK_UN)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


class TokenPacer:
    """The pace of one token: turns shared by every thread and process that uses it.

    ``rate`` 0 means no limit (no state is touched). ``state_dir`` ``None`` keeps the state in
    this process. The clock is injectable (wall-clock seconds, the same in every process).
    """

    def __init__(
        self,
        rate: float,
        *,
        key: str = "",
        state_dir: Path | str | None = None,
        clock: Callable[[], float] = time.time,
        headroom: float = DEFAULT_HEADROOM,
        adaptation: Adaptation | None = None,
    ) -> None:
        if not rate >= 0:
            raise ValueError(f"rate must be >= 0, not {rate}")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), not {headroom}")
        self.rate = float(rate)
        self.headroom = headroom
        self.adaptation = adaptation or Adaptation()
        self._clock = clock
        self._store: _MemoryState | _FileState
        if state_dir is None or not rate:
            self._store = _MemoryState()
        else:
            self._store = _FileState(Path(state_dir) / f"{key or 'default'}.json")

    @property
    def path(self) -> Path | None:
        """The state file, when the state is shared."""
        return self._store.path if isinstance(self._store, _FileState) else None

    def try_turn(self) -> float:
        """Take a turn now (return 0) or return the seconds to wait before trying again."""
        if not self.rate:
            return 0.0
        with self._store.locked() as state:
            return take_turn(state, self._clock(), self.rate, self.headroom, self.adaptation)

    def wait_turn(self, wait: Callable[[float], None], defer_over: float | None = None) -> float:
        """Wait (through ``wait``) until a turn is taken; return the seconds waited.

        The waiter first queues up for a slot, then takes its turn at that slot (or as soon as
        the previous turn allows): turns go in queue order, so no process starves, however
        slowly the OS wakes it. Raises :class:`WaitTooLong` instead of waiting ``defer_over``
        seconds or more (the API asked for a long wait).
        """
        if not self.rate:
            return 0.0
        with self._store.locked() as state:
            now = self._clock()
            seconds = reserve_slot(state, now, self.rate, self.headroom, defer_over) - now
        waited = 0.0
        while True:
            if seconds > 0:
                if defer_over is not None and seconds >= defer_over:
                    raise WaitTooLong(seconds)
                wait(seconds)
                waited += seconds
            seconds = self.try_turn()
            if seconds <= 0:
                return waited

    def throttled(self, retry_after: float) -> None:
        """The API answered 429: hold every turn ``retry_after`` and lower this share."""
        if not self.rate:
            return
        with self._store.locked() as state:
            note_throttled(
                state, self._clock(), retry_after, self.rate, self.headroom, self.adaptation
            )

    def state(self) -> PaceState:
        """A copy of the current state (share, next turn, counts)."""
        with self._store.locked() as state:
            return PaceState(**asdict(state))

    def close(self) -> None:
        """Release the state file's descriptor (it is reopened when needed)."""
        if isinstance(self._store, _FileState):
            self._store.close()
