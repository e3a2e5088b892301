"""Settle bodies whose outcome is unknown by reading the API back: resend only what is missing.

A body's outcome is unknown when its request may have reached the API but no acknowledgement
came back (a lost reply, a 2xx status line whose body then broke, a crash between the request
and the ledger). Resending it blindly may store its dots twice; dropping it may lose them. So,
once ``delay`` has passed since the request (the API stores bulk writes asynchronously), each
series of the body is read back over the body's time span, and only the dots not found are
sent again, as a new payload. A resend whose reply is lost again is reconciled the same way, until
``timeout`` runs out: then the delivery fails, naming what is still unreconciled.

A dot counts as found when its series holds a value at its timestamp. A body of several series
lost in this delivery is first probed with one read, of its largest series, since the API
stores a body whole (one task per request) or not at all: when every dot of that series is
there with the same value, created since the delivery began (less ``CLOCK_SKEW_MS``), the body
is stored; when none is, it is not, and is sent again in full; any other finding (some dots,
or dots older than the delivery) reads every series.

Bodies an earlier try may have sent (found unknown in its ledger) are read back together:
each series once over the merged spans of the bodies that hold it (see
:mod:`.readback_plan`), with progress lines and an ETA. Pure of Airflow.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader, StoredDot
from airflow_provider_bulkdots.delivery.exactly_once.readback_plan import plan_reads
from airflow_provider_bulkdots.delivery.reporting.progress import StepMeter, format_duration
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.payload import (
    iter_dots,
    payload_without,
    resend_id,
    series_spans,
)
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError

#: How far the API's clock may run behind ours when ``created_at`` is compared with our start.
CLOCK_SKEW_MS = 300_000
#: ``on_reconciled(body, task_ids)``: a body read back (or resent) in full is finished.
OnReconciled = Callable[[Body, list[str]], None]


@dataclass
class HeldForReadBack:
    """A body (or what is left of it) whose outcome is unknown."""

    body: Body
    payload: bytes
    not_before: float
    task_ids: list[str] = field(default_factory=list)
    resends: int = 0
    fresh: bool = True  # lost in this delivery (not found in an earlier try's ledger)


@dataclass
class ReconcileCounts:
    """What reconciliation did: bodies reconciled by reading back, dots resent, reads made."""

    reconciled_bodies: int = 0
    resent_dots: int = 0


class Reconciler:
    """Holds the bodies whose reply was lost until ``delay`` has passed, then reads them back.

    :meth:`reconcile_ready` returns the resends to send (bodies whose ids end in ``~r<n>``) and
    calls the ``on_reconciled(body, task_ids)`` it is given for each body found complete; so do
    :meth:`resend_done` and :meth:`reconcile_all`.
    """

    def __init__(
        self,
        reader: SeriesReader,
        *,
        delay: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        log: Any = None,
        progress_interval: float = 30.0,
    ) -> None:
        self.reader = reader
        self.log = log or logging.getLogger(__name__)
        self.progress_interval = progress_interval
        self.delay = delay
        self.timeout = timeout
        self.counts = ReconcileCounts()
        self._clock = clock
        self._sleep = sleep
        self.started_ms = int(wall_clock() * 1000)
        self._queue: deque[HeldForReadBack] = deque()
        self._in_flight: dict[str, HeldForReadBack] = {}

    def __len__(self) -> int:
        return len(self._queue)

    def add(
        self,
        body: Body,
        payload: bytes | None = None,
        task_ids: Iterable[str] = (),
        fresh: bool = True,
    ) -> None:
        """A body whose outcome is unknown (``payload``: the part still to confirm; ``fresh``:
        its request was made by this delivery)."""
        base = self._in_flight.pop(body.body_id, None)
        if base is not None:  # a resend lost its reply in turn
            base.payload, base.not_before = body.payload, self._clock() + self.delay
            base.task_ids.extend(task_ids)
            self._queue.append(base)
            return
        item = HeldForReadBack(
            body, payload or body.payload, self._clock() + self.delay, list(task_ids)
        )
        item.fresh = fresh
        self._queue.append(item)

    def resend_done(self, resend: Body, task_ids: list[str], on_reconciled: OnReconciled) -> None:
        """A resend was acknowledged: its body is finished (unless the resend is unknown)."""
        item = self._in_flight.pop(resend.body_id, None)
        if item is not None:
            item.task_ids.extend(task_ids)
            on_reconciled(item.body, item.task_ids)

    def reconcile_ready(self, wait: bool, on_reconciled: OnReconciled) -> list[Body]:
        """Read back the bodies whose delay has passed (waiting for the first if ``wait``)."""
        if wait and self._queue:
            self._sleep(max(0.0, self._queue[0].not_before - self._clock()))
        ready: list[HeldForReadBack] = []
        while self._queue and self._queue[0].not_before <= self._clock():
            ready.append(self._queue.popleft())
        earlier = [item for item in ready if not item.fresh and item.resends == 0]
        together = {id(item) for item in earlier} if len(earlier) > 1 else set()
        found = self._read_together(earlier) if together else {}
        resends: list[Body] = []
        for item in ready:
            resend = self._read_back(item, on_reconciled, found if id(item) in together else None)
            if resend is not None:
                resends.append(resend)
        return resends

    def _read_together(self, items: list[HeldForReadBack]) -> dict[tuple[str, str], set[int]]:
        """Read back the series of bodies an earlier try may have sent: each series once
        over the merged spans that need it, with progress lines."""
        reads = plan_reads((item.payload for item in items), self.reader.page_size)
        before = self.reader.requests
        self.log.info(
            "Reading back %d bodies whose reply was lost from an earlier try: %d series reads "
            "(each series once over the spans that need it), a request each and one more per "
            "%d dots held.",
            len(items),
            len(reads),
            self.reader.page_size,
        )
        meter = StepMeter(
            "Reading back", len(reads), interval=self.progress_interval, clock=self._clock
        )
        found: dict[tuple[str, str], set[int]] = defaultdict(set)
        for read in reads:
            found[(read.device, read.variable)] |= self.reader.timestamps(
                read.device, read.variable, read.start, read.end
            )
            line = meter.step(self.reader.requests - before)
            if line is not None:
                self.log.info("%s", line)
        self.log.info(
            "Read back: %d series reads in %d requests and %s.",
            len(reads),
            self.reader.requests - before,
            format_duration(meter.elapsed()),
        )
        return found

    def _missing(
        self, item: HeldForReadBack, found_together: dict[tuple[str, str], set[int]] | None = None
    ) -> bytes:
        """What of the item's payload the API does not hold (``b""``: nothing)."""
        if found_together is not None:
            return payload_without(
                item.payload, lambda key: key[2] in found_together.get(key[:2], ())
            )
        spans = series_spans(item.payload)
        found: dict[tuple[str, str], set[int]] = {}
        if item.fresh and len(spans) > 1:
            probe, ours = _largest_series(item.payload)
            stored = self.reader.dots(*probe, *spans[probe])
            if self._stored_by_us(ours, stored):
                return b""
            found[probe] = {dot.timestamp for dot in stored}
            if not found[probe] & ours.keys():  # none of it: the body was not stored
                return item.payload
        for (device, variable), (start, end) in spans.items():
            if (device, variable) not in found:
                found[(device, variable)] = self.reader.timestamps(device, variable, start, end)
        return payload_without(item.payload, lambda key: key[2] in found.get(key[:2], ()))

    def _read_back(
        self,
        item: HeldForReadBack,
        on_reconciled: OnReconciled,
        found: dict[tuple[str, str], set[int]] | None = None,
    ) -> Body | None:
        missing = self._missing(item, found)
        if item.resends == 0:
            self.counts.reconciled_bodies += 1
        if not missing:
            on_reconciled(item.body, item.task_ids)
            return None
        item.resends += 1
        dots = sum(1 for _ in iter_dots(missing))
        self.counts.resent_dots += dots
        resend = Body(
            item.body.seq,
            missing,
            dots,
            body_id=resend_id(item.body.body_id, item.resends),
        )
        self._in_flight[resend.body_id] = item
        return resend

    def _stored_by_us(self, ours: dict[int, float | None], stored: list[StoredDot]) -> bool:
        """Whether every dot of ``ours`` is stored, same value, created during this delivery."""
        by_timestamp = {dot.timestamp: dot for dot in stored}
        since = self.started_ms - CLOCK_SKEW_MS
        for timestamp, value in ours.items():
            dot = by_timestamp.get(timestamp)
            if dot is None or dot.created_at is None or dot.created_at < since:
                return False
            if value is not None and dot.value != value:
                return False
        return True

    def reconcile_all(
        self, send: Callable[[list[Body]], None], on_reconciled: OnReconciled
    ) -> None:
        """Settle every held body, sending resends through ``send``, within ``timeout``."""
        deadline = self._clock() + self.timeout
        while self._queue:
            if self._clock() > deadline:
                raise self._unreconciled_error()
            resends = self.reconcile_ready(wait=True, on_reconciled=on_reconciled)
            if resends:
                send(resends)

    def _unreconciled_error(self) -> BulkDotsDeliveryError:
        dots = sum(sum(1 for _ in iter_dots(item.payload)) for item in self._queue)
        ids = ", ".join(item.body.body_id for item in list(self._queue)[:5])
        return BulkDotsDeliveryError(
            f"{len(self._queue)} bodies ({dots} dots) are still unreconciled after "
            f"{self.timeout:.0f} s of reading back and resending (reconcile_timeout): their "
            f"replies keep getting lost. First: {ids}. The ledger keeps them: a retry of the "
            "task reads them back again and resends only what is missing."
        )


def _largest_series(payload: bytes) -> tuple[tuple[str, str], dict[int, float | None]]:
    """The series with the most dots in a payload, and its dots' values by timestamp."""
    series: dict[tuple[str, str], dict[int, float | None]] = defaultdict(dict)
    for dot in iter_dots(payload):
        device, variable, timestamp = dot.key
        value = dot.value
        number = float(value) if isinstance(value, int | float) else None
        series[(device, variable)][timestamp] = number
    largest = max(series, key=lambda key: len(series[key]))
    return largest, series[largest]


__all__ = ["HeldForReadBack", "ReconcileCounts", "Reconciler"]
