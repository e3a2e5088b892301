"""One token's pace shared by every machine, on a coordinator (Redis).

Every request of every task that uses the token, on any machine, asks the coordinator for a
*turn*, in two steps of one atomic script (:data:`TURN_SCRIPT`): it *reserves* a slot at the
end of the queue (the order turns are asked for), waits until then, and *takes* the turn once
the last turn taken is ``interval`` old (a GCRA "theoretical arrival time" counted from the
real take, one for requests and one for the account's dots): turns are spaced, never in a
burst, first come first served, and a waiter that woke late pushes the next turn back instead
of crowding it (the same rule as the machine's :class:`~.token.TokenPacer`). The script reads
the coordinator's clock (``TIME``), so machines whose clocks disagree still space their
requests right; a waiter is told *how long* to wait, never *until when*.

Two priorities share the token. A ``live`` request reserves the next free slot at once. A
``backfill`` request queues (first come, first served among backfills) and reserves a slot
only when it is at the head of the queue and that slot is at most one ``interval`` away: at
any instant at most one backfill slot lies ahead, so a live request waits for one backfill
turn at most. Backfills get every turn live requests leave free; while live requests keep the
token busy without a gap, backfills wait (live loads are short: the bound is their length).

The token never reaches the coordinator: keys are named by :func:`~.token.pacer_key`.

When the coordinator cannot be reached, answers slowly (its client's timeout) or lost its
state (a restart: the script then starts afresh), :class:`CoordinatedPacer` paces on the
machine's own :class:`~.token.TokenPacer` (AIMD on 429s) and asks the coordinator again
``retry_after`` seconds later. Pure: no Airflow; the client is any ``redis.Redis``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer
from airflow_provider_bulkdots.delivery.pacing.token import DEFAULT_HEADROOM, WaitTooLong

log = logging.getLogger(__name__)

#: The atomic turn, in two steps (``ARGV[8]``): ``reserve`` a slot in queue order, then, once
#: the slot has come, ``take`` the turn. ``KEYS`` = state hash, backfill queue (score: ticket
#: order), backfill deadlines (score: instant a silent waiter is dropped). ``ARGV`` = interval,
#: dot cost (seconds of the dots budget this request spends), priority, ticket, defer_over
#: (-1: none), grace, longest poll, step. Returns ``{status, seconds, limit}``: 1 = done (the
#: slot is ``seconds`` away, or the turn is taken); 0 = ask again in ``seconds``; 2 = the wait
#: would be ``seconds``, at least defer_over: nothing reserved. ``turn``/``dots`` are the
#: earliest instants of the next turn (counted from the last turn *taken*), ``slot`` the end
#: of the queue of reserved slots.
TURN_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local ticket = ARGV[4]
local state = redis.call('HMGET', KEYS[1], 'turn', 'dots', 'slot')
local turn = tonumber(state[1] or '0')
local dots = tonumber(state[2] or '0')
local limit = 'none'
if math.max(turn, dots) > now then
  if dots > turn then limit = 'dots_per_hour' else limit = 'rate_limit' end
end
local function keep(seconds)
  redis.call('EXPIRE', KEYS[1], 3600 + math.ceil(math.max(seconds, 0)))
end
if ARGV[8] == 'take' then
  local due = math.max(turn, dots)
  if now < due then return {0, tostring(due - now), limit} end
  redis.call('HSET', KEYS[1], 'turn', tostring(now + interval))
  redis.call('HINCRBY', KEYS[1], 'turns', 1)
  if cost > 0 then redis.call('HSET', KEYS[1], 'dots', tostring(now + cost)) end
  keep(math.max(interval, cost))
  return {1, '0', limit}
end
local slot = math.max(now, turn, dots, tonumber(state[3] or '0'))
if slot > now and limit == 'none' then limit = 'rate_limit' end
local ahead = 0
local function leave()
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[3], ticket)
end
if ARGV[3] ~= 'live' then
  local dead = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
  if #dead > 0 then
    redis.call('ZREM', KEYS[2], unpack(dead))
    redis.call('ZREM', KEYS[3], unpack(dead))
  end
  if not redis.call('ZSCORE', KEYS[2], ticket) then
    redis.call('ZADD', KEYS[2], redis.call('HINCRBY', KEYS[1], 'seq', 1), ticket)
  end
  ahead = redis.call('ZRANK', KEYS[2], ticket)
end
local wait = slot - now + ahead * interval
if tonumber(ARGV[5]) >= 0 and wait >= tonumber(ARGV[5]) then
  leave()
  return {2, tostring(wait), limit}
end
if ARGV[3] ~= 'live' then
  if ahead > 0 or slot - now > interval then
    local retry = math.max(slot - now - interval, 0) + ahead * interval
    retry = math.max(math.min(retry, tonumber(ARGV[7])), 0.001)
    redis.call('ZADD', KEYS[3], now + retry + tonumber(ARGV[6]), ticket)
    redis.call('EXPIRE', KEYS[2], 3600)
    redis.call('EXPIRE', KEYS[3], 3600)
    return {0, tostring(retry), limit}
  end
  leave()
end
redis.call('HSET', KEYS[1], 'slot', tostring(slot + math.max(interval, cost)))
keep(slot + math.max(interval, cost) - now)
return {1, tostring(slot - now), limit}
"""

