"""The pace of requests, as the sender sees it: the seam between sending and pacing.

Two implementations: :class:`~.token.TokenPacer`, one pace per token shared by every thread
and every process on the machine, adapting to 429s across machines; and
:class:`~.coordinator.CoordinatedPacer`, one pace per token shared by every machine through a
coordinator (Redis), falling back to the machine's own when the coordinator does not answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


class Pacer(Protocol):
    """What the sender asks of a pace. Called from every sending thread at once.

    :meth:`wait_turn` runs before each request (reads included) and returns once the request
    may leave, spending its waits through ``wait`` (so a stopping delivery can interrupt them);
    it raises :class:`~.token.WaitTooLong` instead of waiting ``defer_over`` seconds or more.
    :meth:`throttled` runs when the API answered 429/420 and the sender is about to wait
    ``retry_after``: later turns start no earlier than that. ``dots`` is how many dots the
    request carries (0 for reads), for a pace that also limits the account's dots per hour.
    """

    def wait_turn(
        self, wait: Callable[[float], None], defer_over: float | None = None, dots: int = 0
    ) -> float: ...

    def throttled(self, retry_after: float) -> None: ...


@runtime_checkable
class SharedPace(Protocol):
    """A pace that also says what it waits on and how often it had to pace alone.

    ``waiting_on`` names the limit of the last wait (``"rate_limit"``, ``"dots_per_hour"``,
    ``None``: no wait); ``fallbacks`` counts the times the coordinator did not answer.
    """

    waiting_on: str | None
    fallbacks: int


@runtime_checkable
class Departures(Protocol):
    """A pace told when each request really leaves, right before it goes (in the thread that
    took the turn): a request that leaves late is spaced from then, not from its turn."""

    def leaving(self) -> None: ...


def leaving(pace: Pacer) -> None:
    """Tell ``pace`` that this thread's request leaves now (if it wants to know)."""
    if isinstance(pace, Departures):
        pace.leaving()
