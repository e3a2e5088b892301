"""One request: POST one payload once, and interpret what its reply means.

This is the seam between the wire and everything above it. :func:`post_once` makes exactly
one HTTP call and returns one of four outcomes; nothing here waits, retries or counts:

- :class:`Acknowledged`: the API took the payload (it answered with a task_id);
- :class:`Refused`: 400, 413, 204 or 423, the payload itself was refused and nothing of it
  stored (the sender splits it);
- :class:`Retryable`: nothing was stored (429, a 5xx other than 501, no connection);
- :class:`LostReply`: the request may have reached the API but no reply came back, so
  resending it may store its dots twice (the *lost reply*).

Every other reply raises the typed :class:`~airflow_provider_bulkdots.exceptions.BulkDotsApiError`
(redirects included: they are never followed, since they would carry the token elsewhere).
What counts as an acknowledgement is decided in one place, :func:`interpret_reply`.

The statuses read as Ubidots' response-codes page defines them: **204** "one of the fields is
incorrect and the request is not saved" (refused, like a 400); **420** "you have exceeded your
API limits" (the plan's quota: :class:`~airflow_provider_bulkdots.exceptions.QuotaExceededError`,
never retried in place); **423** a device of the payload is disabled (refused: the sender splits
it until the disabled device is alone).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3.exceptions

from airflow_provider_bulkdots import __version__
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.transport import request_deadline
from airflow_provider_bulkdots.exceptions import (
    BulkDotsDeliveryError,
    NotAcknowledgedError,
    QuotaExceededError,
    api_error,
)

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": f"airflow-provider-bulkdots/{__version__}",
}
#: How much of an error reply's text an error message quotes.
QUOTED_REPLY_CHARS = 500
#: How many bytes of a 2xx reply without a task_id an error message quotes.
QUOTED_BYTES = 200


LIMIT_STATUSES = frozenset({429})
#: Replies refusing the payload as it is, storing nothing of it: the sender splits it.
REFUSED_STATUSES = frozenset({204, 400, 413, 423})
#: The 204's meaning on Ubidots' response-codes page (a 204 has no body to quote).
NOT_SAVED_204 = "One of the fields is incorrect and the request is not saved (204)"


def is_retryable_status(status: int) -> bool:
    """A per-second rate reply (429), or a server error other than 501 Not Implemented.

    420 is not retryable: it is the plan's quota, not a window that passes in seconds.
    """
    return status in LIMIT_STATUSES or (500 <= status <= 599 and status != 501)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds asked by a ``Retry-After`` header (a number or an HTTP date), else ``None``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The API took the payload: a 2xx reply carrying its ``task_id``."""

    status: int
    task_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """400, 413, 204 or 423: this payload was refused as it is, nothing of it stored;
    smaller parts of it may pass."""

    status: int
    data: Mapping[str, Any] = field(default_factory=dict)
    text: str = ""


@dataclass(frozen=True, slots=True)
class Retryable:
    """Nothing was stored; the same payload may be sent again.

    ``status`` is ``None`` when no connection was made. ``retry_after`` is the wait the API
    asked for (``Retry-After``), ``limited`` marks a rate-limit reply (429).
    """

    status: int | None
    reason: str
    retry_after: float | None = None
    limited: bool = False


@dataclass(frozen=True, slots=True)
class LostReply:
    """The request may have been stored, but its reply was lost (dropped, timed out)."""

    reason: str
    status: int | None = None


Outcome = Acknowledged | Refused | Retryable | LostReply


