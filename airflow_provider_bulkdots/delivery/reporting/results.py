"""What a delivery reports: per body as it is acknowledged, and a summary at the end."""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from airflow_provider_bulkdots.exceptions import BulkDotsError

#: Replies with which the API refuses a request before storing anything of it.
REFUSED_UNSTORED = ("401", "403", "420", "423", "429")

BodyOutcome = Literal["sent", "lost_reply", "failed", "stopped", "quarantined"]


@dataclass(frozen=True, slots=True)
class RefusedDot:
    """One dot the API refused (400, or 204 "not saved"), isolated by splitting its body."""

    body_id: str
    device: str
    variable: str
    timestamp: int | float | None
    value: Any
    status: int
    code: int | None
    message: str
    detail: Any = None

    def describe(self) -> str:
        """One line: which dot, and the API's words."""
        text = f"{self.device}/{self.variable} at {self.timestamp}: {self.message}"
        if self.detail not in (None, "", self.message):
            text += f" - {self.detail}"
        return text


@dataclass(slots=True)
class SendResult:
    """The fate of one body: its task_ids (several when it was split), and what it cost.

    ``outcome`` is ``"sent"`` when every dot was acknowledged or refused, ``"lost_reply"`` when a
    reply was lost and ``resend_lost_replies`` is off: the API may or may not have the dots.
    ``"failed"`` means an error stopped it (``error`` says which), ``"stopped"`` that the
    delivery was stopping before it was finished; either way some halves may be stored.
    ``"quarantined"``: every dot was acknowledged or refused except those of the devices in
    ``quarantined`` (device: dots), which the API answered 423 (device disabled) and which
    were not stored; the body is not finished, so a later try sends those dots.
    """

    seq: int
    body_id: str
    dots: int
    size: int
    outcome: BodyOutcome = "sent"
    task_ids: list[str] = field(default_factory=list)
    requests: int = 0
    retries: int = 0
    splits: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    lost_replies: int = 0
    possible_duplicate_dots: int = 0
    refused: list[RefusedDot] = field(default_factory=list)
    quarantined: Counter[str] = field(default_factory=Counter)
    error: BulkDotsError | None = None

    @property
    def rejected(self) -> list[RefusedDot]:
        """Deprecated name of :attr:`refused`."""
        warnings.warn(
            "rejected is deprecated: use refused (see the glossary)", DeprecationWarning, 2
        )
        return self.refused

    @property
    def acknowledged(self) -> bool:
        """The API acknowledged every dot it did not reject."""
        return self.outcome == "sent"

    @property
    def may_be_stored(self) -> bool:
        """Whether any request of the body may have stored some of its dots: it was
        acknowledged in part, or a request got another reply than a refusal made before
        storing anything (401, 403, 420, 423, 429), or none."""
        refused = sum(self.statuses[status] for status in REFUSED_UNSTORED)
        return bool(self.task_ids) or self.requests > refused


@dataclass(slots=True)
class DeliverySummary:
    """Counts of a whole delivery; JSON-ready through :meth:`as_dict` (for XCom)."""

    requests: int = 0
    bodies: int = 0
    dots: int = 0
    bytes: int = 0
    retries: int = 0
    splits: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    lost_replies: int = 0
    possible_duplicate_bodies: int = 0
    possible_duplicate_dots: int = 0
    lost_reply_bodies: int = 0
    lost_reply_dots: int = 0
    refused: list[RefusedDot] = field(default_factory=list)
    #: Dots not sent per device the API answered 423 (device disabled) for.
    quarantined: Counter[str] = field(default_factory=Counter)

    @property
    def rejected(self) -> list[RefusedDot]:
        """Deprecated name of :attr:`refused`."""
        warnings.warn(
            "rejected is deprecated: use refused (see the glossary)", DeprecationWarning, 2
        )
        return self.refused

    seconds: float = 0.0
    #: Times the rate coordinator did not answer and the machine paced alone.
    coordinator_fallbacks: int = 0

    @property
    def throttled(self) -> int:
        """Replies 429 (and 420) received."""
        return self.statuses.get("429", 0) + self.statuses.get("420", 0)

    @property
    def rate(self) -> float:
        """Requests per second over the delivery."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def add(self, result: SendResult) -> None:
        """Count one body's result."""
        self._add_requests(result)
        if result.acknowledged:
            self.bodies += 1
            self.dots += result.dots - len(result.refused)
            self.bytes += result.size
        elif result.outcome == "lost_reply":
            self.lost_reply_bodies += 1
            self.lost_reply_dots += result.dots
        elif result.outcome == "quarantined":  # the rest of it is stored
            self.dots += result.dots - len(result.refused) - result.quarantined.total()

    def _add_requests(self, result: SendResult) -> None:
        """Count what a body cost, whatever its outcome."""
        self.requests += result.requests
        self.retries += result.retries
        self.splits += result.splits
        self.statuses.update(result.statuses)
        self.lost_replies += result.lost_replies
        if result.possible_duplicate_dots:
            self.possible_duplicate_bodies += 1
            self.possible_duplicate_dots += result.possible_duplicate_dots
        self.refused.extend(result.refused)
        self.quarantined.update(result.quarantined)

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON types only."""
        data = asdict(self)
        data["statuses"] = dict(sorted(self.statuses.items()))
        data["refused"] = [asdict(dot) for dot in self.refused]
        data["quarantined"] = dict(sorted(self.quarantined.items()))
        data["throttled"] = self.throttled
        data["rate"] = round(self.rate, 3)
        data["seconds"] = round(self.seconds, 3)
        return data
