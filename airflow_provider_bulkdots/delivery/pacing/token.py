"""One request rate per token, shared by every task on the machine, adapting across machines.

Every request made with a token (bulk POSTs and reads alike) first takes a *turn* from the
token's :class:`TokenPacer`. Turns are spaced ``1 / (rate * share * (1 - headroom))`` seconds
apart, counted from the moment each turn is *taken*, just before its request leaves: a process
that was late to take its turn pushes the next one back instead of crowding it. Idle time is
never saved up as a burst.

A turn taken is not yet a request on the wire: on a loaded machine the process that took it
may be descheduled for tens of milliseconds before its request leaves, and a late request
crowds the next ones into one window of the API (5 arrivals within 1 s at 4 requests/s is a
429). So the pacer also keeps the instants the last ``rate`` requests *left* (up to
:data:`MAX_DEPARTURES`), and grants no turn until the ``rate``-th last of them is a whole
window (``rate`` turns) old: the API's own rule, a sliding window, checked on departures. A
sender that calls :meth:`TokenPacer.leaving` right before its request goes re-records its
turn at that instant when it is late (more than :data:`LATE_TOLERANCE`), and the next turn is
spaced from it.

The state of a token lives in a small JSON file in ``state_dir``, named by a hash of host and
token (never the token), read and written under an exclusive ``flock``: every worker process
on the machine (LocalExecutor, Celery workers on one host) shares it. Without a directory the
state is kept in memory, for one process.

The file is local state on a possibly shared host (:mod:`.state_files`): the directory must
be this user's alone and the file is never reached through a symlink, or the pacer refuses by
name (``refuse_unsafe``) or falls back to in-process pacing with a warning; so does a
directory that cannot be written, or a lock not had within ``lock_timeout``. Every value read
back is checked (a number, finite, in range, no instant further ahead than the longest hold a
429 can record, ``MAX_HOLD_SECONDS``, and no clock stepped back since it was written) and
repaired with a warning naming the file: a damaged or hostile file never stalls a task.

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

import bisect
import hashlib
import json
import logging
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from airflow_provider_bulkdots.delivery.state_files import (
    DEFAULT_LOCK_TIMEOUT,
    UnsafeStateError,
    lock_within,
    open_private_dir,
    open_private_file,
    unlock,
)

log = logging.getLogger(__name__)

#: Share of the rate kept in reserve, so that network jitter never makes the API count
#: ``rate + 1`` requests in one of its windows.
DEFAULT_HEADROOM = 0.03
#: The longest hold a 429 records in the shared state (a per-hour window's wait); a longer
#: ``Retry-After`` is still honoured by the task that got it (it defers for the whole wait).
MAX_HOLD_SECONDS = 3600.0
#: A state written this much later than now (wall clock) means the clock stepped back.
CLOCK_STEP_TOLERANCE = 1.0
#: Departures kept in the state (the window rule covers the last ``min(rate, this)`` requests).
MAX_DEPARTURES = 64
#: A request leaving this long after its turn was taken re-records the turn at its departure.
LATE_TOLERANCE = 0.002
#: The deprecated environment variable of the state directory (now ``[bulkdots]
#: rate_state_dir``, i.e. ``AIRFLOW__BULKDOTS__RATE_STATE_DIR``).
LEGACY_STATE_DIR_ENV = "BULKDOTS_RATE_STATE_DIR"


def default_state_dir() -> Path:
    """A directory of this user in the system's temp dir (verified before use)."""
    user = os.getuid() if hasattr(os, "getuid") else os.getlogin()
    return Path(tempfile.gettempdir()) / f"airflow-bulkdots-rate-{user}"


