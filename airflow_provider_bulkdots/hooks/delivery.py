"""One delivery of a dataset: rows to bodies to the API, exactly once across a task's tries.

:class:`DatasetDelivery` is the one composition of the delivery parts: the core reshapes and
checks the rows (:func:`~..dots.checked_bodies`), ``skip_existing`` leaves out the dots the API
already holds, the ledger skips what an earlier try finished and names each body before a
request carries it, a lost reply is read back rather than resent blind, progress lines come at
the token's pace. :meth:`.BulkDotsHook.delivery` builds it complete; the operator runs it and
adds Airflow's part (deferral, XCom, assets); :meth:`.BulkDotsHook.deliver` runs it for a
TaskFlow task, with the ledger in that task instance's state store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_provider_bulkdots.delivery.exactly_once.delivery import (
    ExactlyOnceCounts,
    ExactlyOnceDelivery,
)
from airflow_provider_bulkdots.delivery.exactly_once.existing import (
    collect_spans,
    drop_existing,
    read_existing,
)
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.exactly_once.reconcile import Reconciler
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter
from airflow_provider_bulkdots.delivery.reporting.results import DeliverySummary
from airflow_provider_bulkdots.delivery.settings import DeliverySettings
from airflow_provider_bulkdots.dots import Body, InvalidRow, Report, ReshapeOptions, checked_bodies
from airflow_provider_bulkdots.dots.options import OnInvalid
from airflow_provider_bulkdots.dots.spool import spool_bodies
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError
from airflow_provider_bulkdots.sources.dataset import Dataset, ReadProgress
from airflow_provider_bulkdots.stores.ledger import DEFAULT_RETENTION_DAYS
from airflow_provider_bulkdots.stores.rejected import RejectedFile
from airflow_provider_bulkdots.stores.summary import task_summary

if TYPE_CHECKING:
    from airflow_provider_bulkdots.delivery.reporting.results import RefusedDot


@dataclass(frozen=True)
class Guarantees:
    """How a delivery keeps "nothing lost, nothing sent twice" (the operator's arguments of
    the same names; :meth:`.BulkDotsHook.deliver` takes them as keywords).

    :param resume: keep a ledger in the task instance's state store, so a retried try sends
        only what no earlier try finished.
    :param reconcile: read back a body whose reply was lost, and resend only its missing dots
        (a lost reply is then never resent blind).
    :param reconcile_delay: seconds between a lost reply and its read-back.
    :param reconcile_timeout: seconds of reading back and resending before the delivery fails.
    :param skip_existing: before the first request, read each series back over the input's
        span and leave out the dots it already holds.
    :param ledger_retention_days: how long the delivery record is kept (and, with a Ubidots
        Asset, used by later runs of the task for the same logical date).
    :param redeliver: set aside the record that earlier DAG runs of the task for the same
        logical date left with the Ubidots Asset, and send everything again, on purpose (once
        per DAG run: its retries keep the new record).
    """

    resume: bool = True
    reconcile: bool = True
    reconcile_delay: float = 5.0
    reconcile_timeout: float = 300.0
    skip_existing: bool = False
    ledger_retention_days: float = DEFAULT_RETENTION_DAYS
    redeliver: bool = False


#: A step between the core and the sending: ``stage(bodies, delivery)`` (incremental
#: watermarks, replace). It may read the API through ``delivery.reader()``.
BodyStage = Callable[[Iterator[Body], "DatasetDelivery"], Iterator[Body]]


@dataclass
class DeliveryParts:
    """What a delivery sends through, taken from a hook: the sender, a way to read series
    back (at the same pace), the resolved settings, the progress interval, how to close the
    connections, and the token's turns on this machine (progress lines show the held ratio)."""

    sender: Sender
    reader: Callable[[], SeriesReader]
    settings: DeliverySettings
    progress_interval: float = 30.0
    close: Callable[[], None] = field(default=lambda: None)
    #: The token's turns taken on this machine so far (all tasks), for the held ratio.
    token_turns: Callable[[], int] | None = None


