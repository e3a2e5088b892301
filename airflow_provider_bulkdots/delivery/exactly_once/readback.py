"""Read back what a series holds: the documented read endpoint, paged, at the token's pace.

``GET /api/v1.6/devices/<device>/<variable>/values/?start=<ms>&end=<ms>&page_size=<n>&page=<k>``
answers ``{"count", "next", "previous", "results": [{"timestamp", "value", ...}]}``, newest
first. Reads go under the same path prefix as the bulk endpoint (``DeliverySettings.api_root``).
A 404 means "no such series" (it holds nothing) only once the API is known to answer under that
prefix (its device list answers 200, checked once per reader on the first 404); otherwise a 404
is an error naming the path, never an empty series. Every read takes a
slot of the same :class:`~.limiter.Pacer` as the writes, so reads never push the token over
its rate; 429, 5xx and network errors are retried within the same bounds as writes (a read
stores nothing, so it is always safe to repeat). Pure of Airflow.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import requests

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
from airflow_provider_bulkdots.delivery.settings import CHECK_PATH, DeliverySettings
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError, api_error

VALUES_PATH = "/api/v1.6/devices/{device}/{variable}/values/"
#: The largest page the API serves (Ubidots caps ``page_size``; the emulator at 1,000).
PAGE_SIZE = 1000
#: A bound on one read: pages of one series span (10 million dots).
MAX_PAGES = 10_000

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredDot:
    """One dot as the read endpoint returns it (``created_at`` in ms when the API gives it)."""

    timestamp: int
    value: float | None
    created_at: int | None

    @classmethod
    def parse(cls, item: object) -> StoredDot | None:
        """The dot of one result, or ``None`` when it has no numeric timestamp."""
        if not isinstance(item, dict) or not _is_number(item.get("timestamp")):
            return None
        created = _number(item.get("created_at"))
        return cls(
            int(item["timestamp"]),
            _number(item.get("value")),
            None if created is None else int(created),
        )


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class SeriesReader:
    """Reads the timestamps a series holds over a span; counts its requests.

    ``sleep`` spends each wait (pacing and backoff); tests pass ``lambda s: None``.
    """

    def __init__(
        self,
        session: requests.Session,
        auth: TokenAuth,
        settings: DeliverySettings,
        limiter: Pacer,
        *,
        sleep: Callable[[float], None] | None = None,
        page_size: int = PAGE_SIZE,
    ) -> None:
        self.session = session
        self.auth = auth
        self.settings = settings
        self.limiter = limiter
        self.page_size = page_size
        self.policy = RetryPolicy(
            max_retries=settings.max_retries, max_retry_seconds=settings.max_retry_seconds
        )
        self._sleep: Callable[[float], None] = sleep or time.sleep
        self._lock = threading.Lock()
        self.requests = 0
        self._api_answers = False  # the API's device list answered under api_root

    def url(self, device: str, variable: str) -> str:
        """The read endpoint of one series."""
        path = VALUES_PATH.format(device=quote(device, safe=""), variable=quote(variable, safe=""))
        return self.settings.api_root + path

    def timestamps(self, device: str, variable: str, start_ms: int, end_ms: int) -> set[int]:
        """Every timestamp (ms) the series holds in ``[start_ms, end_ms]``."""
        return {dot.timestamp for dot in self.dots(device, variable, start_ms, end_ms)}

    def dots(self, device: str, variable: str, start_ms: int, end_ms: int) -> list[StoredDot]:
        """Every dot the series holds in ``[start_ms, end_ms]``, newest first."""
        found: list[StoredDot] = []
        url = self.url(device, variable)
        for page in range(1, MAX_PAGES + 1):
            params = {"start": start_ms, "end": end_ms, "page_size": self.page_size, "page": page}
            data = self._read(url, params)
            if data is None:  # no such series, or past the last page
                return found
            results = data.get("results") or []
            found.extend(dot for dot in map(StoredDot.parse, results) if dot is not None)
            if not data.get("next") or not results:
                return found
        raise BulkDotsDeliveryError(
            f"reading {device}/{variable} back took more than {MAX_PAGES} pages"
        )

    def _read(self, url: str, params: dict[str, Any]) -> dict[str, Any] | None:
        """One page, retried within the policy's bounds; ``None`` for a 404."""
        page: dict[str, Any] | None = repeat_until_answered(
            self._read_once, url, params, policy=self.policy, pacer=self.limiter,
            sleep=self._sleep, doing=f"reading back {urlsplit(url).path}",
        )  # fmt: skip
        return page

    def _get(self, url: str, params: dict[str, Any]) -> requests.Response:
        """One paced GET; a network error is a read to repeat."""
        self.limiter.wait_turn(self._sleep)
        with self._lock:
            self.requests += 1
        try:
            with request_deadline(self.settings.timeout), departing(lambda: leaving(self.limiter)):
                return self.session.get(
                    url,
                    params=params,
                    headers={"Accept": "application/json", "User-Agent": HEADERS["User-Agent"]},
                    auth=self.auth,
                    timeout=(self.settings.timeout, self.settings.timeout),
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            raise Again(f"{type(exc).__name__}: {self.auth.redact(str(exc))}") from None

    def _not_found(self, url: str) -> None:
        """A 404 is "no such series" only where the API answers; else an error naming the path
        (without host, query or token)."""
        if self._api_answers:
            return
        root = self.settings.api_root
        check = self._get(root + CHECK_PATH, {"page_size": 1})
        if check.status_code == 200 and isinstance(reply_json(check).get("results"), list):
            self._api_answers = True
            return
        if is_retryable_status(check.status_code):
            raise Again(f"HTTP {check.status_code}")
        prefix = urlsplit(root).path or "/"
        raise BulkDotsDeliveryError(
            f"reading back {urlsplit(url).path} answered 404, and the API's device list "
            f"{urlsplit(root + CHECK_PATH).path} answered {check.status_code}: the API does not "
            f"answer under {prefix!r}; check the connection's host and its 'endpoint' extra "
            "(reads go under the path before its /api/)"
        )

    def _read_once(self, url: str, params: dict[str, Any]) -> dict[str, Any] | None:
        response = self._get(url, params)
        status = response.status_code
        data = reply_json(response)
        if status == 404:
            self._not_found(url)
            return None
        if 200 <= status < 300 and isinstance(data.get("results"), list):
            return data
        if is_retryable_status(status):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Again(f"HTTP {status}", retry_after, limited=status in (420, 429))
        raise api_error(status, data, self.auth.redact(response.text[:QUOTED_REPLY_CHARS]))