def resolve_state_dir(configured: str | None, legacy: str | None = None) -> tuple[Path, bool]:
    """The state directory and whether it was chosen (an unsafe chosen one is refused; the
    default one, which another user may squat in a shared temp dir, is given up instead)."""
    if configured and configured.strip():
        return Path(configured.strip()).expanduser(), True
    if legacy and legacy.strip():
        log.warning(
            "$%s is deprecated: set [bulkdots] rate_state_dir "
            "(AIRFLOW__BULKDOTS__RATE_STATE_DIR) instead",
            LEGACY_STATE_DIR_ENV,
        )
        return Path(legacy.strip()).expanduser(), True
    return default_state_dir(), False


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
    #: When the last requests left (wall clock, ascending; at most :data:`MAX_DEPARTURES`).
    departures: list[float] = field(default_factory=list)
    #: When the state was last written (wall clock): later than now means the clock stepped back.
    written_at: float = 0.0

    @classmethod
    def from_json(cls, raw: bytes) -> PaceState:
        """The state in ``raw``, or a fresh one when it is empty or unreadable."""
        return parse_state(raw)[0]

    def to_json(self) -> bytes:
        """Compact JSON of the fields."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    def repair(
        self, now: float, horizon: float = MAX_HOLD_SECONDS, min_share: float = 1e-3
    ) -> list[str]:
        """Bring every value within what this pacer could have written; say what was wrong.

        A clock that stepped back since the last write moves every instant back with it;
        an instant more than ``horizon`` seconds ahead is now; a share under ``min_share``
        or over 1 is clamped.
        """
        problems = []
        step = self.written_at - now
        if step > CLOCK_STEP_TOLERANCE:
            problems.append(f"the wall clock stepped back {step:.0f} s since it was written")
            for name in _INSTANTS:
                setattr(self, name, getattr(self, name) - step)
            self.departures = [max(0.0, at - step) for at in self.departures]
        self.written_at = min(self.written_at, now)
        for name in ("next_turn", "next_slot", "calm_until"):
            if getattr(self, name) > now + horizon:
                ahead = getattr(self, name) - now
                problems.append(f"{name} was {ahead:.0f} s ahead (at most {horizon:.0f} s)")
                setattr(self, name, now)
        if self.departures and self.departures[-1] > now + horizon:
            problems.append(f"departures were up to {self.departures[-1] - now:.0f} s ahead")
            self.departures = [at for at in self.departures if at <= now + horizon]
        self.grown_at = min(self.grown_at, now)
        if self.last_burst > now:
            self.last_burst = 0.0
        if not min_share <= self.share <= 1.0:
            problems.append(f"share {self.share:g} is outside [{min_share:g}, 1]")
            self.share = min(1.0, max(self.share, min_share))
        return problems


#: The largest state file read (a state with every departure kept is well under it).
_MAX_STATE_BYTES = 4096
_INSTANTS = ("next_turn", "next_slot", "grown_at", "calm_until", "last_burst")
_COUNTS = ("turns", "throttled")
#: Counts beyond this are not counts (JSON allows any size; Python's int() of them is slow).
_MAX_COUNT = 2**53


def parse_state(raw: bytes) -> tuple[PaceState, list[str]]:
    """The state in ``raw`` (a fresh one if it is unreadable) and what was wrong with it.

    Each field must be a finite number (``1e999`` reads as infinity, which is not), a count
    a whole one from 0 to 2**53; a field that is not is reset to its default.
    """
    state = PaceState()
    if not raw.strip():
        return state, []
    try:
        data = json.loads(raw.decode())
    except (UnicodeDecodeError, ValueError):
        return state, ["it is not JSON"]
    if not isinstance(data, dict):
        return state, ["it is not a JSON object"]
    problems = []
    known = {f.name for f in fields(PaceState)}
    for key, value in data.items():
        if key not in known:
            continue
        if key == "departures":
            departures = _parse_departures(value)
            if departures is None:
                problems.append(f"departures {str(value)[:40]} is not a list of instants")
            else:
                state.departures = departures
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or value < 0:
            problems.append(f"{key} {value!r} is not a finite number >= 0")
        elif key in _COUNTS and value > _MAX_COUNT:
            problems.append(f"{key} {value!r} is out of range")
        else:
            setattr(state, key, int(value) if key in _COUNTS else float(value))
    return state, problems


def _parse_departures(value: object) -> list[float] | None:
    """Up to :data:`MAX_DEPARTURES` finite instants >= 0, sorted; ``None`` if ``value`` is not."""
    if not isinstance(value, list) or len(value) > MAX_DEPARTURES:
        return None
    numbers = [v for v in value if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) != len(value) or not all(math.isfinite(v) and v >= 0 for v in numbers):
        return None
    return sorted(float(v) for v in numbers)


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
    due = max(state.next_turn, window_due(state, rate, headroom))
    if now < due:
        return due - now
    grow_share(state, now, adaptation)
    state.next_turn = now + interval(rate, state.share, headroom)
    state.turns += 1
    _record_departure(state, now, window_turns(rate))
    return 0.0


def window_turns(rate: float) -> int:
    """How many requests the API lets through in one window: ``rate`` (a whole number, at
    least 1, at most :data:`MAX_DEPARTURES` kept)."""
    return max(1, min(MAX_DEPARTURES, math.floor(rate)))


def window_due(state: PaceState, rate: float, headroom: float) -> float:
    """The first instant at which one more request keeps every window of ``window_turns``
    turns (at the current share) to ``window_turns`` requests: the API's sliding window,
    checked on the instants requests left, whatever their spacing."""
    turns = window_turns(rate)
    if len(state.departures) < turns:
        return 0.0
    return state.departures[-turns] + turns * interval(rate, state.share, headroom)


def _record_departure(state: PaceState, at: float, keep: int) -> None:
    bisect.insort(state.departures, at)
    del state.departures[:-keep]


def note_late(state: PaceState, taken: float, left: float, rate: float, headroom: float) -> None:
    """The request of the turn taken at ``taken`` left only at ``left``: record its departure
    there, and space the next turn from it (it may already have been granted: the window rule
    still holds the ones after it)."""
    if taken in state.departures:
        state.departures.remove(taken)
    _record_departure(state, left, window_turns(rate))
    state.next_turn = max(state.next_turn, left + interval(rate, state.share, headroom))


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

    path: Path | None = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = PaceState()

    @contextmanager
    def locked(self) -> Iterator[PaceState]:
        with self._lock:
            yield self._state

    def close(self) -> None:
        """Nothing to release."""


class _FileState:
    """The state in a file every process of the machine reaches, under ``flock``.

    Threads of one process share one descriptor (``flock`` locks belong to the open file, so
    they would not exclude each other): a thread lock comes first. A forked child reopens it.
    When the file cannot be used (see the module docstring) the state moves to this process's
    memory for good, with a warning; an unsafe directory is refused when ``refuse_unsafe``.
    """

    def __init__(self, path: Path, refuse_unsafe: bool, lock_timeout: float) -> None:
        self.path = path
        self.refuse_unsafe = refuse_unsafe
        self.lock_timeout = lock_timeout
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0
        self._memory: _MemoryState | None = None

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            dir_fd = open_private_dir(self.path.parent)
            try:
                self._fd = open_private_file(dir_fd, self.path.parent, self.path.name)
            finally:
                os.close(dir_fd)
            self._pid = os.getpid()
        return self._fd

    def _give_up(self, why: str) -> _MemoryState:
        log.warning(
            "Pacing in this process only (other tasks on this machine do not share its "
            "turns): the shared pace state %s %s",
            self.path,
            why,
        )
        self._memory = _MemoryState()
        return self._memory

    def open(self) -> None:
        """Open (and verify) the file now: an unsafe directory is refused before any request."""
        with self._lock:
            self._usable_fd()

    def _usable_fd(self) -> int | None:
        """The file's descriptor, or ``None`` once the state has moved to memory."""
        if self._memory is not None:
            return None
        try:
            return self._descriptor()
        except UnsafeStateError as error:
            if self.refuse_unsafe:
                raise
            self._give_up(f"is unsafe ({error.reason})")
        except OSError as error:
            self._give_up(f"cannot be used: {error.strerror or error}")
        return None

    @contextmanager
    def locked(self) -> Iterator[PaceState]:
        with self._lock:
            fd = self._usable_fd()
            if fd is not None and not lock_within(fd, self.lock_timeout):
                self._give_up(f"stayed locked over {self.lock_timeout:g} s")
                fd = None
            if fd is None:
                with self._memory_state().locked() as state:
                    yield state
                return
            try:
                yield from _read_and_write(fd, self.path)
            finally:
                unlock(fd)

    def _memory_state(self) -> _MemoryState:
        assert self._memory is not None
        return self._memory

    def close(self) -> None:
        with self._lock:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None