class DatasetDelivery:
    """One delivery of ``dataset`` reshaped by ``options``, built complete; :meth:`run` once.

    ``ledger`` ``None``: nothing is remembered between tries. ``rejected_path``: invalid rows
    and refused dots as JSON Lines (``try_number`` tags this try's lines). ``stages`` run in
    order between the core and ``skip_existing``.
    """

    def __init__(
        self,
        parts: DeliveryParts,
        dataset: Dataset,
        options: ReshapeOptions,
        *,
        guarantees: Guarantees,
        ledger: DeliveryLedger | None,
        rejected_path: str | None = None,
        try_number: int = 1,
        stages: Sequence[BodyStage] = (),
        log: Any = None,
    ) -> None:
        self.parts = parts
        self.dataset = dataset
        self.options = options
        self.guarantees = guarantees
        self.ledger = ledger
        self.stages = tuple(stages)
        self.log = log or logging.getLogger(__name__)
        self.rejected_file = RejectedFile(rejected_path, try_number)
        self.report = Report(
            line_of=dataset.line_of, row_of=dataset.row_of, on_invalid_row=self.rejected_file.write
        )
        self.meter = ProgressMeter(
            parts.settings.requests_per_second,
            interval=parts.progress_interval,
            token_turns=parts.token_turns,
        )
        reconciler = None
        if guarantees.reconcile:
            reconciler = Reconciler(
                parts.reader(),
                delay=guarantees.reconcile_delay,
                timeout=guarantees.reconcile_timeout,
                log=self.log,
                progress_interval=parts.progress_interval,
            )
        self.exactly_once = ExactlyOnceDelivery(
            parts.sender, ledger, reconciler, meter=self.meter, log=self.log
        )

    # -- what it did ----------------------------------------------------------------------

    @property
    def counts(self) -> ExactlyOnceCounts:
        """What the ledger, read-back and skip_existing spared or cost."""
        return self.exactly_once.counts

    @property
    def delivery_summary(self) -> DeliverySummary:
        """The counts of this try's requests."""
        return self.exactly_once.summary

    @property
    def task_ids(self) -> list[str]:
        """Every task_id in body order (earlier tries' included)."""
        return self.exactly_once.task_ids

    @property
    def finished_seqs(self) -> set[int]:
        """The seqs of the bodies finished so far, by this try or an earlier one."""
        return self.exactly_once.finished_seqs

    @property
    def held_devices(self) -> dict[int, set[str]]:
        """Bodies (by seq) of this try acknowledged but for the devices the API answered 423
        for: those devices."""
        return self.exactly_once.held_devices

    def summary(self, seconds: float) -> dict[str, Any]:
        """The task summary (the operator's XCom ``summary``) of what was done so far."""
        return task_summary(
            self.report, self.exactly_once.summary, self.exactly_once.counts, seconds
        )

    def reader(self) -> SeriesReader:
        """A reader of the API's series, at the token's pace, counted in ``read_requests``."""
        return self.parts.reader()

    # -- running --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the delivery from another thread (``on_kill``): no request starts after
        this; :meth:`run` raises :class:`~..exceptions.DeliveryStoppedError` once the
        requests in flight ended, the ledger written (intents of bodies no request carried
        withdrawn, acknowledgements flushed), so the next try resumes from it."""
        self.parts.sender.stop()

    def run(self) -> list[str]:
        """Send every body; return the task_ids. Raises the first error not retried (with
        its ``summary``), or :class:`~..delivery.pacing.token.WaitTooLong` for a deferral."""
        with self.rejected_file:
            try:
                bodies = checked_bodies(self.dataset.rows(), self.options, self.report, self._tap)
                for stage in self.stages:
                    bodies = stage(bodies, self)
                self.exactly_once.run(self._without_existing(bodies))
            finally:
                self.parts.close()
                for dot in self.exactly_once.summary.refused:
                    self.rejected_file.write_refused_dot(dot)
        return self.exactly_once.task_ids

    def _tap(self, bodies: Iterator[Body]) -> Iterator[Body]:
        return measuring(self.dataset.progress, self.report, self.meter)(bodies)

    def _without_existing(self, bodies: Iterator[Body]) -> Iterator[Body]:
        """With ``skip_existing``, the bodies without the dots their series already hold."""
        if not self.guarantees.skip_existing:
            return bodies
        spans: dict[tuple[str, str], tuple[int, int]] = {}
        held = spool_bodies(collect_spans(bodies, spans))
        reader = self.reader()
        existing = read_existing(reader, spans)
        counts = self.exactly_once.counts
        counts.read_requests += reader.requests
        skipped = [0]

        def counted() -> Iterator[Body]:
            yield from drop_existing(held, existing, skipped)
            counts.skipped_existing_dots = skipped[0]

        self.log.info(
            "skip_existing: read %d series back in %d requests; %d dots already stored there.",
            len(spans),
            reader.requests,
            sum(len(found) for found in existing.values()),
        )
        return counted()

    def incomplete(self, on_invalid: OnInvalid) -> BulkDotsDeliveryError | None:
        """Why this delivery cannot count as done though nothing raised, or ``None``:
        lost replies left unknown, or (with ``on_invalid="fail"``) dots the API refused, in
        this try or an earlier one. Quarantined devices are the caller's to report."""
        delivery = self.exactly_once.summary
        if delivery.lost_reply_bodies:
            return BulkDotsDeliveryError(
                f"{delivery.lost_reply_bodies} body(ies) with "
                f"{delivery.lost_reply_dots} dots lost their reply and "
                "resend_lost_replies is off: the API may or may not have stored them. "
                "Check what was stored, then clear the task to resend them (or not)."
            )
        if delivery.refused and on_invalid == "fail":
            return BulkDotsDeliveryError(
                f"the API refused {len(delivery.refused)} dot(s); every other dot was stored:"
                f"\n{_listed(delivery.refused)}"
            )
        earlier = self.exactly_once.counts.earlier_refused_dots
        if earlier and on_invalid == "fail":
            return BulkDotsDeliveryError(
                f"the API refused {earlier} dot(s) in an earlier try of this task (see "
                "that try's log, and its lines in rejected_path); every other dot was stored"
            )
        return None

    def invalid_rows(self) -> tuple[list[InvalidRow], int]:
        """The first invalid rows left out, and how many there were."""
        return self.report.invalid_sample, self.report.invalid_rows


def _listed(rejected: list[RefusedDot]) -> str:
    return "\n".join(f"  {dot.describe()}" for dot in rejected[:20])


def measuring(
    read: ReadProgress, report: Report, meter: ProgressMeter
) -> Callable[[Iterator[Body]], Iterator[Body]]:
    """A tap telling ``meter`` of each body as it is built: its dots, and how far into the
    input the reader was."""

    def tap(bodies: Iterator[Body]) -> Iterator[Body]:
        for body in bodies:
            meter.total, meter.unit = read.total, read.unit
            position = read.position
            at_bytes = read.unit == "bytes" and position is not None
            read_to = position() if at_bytes and position else report.rows_read
            meter.built(body.seq, body.dot_count, read_to)
            yield body

    return tap
