"""Send bodies to the bulk endpoint: paced, concurrent, retried, split when refused.

One :class:`Sender` per delivery target. It composes the parts, each in its own module:

- :mod:`.auth` puts the token on each request; :mod:`.attempt` makes one request and interprets
  what its reply means; :mod:`.retry` repeats an attempt within the policy's bounds;
- :mod:`.pacing` paces every request: one pace per token, shared by every task on the machine
  (any :class:`~.limiter.Pacer` may replace it); a wait of ``defer_over`` seconds or more
  asked by the API stops the delivery with :class:`~.pacing.WaitTooLong`, so the operator can
  hand the wait to the triggerer;
- :mod:`.window` keeps at most ``max_in_flight`` bodies in flight, pulled lazily.

This module keeps what is about *bodies*: a 413 splits the body and sends its halves; a 400 or
a 204 ("not saved") splits it until the refused dots are alone, sends the rest and reports
those dots; a 423 (device disabled) splits it until the disabled device is alone, sends every
other device and keeps that device's dots back (``quarantined``; later bodies holding a device
known disabled are split before any request). A 420 (the plan's quota) is never sent again in
place: with ``defer_over`` it stops the delivery for the ``Retry-After``, else it fails it.
Each body's :class:`SendResult` goes to a callback in completion order, in the caller's thread.
Pure of Airflow: the Hook builds the session and hands over its logger.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import requests

from airflow_provider_bulkdots.delivery.http.attempt import (
    Acknowledged,
    LostReply,
    Outcome,
    Refused,
    Retryable,
    post_once,
)
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.retry import RetryPolicy, send_until_final
from airflow_provider_bulkdots.delivery.http.transport import departing
from airflow_provider_bulkdots.delivery.http.window import InFlightWindow
from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer, SharedPace, leaving
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer, WaitTooLong
from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter
from airflow_provider_bulkdots.delivery.reporting.results import (
    DeliverySummary,
    RefusedDot,
    SendResult,
)
from airflow_provider_bulkdots.delivery.settings import DeliverySettings
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.payload import (
    CannotSplitError,
    count_dots,
    devices_of,
    half_path,
    iter_dots,
    split_payload,
)
from airflow_provider_bulkdots.exceptions import (
    BodyTooLargeError,
    BulkDotsApiError,
    BulkDotsDeliveryError,
    BulkDotsError,
    DeliveryStoppedError,
    DevicesDisabledError,
    QuotaExceededError,
    RefusedDotsError,
    api_error,
)

#: Replies that isolate the refused dots by splitting; each dot alone is reported.
_REJECTING = frozenset({204, 400})
_DISABLED = 423

OnResult = Callable[[Body, SendResult], None]
#: ``on_ack(body_id, part, task_id)``: a split half of a body was acknowledged (``part`` is its
#: path of halves, ``"0"``, ``"01"``, ...). Runs in a sending thread.
OnAck = Callable[[str, str, str], None]


class _Stopped(Exception):
    """The delivery is stopping: do not start another request."""


class Sender:
    """Delivers bodies to one bulk endpoint with one token.

    ``sleep`` spends every wait (pacing and backoff); by default it is a wait on the stop
    event, so a stopping delivery interrupts it. Tests pass ``lambda s: None`` to switch the
    waits off. ``limiter`` defaults to a :class:`TokenPacer` at
    ``settings.requests_per_second`` kept in this process. With ``defer_over``, a wait that
    long or longer asked by the API (a 429's ``Retry-After``, or the token's shared hold) is
    not spent: :class:`WaitTooLong` stops the delivery (bodies in flight finish and are
    reported) unless part of a body is already acknowledged, in which case that body waits
    in place.
    """

    def __init__(
        self,
        session: requests.Session,
        auth: TokenAuth,
        settings: DeliverySettings,
        *,
        limiter: Pacer | None = None,
        sleep: Callable[[float], None] | None = None,
        log: Any = None,
        progress_interval: float = 30.0,
        defer_over: float | None = None,
    ) -> None:
        self.session = session
        self.auth = auth
        self.settings = settings
        self.policy = RetryPolicy.from_settings(settings)
        self.limiter: Pacer = limiter or TokenPacer(settings.requests_per_second)
        self.defer_over = defer_over
        self._long_wait: WaitTooLong | None = None
        self._sleep = sleep
        self.log = log or logging.getLogger(__name__)
        self.progress_interval = progress_interval
        self._stop = threading.Event()
        #: Set by :meth:`stop` (the task is being killed): stays set for every delivery.
        self._halted = threading.Event()
        self._warned_413 = False
        self._on_ack: OnAck | None = None
        self._on_request: Callable[[str], None] | None = None
        #: Devices the API answered 423 for in this delivery.
        self._disabled: set[str] = set()
        self._disabled_lock = threading.Lock()

    # -- one payload: paced attempts within the retry policy ----------------------------

    def _wait(self, seconds: float) -> None:
        """Spend a wait; raise :class:`_Stopped` if the delivery is stopping."""
        if seconds > 0:
            if self._sleep is not None:
                self._sleep(seconds)
            else:
                self._stop.wait(seconds)
        if self._stop.is_set():
            raise _Stopped

    def _defer_over(self, result: SendResult) -> float | None:
        """The threshold of a deferral, unless part of this body is already acknowledged."""
        return None if result.task_ids else self.defer_over

    def _attempt(self, payload: bytes, dots: int, result: SendResult) -> Outcome:
        """One paced request of ``dots`` dots, counted in ``result``."""
        if self._stop.is_set():
            raise _Stopped
        self.limiter.wait_turn(self._wait, self._defer_over(result), dots)
        if self._on_request is not None:
            self._on_request(result.body_id)  # before the request can leave
        result.requests += 1
        try:
            with departing(lambda: leaving(self.limiter)):  # spaced from when it really goes
                outcome = post_once(
                    self.session,
                    self.settings.bulk_url,
                    payload,
                    self.auth,
                    self.settings.timeout,
                    result.body_id,
                )
        except QuotaExceededError as error:
            result.statuses[str(error.status)] += 1
            self._stop.set()  # the quota holds for every request: start no other one
            if self.defer_over is not None and error.retry_after is not None:
                raise WaitTooLong(error.retry_after) from None  # the plan renews: wait there
            raise
        except BulkDotsApiError as error:
            result.statuses[str(error.status)] += 1
            raise
        _count_status(outcome, result)
        return outcome

    def _post(self, payload: bytes, dots: int, result: SendResult) -> Outcome:
        """POST until the outcome is final (acknowledged, refused, or a lost reply kept)."""

        def on_retry(outcome: Outcome, wait: float) -> None:
            result.retries += 1
            if isinstance(outcome, Retryable) and outcome.limited:
                self.limiter.throttled(wait)
                threshold = self._defer_over(result)
                if threshold is not None and wait >= threshold:
                    raise WaitTooLong(wait)
            if isinstance(outcome, LostReply):
                result.possible_duplicate_dots += dots
                self.log.warning(
                    "Reply lost for body %s (%d dots); resending: the API may store them twice.",
                    result.body_id,
                    dots,
                )

        outcome = send_until_final(
            lambda: self._attempt(payload, dots, result),
            self.policy,
            sleep=self._wait,
            on_retry=on_retry,
            body_id=result.body_id,
        )
        if isinstance(outcome, LostReply):
            self.log.warning(
                "Reply lost for body %s (%d dots): the API may have stored it; "
                "not resent (resend_lost_replies is off).",
                result.body_id,
                dots,
            )
        return outcome

    # -- one body, split when refused ---------------------------------------------------

    def send_body(self, body: Body) -> SendResult:
        """Send one body, splitting it on 413 or 400: the fate of each of its dots.

        Never raises a :class:`BulkDotsError`: an error that stopped the body is its result's
        ``error`` (``outcome == "failed"``), with the requests made until then.
        """
        result = SendResult(seq=body.seq, body_id=body.body_id, dots=body.dot_count, size=body.size)
        try:
            self._send_payload(body.payload, body.dot_count, result)
        except BulkDotsError as exc:
            result.outcome, result.error = "failed", exc
        except _Stopped:
            result.outcome = "stopped"
        except WaitTooLong as wait:
            result.outcome = "stopped"
            self._long_wait = self._long_wait or wait
            self._stop.set()
        if result.outcome == "sent" and result.quarantined:
            result.outcome = "quarantined"
        return result

    def _send_payload(self, payload: bytes, dots: int, result: SendResult, part: str = "") -> None:
        if len(payload) > self.settings.max_body_bytes:
            self._split(payload, dots, result, None, part)
            return
        if self._disabled and self._keep_from_disabled(payload, dots, result, part):
            return
        outcome = self._post(payload, dots, result)
        if isinstance(outcome, LostReply):
            result.outcome = "lost_reply"
        elif isinstance(outcome, Acknowledged):
            result.task_ids.append(outcome.task_id)
            if part and self._on_ack is not None:
                self._on_ack(result.body_id, part, outcome.task_id)
        elif isinstance(outcome, Refused):
            if outcome.status == 413:
                self._warn_413(len(payload))
            if outcome.status == _DISABLED and self._quarantine(payload, dots, result):
                return
            self._split(payload, dots, result, outcome, part)

    def _quarantine(self, payload: bytes, dots: int, result: SendResult) -> bool:
        """Keep back a payload of one disabled device (True); False if it holds several."""
        devices = devices_of(payload)
        if len(devices) != 1:
            return False
        (device,) = devices
        with self._disabled_lock:
            known = device in self._disabled
            self._disabled.add(device)
        if not known:
            self.log.warning(
                "The API answered 423 for device %r (disabled): its dots are kept back, every "
                "other device is delivered.",
                device,
            )
        result.quarantined[device] += dots
        return True

    def _keep_from_disabled(self, payload: bytes, dots: int, result: SendResult, part: str) -> bool:
        """Split or keep back, without a request, a payload holding a device known disabled."""
        devices = devices_of(payload)
        with self._disabled_lock:
            disabled = devices & self._disabled
        if not disabled:
            return False
        if len(devices) == 1:
            return self._quarantine(payload, dots, result)
        self._split(payload, dots, result, None, part)
        return True

    def _warn_413(self, size: int) -> None:
        if not self._warned_413:
            self._warned_413 = True
            self.log.warning(
                "The API refused a body of %d bytes as too large (413): max_body_bytes=%d is "
                "set too high; splitting the bodies it refuses.",
                size,
                self.settings.max_body_bytes,
            )

    def _split(
        self,
        payload: bytes,
        dots: int,
        result: SendResult,
        refused: Refused | None,
        part: str = "",
    ) -> None:
        try:
            halves = split_payload(payload)
        except CannotSplitError:
            if refused is None:
                raise BodyTooLargeError(
                    len(payload), self.settings.max_body_bytes, result.body_id
                ) from None
            if refused.status in _REJECTING and dots == 1:
                self._reject(payload, refused, result)
                return
            raise api_error(refused.status, refused.data, refused.text, result.body_id) from None
        result.splits += 1
        for step, half in enumerate(halves):
            self._send_payload(half, count_dots(half), result, half_path(part, step))

    def _reject(self, payload: bytes, refused: Refused, result: SendResult) -> None:
        error = api_error(refused.status, refused.data, refused.text, result.body_id)
        for dot in iter_dots(payload):
            result.refused.append(
                RefusedDot(
                    body_id=result.body_id,
                    device=dot.device,
                    variable=dot.variable,
                    timestamp=dot.timestamp,
                    value=dot.value,
                    status=refused.status,
                    code=error.code,
                    message=error.message,
                    detail=error.detail,
                )
            )

    # -- many bodies --------------------------------------------------------------------

    def deliver(
        self,
        bodies: Iterable[Body],
        on_result: OnResult | None = None,
        on_ack: OnAck | None = None,
        meter: ProgressMeter | None = None,
        *,
        on_unfinished: OnResult | None = None,
        on_request: Callable[[str], None] | None = None,
    ) -> DeliverySummary:
        """Send every body; report each finished result as it completes; return the counts.

        ``on_result`` sees bodies that were acknowledged (``outcome == "sent"``, possibly with
        rejected dots) or whose reply was lost and not resent (``"lost_reply"``);
        ``on_unfinished`` those an error, a stop or a disabled device left unfinished
        (``"failed"``, ``"stopped"``, ``"quarantined"``; see ``SendResult.may_be_stored``).
        ``on_request(body_id)`` runs in the sending thread just before each request of a body
        leaves. The first error not retried (or retries exhausted) stops the delivery: bodies in
        flight finish and are reported, the rest are not sent, and the error is raised with
        ``summary`` set. ``meter`` writes the progress lines (by default one knowing no total).
        """
        self._begin(on_ack, on_request)
        summary, started = DeliverySummary(), time.monotonic()
        fallbacks = self._pace_report()[0]
        meter = meter or ProgressMeter(
            self.settings.requests_per_second, interval=self.progress_interval
        )
        meter.sending()

        def on_done(body: Body, result: SendResult) -> None:
            summary.add(result)
            meter.add(result)
            if result.outcome in ("failed", "stopped", "quarantined") and on_unfinished is not None:
                on_unfinished(body, result)
            if result.error is not None:
                raise result.error
            if result.outcome in ("sent", "lost_reply") and on_result is not None:
                on_result(body, result)
            if self._long_wait is not None:
                raise self._long_wait

        def tick() -> None:
            if meter.due():
                self.log.info("%s", meter.line(self._pace_report()[1]))

        try:
            self._run_window(bodies, on_done, tick)
            meter.all_sent()
        except (BulkDotsError, WaitTooLong) as error:
            error.summary = summary
            raise
        finally:
            summary.seconds = time.monotonic() - started
            summary.coordinator_fallbacks = self._pace_report()[0] - fallbacks
            self._log_refused(summary.refused)
            self.log.info("%s", meter.final_line())
        return summary

    def _run_window(
        self,
        bodies: Iterable[Body],
        on_done: Callable[[Body, SendResult], None],
        tick: Callable[[], None],
    ) -> None:
        """Send ``bodies`` at most ``max_in_flight`` at a time; raise
        :class:`~...exceptions.DeliveryStoppedError` if :meth:`stop` was called."""
        window: InFlightWindow[Body, SendResult] = InFlightWindow(
            self.settings.max_in_flight, self._stop, tick, self.progress_interval
        )
        window.run(bodies, self.send_body, on_done)
        if self._halted.is_set():
            raise DeliveryStoppedError()

    def _pace_report(self) -> tuple[int, str | None]:
        """The pace's fallbacks so far and the limit it waits on (a shared pace says them)."""
        if isinstance(self.limiter, SharedPace):
            return self.limiter.fallbacks, self.limiter.waiting_on
        return 0, None

    def _begin(self, on_ack: OnAck | None, on_request: Callable[[str], None] | None) -> None:
        """A delivery starts: no stop (unless halted), no long wait, no device known disabled."""
        if not self._halted.is_set():
            self._stop.clear()
        self._on_ack = on_ack
        self._on_request = on_request
        self._long_wait = None
        with self._disabled_lock:
            self._disabled.clear()

    def stop(self) -> None:
        """Stop every delivery of this sender, from any thread (the task is being killed):
        no request starts after this, no wait is spent; a request already on the wire ends
        within its deadline (``timeout``) and is reported as it ended. The delivery then
        raises :class:`~...exceptions.DeliveryStoppedError`."""
        self._halted.set()
        self._stop.set()

    def _log_refused(self, rejected: list[RefusedDot]) -> None:
        """Each dot the API refused, once per delivery."""
        for dot in rejected:
            self.log.warning("The API refused a dot: %s", dot.describe())

    def send_bodies(self, bodies: Iterable[Body]) -> list[str]:
        """Send every body; return the task_ids in body order.

        Raises :class:`DevicesDisabledError` after sending everything if the API answered 423
        for some devices, :class:`RefusedDotsError` if it refused dots, and
        :class:`BulkDotsDeliveryError` if some replies were lost and not resent.
        """
        task_ids: dict[int, list[str]] = {}

        def keep(body: Body, result: SendResult) -> None:
            task_ids[body.seq] = result.task_ids

        summary = self.deliver(bodies, keep)
        ordered = [task_id for seq in sorted(task_ids) for task_id in task_ids[seq]]
        if summary.quarantined:
            raise DevicesDisabledError(summary.quarantined, summary)
        if summary.refused:
            raise RefusedDotsError(summary.refused, ordered, summary)
        if summary.lost_reply_bodies:
            raise BulkDotsDeliveryError(
                f"{summary.lost_reply_bodies} bodies ({summary.lost_reply_dots} dots) "
                "have a lost reply: their replies were lost and resend_lost_replies is off",
                summary=summary,
            )
        return ordered


def _count_status(outcome: Outcome, result: SendResult) -> None:
    """Count one request's reply (or its absence) in ``result``."""
    if isinstance(outcome, LostReply):
        result.statuses["lost_reply"] += 1
        result.lost_replies += 1
    elif outcome.status is None:
        result.statuses["connect_error"] += 1
    else:
        result.statuses[str(outcome.status)] += 1


__all__ = ["OnAck", "OnResult", "Sender"]