def reply_json(response: requests.Response) -> dict[str, Any]:
    """The reply's JSON object, or ``{}`` when it is not one."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def acknowledgement(response: requests.Response, auth: TokenAuth, body_id: str = "") -> Outcome:
    """A 2xx reply: acknowledged only by a JSON object carrying a non-empty ``task_id``.

    Anything else (an HTML page, ``{}``, a 204) is an API error naming the status, the content
    type and the first bytes of the reply: the API may or may not have stored the payload.
    """
    status = response.status_code
    data = reply_json(response)
    task_id = data.get("task_id")
    if isinstance(task_id, str | int) and not isinstance(task_id, bool) and str(task_id).strip():
        return Acknowledged(status, str(task_id))
    content_type = response.headers.get("Content-Type") or "no content type"
    first = auth.redact(response.content[:QUOTED_BYTES].decode("utf-8", "replace"))
    raise NotAcknowledgedError(
        status,
        None,
        f"the API answered {status} ({content_type}) without a task_id, so the payload is not "
        f"acknowledged (it may or may not be stored); the reply began {first!r}",
        None,
        body_id=body_id,
    )


def interpret_reply(response: requests.Response, auth: TokenAuth, body_id: str = "") -> Outcome:
    """What one HTTP reply means for its payload; raises for replies not worth retrying."""
    status = response.status_code
    if status == 204:
        return Refused(204, {"message": NOT_SAVED_204})
    if 200 <= status < 300:
        return acknowledgement(response, auth, body_id)
    data = reply_json(response)
    if status in REFUSED_STATUSES:
        return Refused(status, data, auth.redact(response.text[:QUOTED_REPLY_CHARS]))
    if status == 420:
        raise quota_error(response, data, auth, body_id)
    if is_retryable_status(status):
        message = data.get("message") or data.get("detail") or response.reason
        return Retryable(
            status,
            f"HTTP {status}: {auth.redact(str(message))}",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
            limited=status in LIMIT_STATUSES,
        )
    location = response.headers.get("Location") if 300 <= status < 400 else None
    raise api_error(
        status,
        data,
        auth.redact(response.text[:QUOTED_REPLY_CHARS]),
        body_id,
        location=auth.redact(location) if location else None,
    )


def quota_error(
    response: requests.Response, data: Mapping[str, Any], auth: TokenAuth, body_id: str
) -> QuotaExceededError:
    """The error of a 420 reply, with the wait it asked for."""
    code = data.get("code")
    message = data.get("message") or data.get("detail") or response.text[:QUOTED_REPLY_CHARS]
    return QuotaExceededError(
        420,
        code if isinstance(code, int) else None,
        auth.redact(str(message)),
        body_id=body_id,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def reply_may_be_lost(exc: requests.RequestException) -> bool:
    """Whether the request may have reached the API (so resending may store it twice)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        reason = exc.args[0] if exc.args else None
        if isinstance(reason, urllib3.exceptions.MaxRetryError):
            reason = reason.reason
        return not isinstance(
            reason,
            urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError,
        )
    return True  # read timeout, reply cut short


def network_outcome(exc: requests.RequestException, auth: TokenAuth) -> Outcome:
    """The outcome of a request that got no complete reply (the token removed from the text)."""
    text = f"{type(exc).__name__}: {auth.redact(str(exc))}"
    if reply_may_be_lost(exc):
        return LostReply(f"reply lost: {text}")
    return Retryable(None, f"cannot connect: {text}")


def post_once(
    session: requests.Session,
    url: str,
    payload: bytes,
    auth: TokenAuth,
    timeout: float,
    body_id: str = "",
) -> Outcome:
    """POST ``payload`` once; its :data:`Outcome`. A TLS failure raises: retrying cannot fix it.

    ``timeout`` bounds the whole request, from connecting to the reply's last byte (with a
    session from :func:`~.transport.make_session`), not only each read. A 2xx status line
    whose body then breaks or stalls is a :class:`LostReply` carrying that status: the API
    took the payload, maybe, and only reading it back can tell.
    """
    with request_deadline(timeout) as deadline:
        try:
            response = session.post(
                url,
                data=payload,
                headers=HEADERS,
                auth=auth,
                timeout=(timeout, timeout),
                allow_redirects=False,
                stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise BulkDotsDeliveryError(
                f"TLS failed: {auth.redact(str(exc))}", body_id=body_id
            ) from None
        except requests.RequestException as exc:
            if deadline.expired:
                return LostReply(f"reply lost: no complete reply within timeout={timeout:g} s")
            return network_outcome(exc, auth)
        try:
            response.content  # noqa: B018 - reads the body: the status line alone interprets nothing
        except requests.RequestException as exc:
            text = f"{type(exc).__name__}: {auth.redact(str(exc))}"
            if deadline.expired:
                text = f"no complete reply within timeout={timeout:g} s"
            status = response.status_code
            if not 200 <= status < 300:  # the API did not take it: nothing stored
                return Retryable(status, f"HTTP {status}, then the reply broke: {text}")
            return LostReply(f"reply body lost after HTTP {status}: {text}", status)
        finally:
            response.close()
    return interpret_reply(response, auth, body_id)


__all__ = [
    "HEADERS",
    "LIMIT_STATUSES",
    "NOT_SAVED_204",
    "REFUSED_STATUSES",
    "Acknowledged",
    "LostReply",
    "Outcome",
    "Refused",
    "Retryable",
    "acknowledgement",
    "interpret_reply",
    "is_retryable_status",
    "network_outcome",
    "parse_retry_after",
    "post_once",
    "quota_error",
    "reply_json",
]
