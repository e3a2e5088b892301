"""Send bodies to the bulk endpoint: paced, concurrent, retried, split when refused.

One :class:`Sender` per delivery target. :meth:`Sender.deliver` pulls bodies from an iterable
lazily (at most ``2 * max_in_flight`` in memory), sends them from ``max_in_flight`` threads
sharing one ``requests.Session`` and one :class:`RateLimiter`, and reports each body's
:class:`SendResult` to a callback, in completion order, in the caller's thread.

A 413 splits the body and sends its halves; a 400 splits it until the refused dots are alone,
sends the rest and reports those dots. Everything else follows :mod:`.retry`.
Pure of Airflow: the Hook builds the session and hands over its logger.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests
import urllib3.exceptions
from requests.auth import AuthBase

from airflow_provider_bulkdots import __version__
from airflow_provider_bulkdots.delivery.limiter import RateLimiter
from airflow_provider_bulkdots.delivery.results import DeliverySummary, RejectedDot, SendResult
from airflow_provider_bulkdots.delivery.retry import (
    RETRY_STATUSES,
    RetryPolicy,
    is_retryable_status,
    parse_retry_after,
)
from airflow_provider_bulkdots.delivery.settings import DeliverySettings
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.split import (
    CannotSplitError,
    count_dots,
    iter_dots,
    split_payload,
)
from airflow_provider_bulkdots.exceptions import (
    BodyTooLargeError,
    BulkDotsDeliveryError,
    BulkDotsError,
    RejectedDotsError,
    api_error,
)

HEADERS = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "User-Agent": f"airflow-provider-bulkdots/{__version__}",
}
_REDACTED = "***"

OnResult = Callable[[Body, SendResult], None]


class TokenAuth(AuthBase):
    """The one place the token is put on a request: ``X-Auth-Token``, or ``?token=``."""

    def __init__(self, token: str, in_query: bool = False) -> None:
        self._token = token
        self.in_query = in_query

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.in_query:
            request.prepare_url(request.url, {"token": self._token})
        else:
            request.headers["X-Auth-Token"] = self._token
        return request

    def __repr__(self) -> str:
        return f"TokenAuth(token='{_REDACTED}', in_query={self.in_query})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenAuth) and (other._token, other.in_query) == (
            self._token,
            self.in_query,
        )

    def __hash__(self) -> int:
        return hash((TokenAuth, self.in_query))

    def redact(self, text: str) -> str:
        """``text`` with the token (plain or URL-quoted) replaced by ``***``."""
        if not self._token:
            return text
        quoted = quote(self._token, safe="")
        return text.replace(self._token, _REDACTED).replace(quoted, _REDACTED)


class _Stopped(Exception):
    """The delivery is stopping: do not start another attempt."""


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    data: dict[str, Any]
    text: str


def _reply_json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _outcome_unknown(exc: requests.RequestException) -> bool:
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


class Sender:
    """Delivers bodies to one bulk endpoint with one token.

    ``sleep`` spends every wait (pacing and backoff); by default it is an event wait that a
    stopping delivery interrupts. Tests pass ``lambda s: None`` to switch the waits off.
    """

    def __init__(
        self,
        session: requests.Session,
        auth: TokenAuth,
        settings: DeliverySettings,
        *,
        policy: RetryPolicy | None = None,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        log: Any = None,
        progress_interval: float = 30.0,
        rng: random.Random | None = None,
    ) -> None:
        self.session = session
        self.auth = auth
        self.settings = settings
        self.policy = policy or RetryPolicy(
            max_retries=settings.max_retries,
            max_retry_seconds=settings.max_retry_seconds,
            retry_unknown_outcome=settings.retry_unknown_outcome,
        )
        self.limiter = limiter or RateLimiter(settings.rate_limit, clock=clock)
        self._sleep = sleep
        self._clock = clock
        self.log = log or logging.getLogger(__name__)
        self.progress_interval = progress_interval
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._warned_413 = False

    # -- one request, retried -----------------------------------------------------------

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            if self._sleep is not None:
                self._sleep(seconds)
            else:
                self._stop.wait(seconds)
        if self._stop.is_set():
            raise _Stopped

    def _post(self, payload: bytes, dots: int, result: SendResult) -> _Reply | None:
        """POST until a final reply: 2xx, 400 or 413; ``None`` for a lost reply not resent."""
        started = self._clock()
        retries = 0
        while True:
            self._wait(self.limiter.reserve())
            result.requests += 1
            status: int | None = None
            unknown = False
            try:
                response = self.session.post(
                    self.settings.bulk_url,
                    data=payload,
                    headers=HEADERS,
                    auth=self.auth,
                    timeout=(self.settings.timeout, self.settings.timeout),
                    allow_redirects=False,
                )
            except requests.exceptions.SSLError as exc:
                raise BulkDotsDeliveryError(
                    f"TLS failed: {self.auth.redact(str(exc))}", body_id=result.body_id
                ) from None
            except requests.RequestException as exc:
                unknown = _outcome_unknown(exc)
                result.statuses["reply_lost" if unknown else "connect_error"] += 1
                if unknown:
                    result.unknown_outcomes += 1
                    if not self.policy.retry_unknown_outcome:
                        self.log.warning(
                            "Reply lost for body %s (%d dots): the API may have stored it; "
                            "not resent (retry_unknown_outcome is off).",
                            result.body_id,
                            dots,
                        )
                        return None
                kind = "reply lost" if unknown else "cannot connect"
                reason = f"{kind}: {type(exc).__name__}: {self.auth.redact(str(exc))}"
                delay = self.policy.wait(retries + 1, rng=self._rng)
            else:
                status = response.status_code
                result.statuses[str(status)] += 1
                data = _reply_json(response)
                if 200 <= status < 300 or status in (400, 413):
                    return _Reply(status, data, self.auth.redact(response.text[:500]))
                if not is_retryable_status(status):
                    raise api_error(
                        status, data, self.auth.redact(response.text[:500]), result.body_id
                    )
                limited = status in RETRY_STATUSES
                retry_after = parse_retry_after(response.headers.get("Retry-After"))
                delay = self.policy.wait(retries + 1, retry_after, limited, rng=self._rng)
                if limited:
                    self.limiter.defer(delay)
                message = data.get("message") or data.get("detail") or response.reason
                reason = f"HTTP {status}: {self.auth.redact(str(message))}"
            elapsed = self._clock() - started
            if not self.policy.allows(retries, elapsed, delay):
                raise BulkDotsDeliveryError(
                    f"gave up after {retries} retries in {elapsed:.1f} s; last: {reason}",
                    status=status,
                    body_id=result.body_id,
                    attempts=retries + 1,
                )
            if unknown:
                result.possible_duplicate_dots += dots
                self.log.warning(
                    "Reply lost for body %s (%d dots); resending: the API may store them twice.",
                    result.body_id,
                    dots,
                )
            retries += 1
            result.retries += 1
            self._wait(delay)

    # -- one body, split when refused ---------------------------------------------------

    def send_body(self, body: Body) -> SendResult:
        """Send one body, splitting it on 413 or 400; the result of every dot."""
        result = SendResult(seq=body.seq, body_id=body.body_id, dots=body.dot_count, size=body.size)
        try:
            self._send_payload(body.payload, body.dot_count, result)
        except BulkDotsError as exc:
            exc.partial = result  # type: ignore[attr-defined]
            raise
        return result

    def _send_payload(self, payload: bytes, dots: int, result: SendResult) -> None:
        if len(payload) > self.settings.max_body_bytes:
            self._split(payload, dots, result, None)
            return
        reply = self._post(payload, dots, result)
        if reply is None:
            result.outcome = "unknown"
            return
        if 200 <= reply.status < 300:
            result.task_ids.append(str(reply.data.get("task_id", "")))
            return
        if reply.status == 413 and not self._warned_413:
            self._warned_413 = True
            self.log.warning(
                "The API refused a body of %d bytes as too large (413): max_body_bytes=%d is "
                "set too high; splitting the bodies it refuses.",
                len(payload),
                self.settings.max_body_bytes,
            )
        self._split(payload, dots, result, reply)

    def _split(self, payload: bytes, dots: int, result: SendResult, reply: _Reply | None) -> None:
        try:
            halves = split_payload(payload)
        except CannotSplitError:
            if reply is None:
                raise BodyTooLargeError(
                    len(payload), self.settings.max_body_bytes, result.body_id
                ) from None
            if reply.status == 400 and dots == 1:
                self._reject(payload, reply, result)
                return
            raise api_error(reply.status, reply.data, reply.text, result.body_id) from None
        result.splits += 1
        for half in halves:
            self._send_payload(half, count_dots(half), result)

    def _reject(self, payload: bytes, reply: _Reply, result: SendResult) -> None:
        error = api_error(reply.status, reply.data, reply.text, result.body_id)
        for dot in iter_dots(payload):
            value = dot.dot.get("value") if isinstance(dot.dot, dict) else dot.dot
            rejected = RejectedDot(
                body_id=result.body_id,
                device=dot.device,
                variable=dot.variable,
                timestamp=dot.timestamp,
                value=value,
                status=reply.status,
                code=error.code,
                message=error.message,
                detail=error.detail,
            )
            result.rejected.append(rejected)
            self.log.warning("The API refused a dot: %s", rejected.describe())

    # -- many bodies --------------------------------------------------------------------

    def deliver(self, bodies: Iterable[Body], on_result: OnResult | None = None) -> DeliverySummary:
        """Send every body; report each result as it completes; return the counts.

        Stops at the first error that is not retried (or retries exhausted): bodies in flight
        finish and are reported, the rest are not sent, and the error is raised with
        ``summary`` set. Rejected dots and lost replies do not stop it: they are counted.
        """
        self._stop.clear()
        summary = DeliverySummary()
        started = last_log = self._clock()
        window = 2 * self.settings.max_in_flight
        source = iter(bodies)
        pending: dict[Future[SendResult], Body] = {}
        error: BaseException | None = None
        exhausted = False
        pool = ThreadPoolExecutor(self.settings.max_in_flight, thread_name_prefix="bulkdots")
        try:
            while True:
                while error is None and not exhausted and len(pending) < window:
                    try:
                        body = next(source)
                    except StopIteration:
                        exhausted = True
                    except BaseException as exc:
                        error = exc
                        self._stop.set()
                    else:
                        pending[pool.submit(self.send_body, body)] = body
                if not pending:
                    break
                done, _ = wait(
                    pending,
                    timeout=max(self.progress_interval, 0.05),
                    return_when=FIRST_COMPLETED,
                )
                for future in done:
                    body = pending.pop(future)
                    try:
                        result = future.result()
                    except _Stopped:
                        continue
                    except BaseException as exc:
                        partial = getattr(exc, "partial", None)
                        if isinstance(partial, SendResult):
                            summary.add_partial(partial)
                        if error is None:
                            error = exc
                        self._stop.set()
                        for other in pending:
                            other.cancel()
                        continue
                    summary.add(result)
                    if on_result is not None:
                        on_result(body, result)
                if self._clock() - last_log >= self.progress_interval:
                    last_log = self._clock()
                    summary.seconds = last_log - started
                    self._log_progress(summary, final=False)
                pending = {f: b for f, b in pending.items() if not f.cancelled()}
        except BaseException as exc:
            error = error or exc
            self._stop.set()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            summary.seconds = self._clock() - started
            if error is not None and isinstance(error, BulkDotsError):
                error.summary = summary
        self._log_progress(summary, final=True)
        if error is not None:
            raise error
        return summary

    def _log_progress(self, summary: DeliverySummary, final: bool) -> None:
        self.log.info(
            "%s %d requests, %d bodies, %d dots in %.1f s (%.2f requests/s), %d retries, "
            "%d throttled, %d replies lost, %d dots rejected.",
            "Delivered:" if final else "Progress:",
            summary.requests,
            summary.bodies,
            summary.dots,
            summary.seconds,
            summary.rate,
            summary.retries,
            summary.throttled,
            summary.unknown_outcomes,
            len(summary.rejected),
        )

    def send_bodies(self, bodies: Iterable[Body]) -> list[str]:
        """Send every body; return the task_ids in body order.

        Raises :class:`RejectedDotsError` after sending everything if the API refused dots,
        and :class:`BulkDotsDeliveryError` if some replies were lost and not resent.
        """
        task_ids: dict[int, list[str]] = {}

        def keep(body: Body, result: SendResult) -> None:
            task_ids[body.seq] = result.task_ids

        summary = self.deliver(bodies, keep)
        ordered = [task_id for seq in sorted(task_ids) for task_id in task_ids[seq]]
        if summary.rejected:
            raise RejectedDotsError(summary.rejected, ordered, summary)
        if summary.unacknowledged_bodies:
            raise BulkDotsDeliveryError(
                f"{summary.unacknowledged_bodies} bodies ({summary.unacknowledged_dots} dots) "
                "have an unknown outcome: their replies were lost and retry_unknown_outcome is off",
                summary=summary,
            )
        return ordered


__all__ = ["HEADERS", "OnResult", "Sender", "TokenAuth"]
