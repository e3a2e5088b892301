"""The pace of requests, as the sender sees it: the seam between sending and pacing.

The implementation is :class:`~.pacing.TokenPacer`: one pace per token, shared by every
thread and every process on the machine, adapting to 429s across machines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol


class Pacer(Protocol):
    """What the sender asks of a pace. Called from every sending thread at once.

    :meth:`wait_turn` runs before each request (reads included) and returns once the request
    may leave, spending its waits through ``wait`` (so a stopping delivery can interrupt them);
    it raises :class:`~.pacing.WaitTooLong` instead of waiting ``defer_over`` seconds or more.
    :meth:`throttled` runs when the API answered 429/420 and the sender is about to wait
    ``retry_after``: later turns start no earlier than that.
    """

    def wait_turn(
        self, wait: Callable[[float], None], defer_over: float | None = None
    ) -> float: ...

    def throttled(self, retry_after: float) -> None: ...
