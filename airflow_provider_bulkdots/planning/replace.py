"""Correct a span: ``replace=True`` deletes what each series holds in the input's span, confirms
by reading back that the span is empty, and only then lets the input be written.

- The span is the input's own, per series (its first and last timestamp there): nothing
  outside it is ever deleted. The whole input is read first (bodies held on local disk), so
  the span is bounded before the first delete; an input without dots, or with invalid rows
  (their instants would be emptied and not written), is refused before any request.
- The delete is the v2.0 values delete (``delete_path``; asynchronous: it answers a task id),
  retried like a read (deleting a span twice deletes nothing more). The read-back polls each
  series until its span is empty, bounded by ``confirm_timeout``.
- Once confirmed, a marker tied to the input's fingerprint is written beside the delivery
  ledger. A later try of the same task finding it does not delete again (its own earlier
  writes would go) but writes, the ledger skipping what was acknowledged; without the marker
  (a try stopped between delete and confirmation) it deletes again, then writes everything.
  Either way the span ends holding the input's dots once. Pure of Airflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from airflow_provider_bulkdots.delivery.exactly_once.existing import collect_spans
from airflow_provider_bulkdots.delivery.exactly_once.ledger import KeyValueStore
from airflow_provider_bulkdots.delivery.http.attempt import (
    HEADERS,
    QUOTED_REPLY_CHARS,
    is_retryable_status,
    parse_retry_after,
    reply_json,
)
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.retry import Again, RetryPolicy, repeat_until_answered
from airflow_provider_bulkdots.delivery.http.transport import departing, request_deadline
from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer, leaving
from airflow_provider_bulkdots.delivery.settings import DeliverySettings
from airflow_provider_bulkdots.dots import Body, Report
from airflow_provider_bulkdots.dots.spool import spool_bodies
from airflow_provider_bulkdots.exceptions import (
    BulkDotsDeliveryError,
    ConfigurationError,
    api_error,
)
from airflow_provider_bulkdots.planning.check import DotsReader

Series = tuple[str, str]
log = logging.getLogger(__name__)
#: Seconds between two read-backs of a span not yet empty.
CONFIRM_POLL_SECONDS = 1.0


def check_replace(*, incremental: bool, skip_existing: bool) -> None:
    """Refuse what cannot be combined with ``replace`` (before reading anything)."""
    if incremental or skip_existing:
        raise ConfigurationError(
            "replace=True takes the whole input as the truth of its span: it cannot be "
            "combined with incremental or skip_existing",
            setting="replace",
        )


class SpanDeleter:
    """Deletes one series' values in a span through ``delete_path``; counts its requests."""

    def __init__(
        self,
        session: requests.Session,
        auth: TokenAuth,
        settings: DeliverySettings,
        limiter: Pacer,
        *,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.session, self.auth, self.settings, self.limiter = session, auth, settings, limiter
        self.policy = RetryPolicy(
            max_retries=settings.max_retries, max_retry_seconds=settings.max_retry_seconds
        )
        self._sleep: Callable[[float], None] = sleep or time.sleep
        self.requests = 0

    def delete(self, device: str, variable: str, start_ms: int, end_ms: int) -> str | None:
        """Ask the API to delete the series' values in ``[start_ms, end_ms]``; its task id."""
        url = self.settings.delete_url(device, variable)
        params = {"startDate": start_ms, "endDate": end_ms}

        task_id: str | None = repeat_until_answered(
            self._post, url, params, policy=self.policy, pacer=self.limiter, sleep=self._sleep,
            doing=f"deleting {device}/{variable}",
        )  # fmt: skip
        return task_id

    def _post(self, url: str, params: dict[str, Any]) -> str | None:
        self.limiter.wait_turn(self._sleep)
        self.requests += 1
        try:
            with request_deadline(self.settings.timeout), departing(lambda: leaving(self.limiter)):
                response = self.session.post(
                    url,
                    params=params,
                    headers={"Accept": "application/json", "User-Agent": HEADERS["User-Agent"]},
                    auth=self.auth,
                    timeout=(self.settings.timeout, self.settings.timeout),
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            raise Again(f"{type(exc).__name__}: {self.auth.redact(str(exc))}") from None
        data = reply_json(response)
        if 200 <= response.status_code < 300:
            task_id = data.get("task_id") or data.get("id")
            return str(task_id) if task_id else None
        if is_retryable_status(response.status_code):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Again(f"HTTP {response.status_code}", retry_after, response.status_code == 429)
        text = self.auth.redact(response.text[:QUOTED_REPLY_CHARS])
        raise api_error(response.status_code, data, text)


class ReplaceMarker:
    """Whether a try already emptied the spans of this very input (beside its ledger)."""

    def __init__(self, store: KeyValueStore | None, key: str, tied: str) -> None:
        self.store, self.key, self.tied = store, key, tied

    def deleted(self) -> bool:
        return self.store is not None and self.store.get(self.key) == self.tied

    def mark(self) -> None:
        if self.store is not None:
            self.store.set(self.key, self.tied)


@dataclass
class ReplaceCounts:
    """What a replace deleted and what confirming it cost."""

    series: int = 0
    delete_requests: int = 0
    read_requests: int = 0
    task_ids: list[str] = field(default_factory=list)
    resumed: bool = False


@dataclass(frozen=True)
class Confirm:
    """How long to wait for the asynchronous delete: total bound and the wait between reads."""

    timeout: float = 300.0
    poll: float = 2.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def refuse_unbounded(spans: Mapping[Series, tuple[int, int]], report: Report) -> None:
    """Refuse, before any request, what would delete without writing back."""
    if report.invalid_rows:
        raise ConfigurationError(
            f"replace=True: {report.invalid_rows} invalid row(s) (first: "
            f"{report.invalid_sample[0]}); their instants would be deleted and not written. "
            "Fix them, or load without replace",
            setting="replace",
        )
    if not spans:
        raise ConfigurationError(
            "replace=True: the input holds no dot, so it bounds no span: nothing is deleted",
            setting="replace",
        )


def replacing(
    bodies: Iterable[Body],
    report: Report,
    deleter_of: Callable[[], SpanDeleter],
    reader_of: Callable[[], DotsReader],
    marker: ReplaceMarker,
    confirm: Confirm,
    counts: ReplaceCounts,
) -> Iterator[Body]:
    """The input's bodies, once each series' span in the API is confirmed empty."""
    spans: dict[Series, tuple[int, int]] = {}
    held = spool_bodies(collect_spans(bodies, spans))
    refuse_unbounded(spans, report)
    counts.series = len(spans)
    if marker.deleted():
        counts.resumed = True
        log.info("replace: an earlier try emptied the %d spans; writing the input.", len(spans))
        return held
    deleter = deleter_of()
    for (device, variable), (low, high) in sorted(spans.items()):
        task_id = deleter.delete(device, variable, low, high)
        counts.task_ids += [task_id] if task_id else []
    counts.delete_requests = deleter.requests
    reader = reader_of()
    confirm_empty(reader, spans, confirm)
    counts.read_requests = reader.requests
    marker.mark()
    log.info("replace: %d spans deleted and confirmed empty; writing the input.", len(spans))
    return held


def confirm_empty(
    reader: DotsReader, spans: Mapping[Series, tuple[int, int]], confirm: Confirm
) -> None:
    """Read each span back until it is empty (the delete is asynchronous), within the bound."""
    deadline = confirm.clock() + confirm.timeout
    waiting = dict(spans)
    while waiting:
        waiting = {
            series: span
            for series, span in sorted(waiting.items())
            if reader.dots(series[0], series[1], span[0], span[1])
        }
        if not waiting:
            return
        if confirm.clock() + confirm.poll > deadline:
            listed = ", ".join(f"{device}/{variable}" for device, variable in sorted(waiting))
            raise BulkDotsDeliveryError(
                f"replace: {len(waiting)} span(s) still hold dots {confirm.timeout:g} s after "
                f"the delete ({listed}); nothing was written. Retry the task"
            )
        confirm.sleep(confirm.poll)
