"""Errors raised by the provider; each carries the data a caller needs to act on it.

::

    BulkDotsError
     ├── ConfigurationError           bad connection, extra, argument or token; nothing sent
     │    └── DotsOptionsError        the reshape options contradict each other
     ├── InvalidRowsError             rows broke the rules and on_invalid="fail"; nothing sent
     ├── DatasetError                 the input as a whole cannot be read without guessing
     ├── UnsafeBodyError              a body would hold null, NaN or Infinity; never sent
     ├── BodyTooLargeError            one dot alone is over max_body_bytes; never sent
     ├── BulkDotsApiError             the API answered with an error that is not retried
     │    ├── AuthenticationError     401, 403: missing, wrong or invalid token
     │    ├── PaymentRequiredError    402: the account is out of balance
     │    ├── NotFoundError           404: wrong host or endpoint
     │    ├── DeviceLockedError       423: a device is disabled
     │    ├── QuotaExceededError      420: the plan's API limit is used up; never retried in place
     │    ├── ValidationError         400: the body was refused
     │    └── NotAcknowledgedError    a 2xx without a task_id: not an acknowledgement
     ├── BulkDotsDeliveryError       retries exhausted (429, 5xx, network) or outcome unknown
     │    ├── RefusedDotsError      every body was sent, but the API refused some dots
     │    ├── DevicesDisabledError   every other device was served; these answered 423
     │    ├── DeliveryStoppedError   stopped from outside (the task was killed: on_kill)
     │    └── StaleTryError          a newer try of the task holds the delivery record
     └── CheckFailedError            a check found more differences than its tolerance

None of them ever holds the token: messages are built from the API's reply, which does not
echo it, and from the network error with the token removed.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any


class BulkDotsError(Exception):
    """Base class of every error of this provider.

    ``summary`` is set when the error stopped a delivery: the counts up to that point (a
    ``delivery.results.DeliverySummary``; typed loosely so this module stays at the bottom
    of the package, importable by the pure core).
    """

    summary: Any = None


class ConfigurationError(BulkDotsError, ValueError):
    """The connection, one of its extras or an argument is invalid; nothing was sent.

    ``setting`` names the setting (or ``"token"``, ``"host"``) at fault, when there is one.
    """

    setting: str | None

    def __init__(self, message: str, *, setting: str | None = None) -> None:
        self.setting = setting
        super().__init__(message)


class DotsOptionsError(ConfigurationError):
    """The reshape options contradict each other or name nothing usable."""


class InvalidRowsError(BulkDotsError, ValueError):
    """Invalid rows were found and the caller asked to fail rather than skip; nothing was sent.

    ``rows`` are the first invalid rows (``dots.errors.InvalidRow``: number, field, value,
    rule), ``total`` how many there were.
    """

    rows: list[Any]
    total: int

    def __init__(self, rows: Sequence[Any], total: int) -> None:
        self.rows = list(rows)
        self.total = total
        listed = "\n".join(f"  {row}" for row in self.rows)
        more = f"\n  ... and {total - len(self.rows)} more" if total > len(self.rows) else ""
        super().__init__(f"{total} invalid row(s); nothing was sent:\n{listed}{more}")


class DatasetError(BulkDotsError, ValueError):
    """The input as a whole cannot be read without guessing (its header, its delimiter, a
    column it lacks, its encoding); raised before anything is sent, showing what was read."""


class UnsafeBodyError(BulkDotsError, RuntimeError):
    """A body would hold null, NaN or Infinity (a bug upstream of the encoder): never sent."""


class BodyTooLargeError(BulkDotsError):
    """A body holds a single dot and is still over ``max_body_bytes``: it cannot be sent."""

    size: int
    limit: int
    body_id: str

    def __init__(self, size: int, limit: int, body_id: str = "") -> None:
        self.size = size
        self.limit = limit
        self.body_id = body_id
        where = f" (body {body_id})" if body_id else ""
        super().__init__(
            f"a single dot needs {size} bytes{where}, over max_body_bytes={limit}; "
            "it cannot be split further"
        )


class BulkDotsApiError(BulkDotsError):
    """The API answered with an error status that is not worth retrying.

    ``code``, ``message`` and ``detail`` are the API's own, as found in its JSON reply
    (``{"code": 401002, "message": "Incorrect authentication credentials."}``). A redirect
    (3xx, never followed: it would carry the token elsewhere) keeps its ``location``.
    """

    status: int
    code: int | None
    message: str
    detail: Any
    body_id: str
    location: str | None

    def __init__(
        self,
        status: int,
        code: int | None = None,
        message: str = "",
        detail: Any = None,
        *,
        body_id: str = "",
        location: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail
        self.body_id = body_id
        self.location = location
        super().__init__(self._describe())

    def _describe(self) -> str:
        text = f"HTTP {self.status}"
        if self.code is not None:
            text += f" (code {self.code})"
        if self.message:
            text += f": {self.message}"
        if self.detail not in (None, "", self.message):
            text += f" - {self.detail}"
        if self.location:
            text += f" (redirect to {self.location}, not followed)"
        if self.body_id:
            text += f" [body {self.body_id}]"
        return text


class AuthenticationError(BulkDotsApiError):
    """401 or 403: the token is missing, wrong or not allowed to write."""


class PaymentRequiredError(BulkDotsApiError):
    """402: the account has no balance left for this request."""


class NotFoundError(BulkDotsApiError):
    """404: the host or the endpoint path is wrong."""


class DeviceLockedError(BulkDotsApiError):
    """423: a device of the body is disabled."""


class QuotaExceededError(BulkDotsApiError):
    """420: the plan's API limit is used up ("You have exceeded your API limits").

    Not a per-second window like a 429: the request is never sent again in place. With
    deferral on, the task waits for ``retry_after`` (the API's ``Retry-After``) in the
    triggerer; otherwise it fails with this error.
    """

    retry_after: float | None

    def __init__(
        self,
        status: int,
        code: int | None = None,
        message: str = "",
        detail: Any = None,
        *,
        body_id: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, code, message, detail, body_id=body_id)

    def _describe(self) -> str:
        wait = self.retry_after
        after = "no Retry-After" if wait is None else f"Retry-After {wait:g} s"
        return (
            f"the plan's API limit is exhausted ({super()._describe()}; {after}): a quota of the "
            "Ubidots plan, not the per-second rate, so the request is not sent again in place; "
            "raise the plan's limit or run the task again once the quota renews"
        )


class ValidationError(BulkDotsApiError):
    """400: the API refused a body (bad JSON or a value it does not accept)."""


class NotAcknowledgedError(BulkDotsApiError):
    """A 2xx reply without a ``task_id`` (an HTML page, ``{}``, a 204): not an acknowledgement.

    The payload may or may not be stored; a retry of the task reconciles it by reading back.
    """


class BulkDotsDeliveryError(BulkDotsError):
    """Delivery stopped: retries were exhausted, or a reply was lost and not resent.

    ``summary`` holds the counts up to the failure (bodies acknowledged, dots, retries,
    possible duplicates). ``status`` is the last HTTP status seen (``None`` for a network
    error), ``reason`` says in words what happened, ``attempts`` counts the requests of the
    body that gave up, and ``retry_after`` is the wait the API asked for in its last reply
    (a 429's ``Retry-After``), if it asked.
    """

    reason: str
    status: int | None
    body_id: str
    attempts: int
    retry_after: float | None

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        body_id: str = "",
        attempts: int = 0,
        retry_after: float | None = None,
        summary: Any = None,
    ) -> None:
        self.reason = reason
        self.status = status
        self.body_id = body_id
        self.attempts = attempts
        self.retry_after = retry_after
        self.summary = summary
        text = reason
        if body_id:
            text += f" [body {body_id}, {attempts} attempts]"
        super().__init__(text)


class RefusedDotsError(BulkDotsDeliveryError):
    """Every body was delivered, but the API refused some dots (400, isolated one by one).

    ``refused`` lists each refused dot with the API's message; ``task_ids`` are those of
    the accepted requests, in body order.
    """

    refused: list[Any]
    task_ids: list[str]

    def __init__(
        self,
        refused: Sequence[Any],
        task_ids: Sequence[str],
        summary: Any = None,
    ) -> None:
        self.refused = list(refused)
        self.task_ids = list(task_ids)
        first = self.refused[0] if self.refused else None
        reason = f"the API refused {len(self.refused)} dot(s)"
        if first is not None:
            reason += f"; first: {first.describe()}"
        super().__init__(reason, status=400, summary=summary)

    @property
    def rejected(self) -> list[Any]:
        """Deprecated name of :attr:`refused`."""
        _deprecated("RefusedDotsError.rejected", "refused")
        return self.refused


class StaleTryError(BulkDotsDeliveryError):
    """This try is no longer the newest: another try holds the delivery record's lease.

    ``try_number`` is this try's, ``holder`` the try that took over (``None`` when the record
    could not be read back at all: then it is treated as taken over). Raised before the next
    request; the try writes nothing more to the record.
    """

    try_number: int
    holder: int | None

    def __init__(self, try_number: int, holder: int | None, why: str = "") -> None:
        self.try_number = try_number
        self.holder = holder
        newer = f"try {holder}"
        if holder is None:
            newer = f"a newer try ({try_number + 1} or later)"
        super().__init__(
            f"try {try_number} of this task is no longer the one delivering: {newer} holds the "
            f"delivery record's lease{why}; try {try_number} stops before its next request so "
            f"that only {newer} sends (nothing is sent twice)"
        )


class DeliveryStoppedError(BulkDotsDeliveryError):
    """The delivery was stopped from outside (Airflow killed the task: ``on_kill``).

    No request started after the stop, no wait was spent; the ledger was written up to what
    was acknowledged, so the next try sends only what is left (reading back what was in
    flight).
    """

    def __init__(self, summary: Any = None) -> None:
        super().__init__(
            "the delivery was stopped (the task was killed); the ledger keeps what was "
            "acknowledged: a retry sends only the rest",
            summary=summary,
        )


class DevicesDisabledError(BulkDotsDeliveryError):
    """The API answered 423 (device disabled) for some devices; every other one was served.

    ``devices`` maps each disabled device to the dots of it that were not sent; a retry sends
    only those (once the device is enabled again).
    """

    devices: dict[str, int]

    def __init__(self, devices: Mapping[str, int], summary: Any = None) -> None:
        self.devices = dict(sorted(devices.items()))
        listed = ", ".join(f"{device} ({dots} dots)" for device, dots in self.devices.items())
        super().__init__(
            f"the API answered 423 (device disabled) for {len(self.devices)} device(s), whose "
            f"dots were not sent: {listed}; every other device was delivered",
            status=423,
            summary=summary,
        )


class CheckFailedError(BulkDotsError):
    """A check read the API back and found more differences than its ``tolerance``.

    ``counts`` is the check's JSON-ready counts (``missing_dots``, ``unexpected_dots``,
    ``duplicate_timestamps``, ``value_mismatches``, ``differences``, the read cost).
    """

    counts: dict[str, Any]
    tolerance: int

    def __init__(self, counts: Mapping[str, Any], tolerance: int) -> None:
        self.counts = dict(counts)
        self.tolerance = tolerance
        kinds = ", ".join(
            f"{counts[key]} {key}"
            for key in (
                "missing_dots",
                "unexpected_dots",
                "duplicate_timestamps",
                "value_mismatches",
            )
        )
        super().__init__(
            f"the API differs from the source in {counts['differences']} place(s) "
            f"(tolerance {tolerance}): {kinds}"
        )


def api_error(
    status: int,
    reply: Mapping[str, Any] | None,
    text: str,
    body_id: str = "",
    location: str | None = None,
) -> BulkDotsApiError:
    """The typed exception for an error reply of the API."""
    reply = reply or {}
    code = reply.get("code")
    message = reply.get("message")
    detail = reply.get("detail")
    if message is None and isinstance(detail, str):
        message, detail = detail, None
    if message is None:
        message = text
    cls: type[BulkDotsApiError] = {
        400: ValidationError,
        401: AuthenticationError,
        402: PaymentRequiredError,
        403: AuthenticationError,
        404: NotFoundError,
        423: DeviceLockedError,
    }.get(status, BulkDotsApiError)
    return cls(
        status,
        code if isinstance(code, int) else None,
        str(message),
        detail,
        body_id=body_id,
        location=location,
    )


#: Old names of this module's classes, still importable (docs/glossary.md).
_RENAMED = {"RejectedDotsError": "RefusedDotsError"}


def _deprecated(old: str, new: str) -> None:
    warnings.warn(
        f"{old} is deprecated: use {new} (one word, one meaning: see the glossary)",
        DeprecationWarning,
        stacklevel=3,
    )


def __getattr__(name: str) -> Any:
    """An old class name, with a ``DeprecationWarning``."""
    if name in _RENAMED:
        _deprecated(name, _RENAMED[name])
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