def _read_and_write(fd: int, path: Path) -> Iterator[PaceState]:
    """Yield the state held in ``fd`` (repaired values are logged), then write it back."""
    state, problems = parse_state(os.pread(fd, _MAX_STATE_BYTES, 0))
    if problems:
        log.warning("Repaired the shared pace state %s: %s", path, "; ".join(problems))
    yield state
    raw = state.to_json()
    size = os.fstat(fd).st_size
    if size > _MAX_STATE_BYTES:  # not a state this pacer wrote
        os.ftruncate(fd, 0)
        size = 0
    # One write of the whole file, padded with blanks to its length, and no truncation: a
    # process killed at any instant leaves either the old state or the new one, never the new
    # one followed by the tail of the old (which reads as no state at all: no pace).
    os.pwrite(fd, raw.ljust(size), 0)


class TokenPacer:
    """The pace of one token: turns shared by every thread and process that uses it.

    ``rate`` 0 means no limit (no state is touched). ``state_dir`` ``None`` keeps the state in
    this process. The clock is injectable (wall-clock seconds, the same in every process).
    An unsafe ``state_dir`` raises :class:`~.state_files.UnsafeStateError` here, before any
    request, when ``refuse_unsafe`` (a directory someone chose); otherwise (the default one in
    the temp dir, which another user may have taken) the pacer paces in this process only, with
    a warning, as it does for a directory it cannot write or a lock not had in ``lock_timeout``.
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
        refuse_unsafe: bool = True,
        lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        if not rate >= 0:
            raise ValueError(f"rate must be >= 0, not {rate}")
        if not 0 <= headroom < 1:
            raise ValueError(f"headroom must be in [0, 1), not {headroom}")
        self.rate = float(rate)
        self.headroom = headroom
        self.adaptation = adaptation or Adaptation()
        self._clock = clock
        #: When this thread's last turn was taken (until its request leaves).
        self._taken = threading.local()
        self._store: _MemoryState | _FileState
        if state_dir is None or not rate:
            self._store = _MemoryState()
        else:
            path = Path(state_dir) / f"{key or 'default'}.json"
            self._store = _FileState(path, refuse_unsafe, lock_timeout)
            self._store.open()
        #: No instant of the state lies further ahead than the longest 429 hold plus a turn.
        self.horizon = MAX_HOLD_SECONDS + interval(
            self.rate or 1.0, self.adaptation.min_share, headroom
        )

    @contextmanager
    def _checked(self) -> Iterator[tuple[PaceState, float]]:
        """The state, locked and repaired (with a warning), and the instant it was read."""
        with self._store.locked() as state:
            now = self._clock()
            problems = state.repair(now, self.horizon, self.adaptation.min_share)
            if problems:
                where = self._store.path or "(in this process)"
                log.warning("Repaired the pace state %s: %s", where, "; ".join(problems))
            yield state, now
            state.written_at = max(state.written_at, now)

    @property
    def path(self) -> Path | None:
        """The state file, when the state is shared."""
        return self._store.path if isinstance(self._store, _FileState) else None

    def try_turn(self) -> float:
        """Take a turn now (return 0) or return the seconds to wait before trying again."""
        if not self.rate:
            return 0.0
        with self._checked() as (state, now):
            seconds = take_turn(state, now, self.rate, self.headroom, self.adaptation)
        if seconds <= 0:
            self._taken.at = now
        return seconds

    def leaving(self) -> None:
        """The request of this thread's last turn leaves now: when that is more than
        :data:`LATE_TOLERANCE` after the turn was taken (the process was descheduled), its
        departure is recorded now and the next turns are spaced from it."""
        taken: float | None = getattr(self._taken, "at", None)
        self._taken.at = None
        if taken is None or self._clock() - taken <= LATE_TOLERANCE:
            return
        with self._checked() as (state, now):
            note_late(state, taken, now, self.rate, self.headroom)

    def wait_turn(
        self, wait: Callable[[float], None], defer_over: float | None = None, dots: int = 0
    ) -> float:
        """Wait (through ``wait``) until a turn is taken; return the seconds waited.

        ``dots`` is not paced on one machine (the account's dots are paced by the coordinator).

        The waiter first queues up for a slot, then takes its turn at that slot (or as soon as
        the previous turn allows): turns go in queue order, so no process starves, however
        slowly the OS wakes it. Raises :class:`WaitTooLong` instead of waiting ``defer_over``
        seconds or more (the API asked for a long wait).
        """
        if not self.rate:
            return 0.0
        with self._checked() as (state, now):
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
        hold = min(retry_after, MAX_HOLD_SECONDS)
        with self._checked() as (state, now):
            note_throttled(state, now, hold, self.rate, self.headroom, self.adaptation)

    def state(self) -> PaceState:
        """A copy of the current state (share, next turn, counts)."""
        with self._checked() as (state, _):
            return PaceState(**asdict(state))

    def close(self) -> None:
        """Release the state file's descriptor (it is reopened when needed)."""
        self._store.close()
