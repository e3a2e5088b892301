"""What a route handler (:mod:`.admin`, :mod:`.bulk`, :mod:`.reads`) may use of the emulated
API: its state and its token and rate checks. :class:`.api.EmulatorAPI` provides it; the
handlers depend on this protocol, not on the API module that routes to them."""

from __future__ import annotations

from typing import Any, Protocol

from airflow_provider_bulkdots.emulator.faults import FaultInjector
from airflow_provider_bulkdots.emulator.messages import Request, Response
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter
from airflow_provider_bulkdots.emulator.store import Store


class DeletionQueue(Protocol):
    """The deletes waiting to take effect (:class:`.deletes.PendingDeletions`)."""

    delay_s: float

    def add(self, deletion: Any) -> None:
        """Queue a :class:`.deletes.Deletion`."""


class EmulatorService(Protocol):
    """The emulated API as its handlers see it."""

    store: Store
    rate_limiter: EmulatorRateLimiter
    faults: FaultInjector
    max_body_bytes: int
    visibility_delay_s: float
    deletions: DeletionQueue

    def authenticate(self, request: Request) -> Response | None:
        """None for the right token, else the 401 to answer."""

    def throttle(self) -> Response | None:
        """None if the token is within its rate, else the 429."""

    def set_visibility_delay(self, seconds: float) -> None:
        """Dots stored from now on show in reads this many seconds after their write."""

    def reset(self) -> None:
        """Clear dots, counters, faults and rate-limit history."""