#: ``KEYS`` = state hash; ``ARGV`` = seconds: no turn starts sooner (a 429's Retry-After).
HOLD_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
for _, name in ipairs({'turn', 'slot'}) do
  local at = tonumber(redis.call('HGET', KEYS[1], name) or '0')
  if until_ > at then redis.call('HSET', KEYS[1], name, tostring(until_)) end
end
redis.call('HINCRBY', KEYS[1], 'throttled', 1)
redis.call('EXPIRE', KEYS[1], 3600 + math.ceil(tonumber(ARGV[1])))
return 1
"""

#: How long a request may take at the coordinator before the machine paces alone (seconds).
COORDINATOR_TIMEOUT = 1.0
#: After a failure, the machine paces alone this long before asking the coordinator again.
RETRY_COORDINATOR_AFTER = 5.0
#: A queued backfill that has not asked again this long after it was told to is dropped.
QUEUE_GRACE = 2.0
#: A queued backfill asks again at least this often (a waiter ahead may have left).
LONGEST_POLL = 1.0
RESERVED, QUEUED, TOO_LONG = 1, 0, 2


@dataclass(frozen=True, slots=True)
class SharedLimits:
    """The limits paced on the coordinator: requests per window and the account's dots.

    ``requests_per_second`` 0 and ``dots_per_hour`` 0 mean no limit of that kind.
    """

    requests_per_second: float
    dots_per_hour: float = 0.0
    headroom: float = DEFAULT_HEADROOM

    @property
    def interval(self) -> float:
        """Seconds between two turns (0 without a request limit)."""
        if not self.requests_per_second:
            return 0.0
        return 1.0 / (self.requests_per_second * (1.0 - self.headroom))

    def dot_cost(self, dots: int) -> float:
        """Seconds of the account's dots budget that ``dots`` spend."""
        if not self.dots_per_hour or dots <= 0:
            return 0.0
        return dots * 3600.0 / (self.dots_per_hour * (1.0 - self.headroom))

    @property
    def active(self) -> bool:
        """Whether anything is limited."""
        return bool(self.requests_per_second or self.dots_per_hour)


class CoordinatedPacer:
    """A token's pace on a coordinator, with the machine's own pace as a fallback.

    ``client`` is a ``redis.Redis`` (its socket timeouts bound every call); ``key`` names the
    token (a hash, never the token); ``local`` paces while the coordinator does not answer.
    ``priority`` is ``"live"`` or ``"backfill"``. ``on_fallback(reason)`` is told once per
    pacer (one task) that it paces alone; it counts every switch in :attr:`fallbacks`.
    """

    def __init__(
        self,
        client: Any,
        *,
        key: str,
        limits: SharedLimits,
        local: Pacer,
        priority: str = "backfill",
        retry_after: float = RETRY_COORDINATOR_AFTER,
        clock: Callable[[], float] = time.monotonic,
        logger: Any = None,
    ) -> None:
        if priority not in ("live", "backfill"):
            raise ValueError(f"priority must be 'live' or 'backfill', not {priority!r}")
        self.limits = limits
        self.priority = priority
        self.local = local
        self.retry_after = retry_after
        self.log = logger or log
        self._clock = clock
        prefix = f"bulkdots:pace:{{{key}}}"
        self._keys = [prefix, f"{prefix}:queue", f"{prefix}:alive"]
        self._client = client
        self._turn = client.register_script(TURN_SCRIPT)
        self._hold = client.register_script(HOLD_SCRIPT)
        self._lock = threading.Lock()
        self._alone_until: float | None = None
        self._said_alone = False
        self._turns = 0
        #: Times this pacer fell back to the machine's pace.
        self.fallbacks = 0
        #: The limit the last wait was for: ``"rate_limit"``, ``"dots_per_hour"`` or ``None``.
        self.waiting_on: str | None = None

    # -- the coordinator or the machine ----------------------------------------------------

    def _coordinated(self) -> bool:
        with self._lock:
            if self._alone_until is None:
                return True
            if self._clock() < self._alone_until:
                return False
            self._alone_until = None  # time to ask the coordinator again
            return True

    def _fall_back(self, error: Exception) -> None:
        with self._lock:
            if self._alone_until is not None:
                return
            self._alone_until = self._clock() + self.retry_after
            self.fallbacks += 1
            said, self._said_alone = self._said_alone, True
        if not said:
            self.log.warning(
                "Rate coordinator unreachable (%s): pacing on this machine (AIMD on 429s) "
                "and asking it again every %g s.",
                type(error).__name__,
                self.retry_after,
            )

    def _ask(
        self, step: str, ticket: str, dots: int, defer_over: float | None
    ) -> tuple[int, float, str]:
        status, seconds, limit = self._turn(
            keys=self._keys,
            args=[
                repr(self.limits.interval),
                repr(self.limits.dot_cost(dots)),
                self.priority,
                ticket,
                repr(-1.0 if defer_over is None else defer_over),
                repr(QUEUE_GRACE),
                repr(LONGEST_POLL),
                step,
            ],
        )
        text = limit.decode() if isinstance(limit, bytes) else str(limit)
        if text != "none":
            self.waiting_on = text
        return int(status), float(seconds), text

    def _leave(self, ticket: str) -> None:
        """Take a waiter that stops out of the backfill queue (best effort: it expires)."""
        if self.priority == "live":
            return
        try:
            self._client.zrem(self._keys[1], ticket)
            self._client.zrem(self._keys[2], ticket)
        except Exception:
            pass

    def turns(self) -> int:
        """Turns taken on the coordinator by every machine (the last count read, when it
        does not answer)."""
        from redis.exceptions import RedisError

        with contextlib.suppress(RedisError):
            self._turns = int(self._client.hget(self._keys[0], "turns") or 0)
        return self._turns

    # -- the Pacer protocol ---------------------------------------------------------------

    def wait_turn(
        self, wait: Callable[[float], None], defer_over: float | None = None, dots: int = 0
    ) -> float:
        """Wait (through ``wait``) for this request's turn; return the seconds waited.

        First a slot in queue order is reserved (live at once, backfills when first in their
        queue and the slot is one turn away at most), then the turn is taken once the slot
        has come and the last turn taken is ``interval`` old: a waiter that woke late pushes
        the next turn back instead of crowding it. Raises :class:`WaitTooLong` instead of
        waiting ``defer_over`` seconds or more.
        """
        if not self.limits.active:
            return 0.0
        if not self._coordinated():
            return self.local.wait_turn(wait, defer_over)
        from redis.exceptions import RedisError

        ticket, waited, step = uuid.uuid4().hex, 0.0, "reserve"
        try:
            while True:
                status, seconds, _ = self._ask(step, ticket, dots, defer_over)
                if status == TOO_LONG:
                    step = "done"
                    raise WaitTooLong(seconds)
                if status == RESERVED and step == "take":
                    step = "done"
                    return waited
                if status == RESERVED:
                    step = "take"
                if seconds > 0:
                    wait(seconds)
                    waited += seconds
        except RedisError as error:
            step = "done"
            self._fall_back(error)
            return waited + self.local.wait_turn(wait, defer_over)
        finally:
            if step == "reserve":
                self._leave(ticket)

    def throttled(self, retry_after: float) -> None:
        """The API answered 429: no turn of the token, on any machine, before ``retry_after``."""
        if not self.limits.active:
            return
        if not self._coordinated():
            self.local.throttled(retry_after)
            return
        from redis.exceptions import RedisError

        try:
            self._hold(keys=self._keys[:1], args=[repr(retry_after)])
        except RedisError as error:
            self._fall_back(error)
            self.local.throttled(retry_after)


__all__ = ["TURN_SCRIPT", "CoordinatedPacer", "SharedLimits"]
