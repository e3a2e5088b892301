"""Exactly once: the sender, the ledger and read-back reconciliation composed.

Each body is, in this order: skipped if an earlier try finished it (the ledger says so);
reconciled by reading back if an earlier try may have sent it (an intent, not finished);
when the ledger does not know it by id (the input changed since), checked dot by dot against
the ranges earlier tries recorded (:mod:`.dot_record`): acknowledged dots left out, doubtful
ones read back, new ones kept; then named in an intent with its ranges, stored before the
request, and sent. With a lease on the ledger
(:mod:`.lease`), the try takes it first and checks it before every request: a try that another
one took over stops before its next request and writes nothing more. A body whose reply is lost
(or whose 2xx status line came with a broken body) is held, read back after the delay, and
only its missing dots are resent. Acknowledged split halves and finished bodies are recorded
as they come. Pure of Airflow: the store behind the ledger is the caller's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, fields
from typing import Any

from airflow_provider_bulkdots.delivery.exactly_once.dot_matcher import DotMatcher
from airflow_provider_bulkdots.delivery.exactly_once.dot_record import DotIndex, body_ranges
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger, LedgerState
from airflow_provider_bulkdots.delivery.exactly_once.reconcile import Reconciler
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.pacing.token import WaitTooLong
from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter
from airflow_provider_bulkdots.delivery.reporting.results import DeliverySummary, SendResult
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.payload import is_resend, without_halves
from airflow_provider_bulkdots.exceptions import BulkDotsError

#: Bodies named by one intent write (one store write per this many bodies sent).
INTENT_BATCH = 16
#: HeldForReadBack bodies held before the sending pauses to read them back.
MAX_HELD = 256
#: Added to the request ``timeout`` when a try takes over a lease that was not released.
LEASE_MARGIN = 1.0


@dataclass
class ExactlyOnceCounts:
    """What the ledger and reconciliation spared or cost (part of the task's summary)."""

    resumed_bodies: int = 0
    resumed_dots: int = 0
    already_delivered_bodies: int = 0
    already_delivered_dots: int = 0
    reconciled_bodies: int = 0
    resent_dots: int = 0
    skipped_existing_dots: int = 0
    read_requests: int = 0
    #: Dots the API refused in bodies an earlier try finished (skipped by this one).
    earlier_refused_dots: int = 0
    #: Dots of bodies that changed since an earlier try, which its dot record shows
    #: acknowledged: not sent again (no read).
    acknowledged_dots_skipped: int = 0
    #: Dots of changed bodies inside a range an earlier try acknowledged or may have sent,
    #: whose own presence there is not certain: read back before any is sent.
    ambiguous_dots_read_back: int = 0


class ExactlyOnceDelivery:
    """Delivers bodies through ``sender`` so that a dot is stored once across tries.

    ``ledger`` ``None``: nothing is remembered between tries. ``reconciler`` ``None``: a lost
    reply is handled by the sender's own policy (resent or not per ``resend_lost_replies``),
    and a body an earlier try may have sent is sent again (counted as a possible duplicate).
    """

    def __init__(
        self,
        sender: Sender,
        ledger: DeliveryLedger | None,
        reconciler: Reconciler | None,
        *,
        meter: ProgressMeter | None = None,
        log: Any = None,
        intent_batch: int = INTENT_BATCH,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.sender = sender
        self.ledger = ledger
        self.lease = ledger.lease if ledger is not None else None
        self._sleep = sleep
        self.reconciler = reconciler
        self.log = log or logging.getLogger(__name__)
        self.intent_batch = intent_batch
        self.counts = ExactlyOnceCounts()
        self.summary = DeliverySummary()
        #: Writes the progress lines; bodies an earlier try finished count as done already.
        self.meter = meter
        self._task_ids: dict[int, list[str]] = {}
        #: Bodies of this try named in an intent that no request may have stored: none left
        #: for them yet (marked from the sending threads), or the API refused each one.
        self._unposted: set[str] = set()
        self._unposted_lock = threading.Lock()
        self._state = LedgerState()
        #: Bodies (by seq) acknowledged but for the devices the API answered 423 for.
        self.held_devices: dict[int, set[str]] = {}
        self._matcher: DotMatcher | None = None

    @property
    def task_ids(self) -> list[str]:
        """Every task_id in body order (earlier tries' included)."""
        return [task_id for seq in sorted(self._task_ids) for task_id in self._task_ids[seq]]

    @property
    def finished_seqs(self) -> set[int]:
        """The seqs of the bodies finished so far, by this try or an earlier one."""
        return set(self._task_ids)

    def run(self, bodies: Iterable[Body]) -> DeliverySummary:
        """Deliver every body; the counts of this try's requests (see :attr:`counts`)."""
        try:
            self._take_lease()
            self._state = self.ledger.load() if self.ledger is not None else LedgerState()
            self._log_found(self._state)
            index = self._dot_index()
            self._matcher = DotMatcher(index) if index is not None else None
            self._run(bodies)
        finally:
            self._release_lease()
        return self.summary

    def _take_lease(self) -> None:
        """Take the record's lease; wait out a request a try it takes over may still make."""
        if self.lease is None:
            return
        earlier = self.lease.take()
        if earlier is None:
            return
        grace = self.sender.settings.timeout + LEASE_MARGIN
        self.log.warning(
            "Try %d takes the delivery record over from try %d, which did not release it (it "
            "may still run, on %s pid %d): waiting %.1f s so that a request it had begun ends; "
            "try %d stops before its next request.",
            self.lease.try_number,
            earlier.try_number,
            earlier.host or "?",
            earlier.pid,
            grace,
            earlier.try_number,
        )
        self._sleep(grace)

    def _release_lease(self) -> None:
        if self.lease is None:
            return
        try:
            self.lease.release()
        except Exception as error:  # a later try waits out the grace instead: only slower
            self.log.warning("Could not release the delivery record's lease: %s", error)

    def _run(self, bodies: Iterable[Body]) -> None:
        try:
            self._deliver(self._to_send(bodies))
            if self.reconciler is not None:
                self.reconciler.reconcile_all(self._deliver, self._reconciled)
                # Every body whose reply was lost is now reconciled by reading back.
                self.summary.lost_reply_bodies = self.summary.lost_reply_dots = 0
        except BulkDotsError as error:
            error.summary = self.summary
            raise
        finally:
            self._withdraw_unposted()
            self._finish()
        if self.ledger is not None:
            self.ledger.complete()

    def _log_found(self, state: LedgerState) -> None:
        """Say, before anything is sent, what the ledger of earlier tries holds."""
        if state.complete:
            self.log.info(
                "Re-run: %d bodies were already delivered by an earlier try (its ledger says "
                "so); they are not sent again.",
                len(state.finished),
            )
            return
        unknown = len(
            {body_id for body_id in state.intents | state.parts.keys() if state.is_unknown(body_id)}
        )
        if not state.finished and not unknown:
            return
        self.log.info(
            "Resuming: an earlier try's ledger holds %d bodies acknowledged (not sent again) "
            "and %d whose reply was lost (%s); the rest is sent now.",
            len(state.finished),
            unknown,
            "read back before anything of them is resent"
            if self.reconciler is not None
            else "sent again: reconcile is off",
        )

    def _dot_index(self) -> DotIndex | None:
        """The dot ranges of the bodies earlier tries finished or may have sent (read from the
        ledger one stored value at a time), or ``None`` when there are none."""
        if self.ledger is None:
            return None
        index, state, damaged = DotIndex(), self._state, 0
        for body_id, ranges in self.ledger.recorded_ranges():
            if body_id in state.finished:
                damaged += index.add(ranges, acknowledged=True)
            elif state.is_unknown(body_id):
                damaged += index.add(ranges, acknowledged=False)
        if damaged:
            self.log.warning("Ignoring %d damaged ranges of the dot record.", damaged)
        return index if len(index) else None

    def _withdraw_unposted(self) -> None:
        """Withdraw the intents of bodies no request may have stored (the try stopped before
        them), so that the next try sends them without reading the API back first.

        Runs once the sending threads are done: a body whose request was leaving when the
        task was stopped is marked already, and stays unknown.
        """
        with self._unposted_lock:
            unposted, self._unposted = sorted(self._unposted), set()
        if self.ledger is not None and unposted:
            try:
                self.ledger.withdraw(unposted)
            except Exception as error:  # they are read back on resume: safe, only slower
                self.log.warning("Could not withdraw %d intents: %s", len(unposted), error)

    def _deliver(self, bodies: Iterable[Body]) -> None:
        try:
            part = self.sender.deliver(
                bodies,
                self._on_result,
                self._on_ack,
                self.meter,
                on_unfinished=self._on_unfinished,
                on_request=self._on_request,
            )
        except (BulkDotsError, WaitTooLong) as error:
            if isinstance(error.summary, DeliverySummary):
                _merge(self.summary, error.summary)
            raise
        _merge(self.summary, part)

    def _finish(self) -> None:
        if self.reconciler is not None:
            self.counts.reconciled_bodies = self.reconciler.counts.reconciled_bodies
            self.counts.resent_dots = self.reconciler.counts.resent_dots
            self.counts.read_requests += self.reconciler.reader.requests
        if self.ledger is not None:
            self.ledger.close()
        if self.counts.acknowledged_dots_skipped or self.counts.ambiguous_dots_read_back:
            self.log.info(
                "Input changed since an earlier try: %d dots of bodies that changed were "
                "acknowledged then (its dot record says so) and not sent again; %d were "
                "inside a range it acknowledged or may have sent, and read back first.",
                self.counts.acknowledged_dots_skipped,
                self.counts.ambiguous_dots_read_back,
            )

    # -- which bodies go out ------------------------------------------------------------

    def _to_send(self, bodies: Iterable[Body]) -> Iterator[Body]:
        batch: list[Body] = []
        for whole in bodies:
            if self._skip_or_hold(whole):
                continue
            batch.extend(self._unrecorded(whole))
            if self._matcher is not None and self._matcher.held_dots > self._matcher.max_held:
                batch.extend(self._released())
            if len(batch) >= self.intent_batch:
                yield from self._intended(batch)
                batch = []
            if self.reconciler is not None and len(self.reconciler) >= MAX_HELD:
                yield from self.reconciler.reconcile_ready(
                    wait=True, on_reconciled=self._reconciled
                )
        batch.extend(self._released())
        yield from self._intended(batch)

    def _skip_or_hold(self, body: Body) -> bool:
        """Whether an earlier try finished the body (skipped) or may have sent it (held)."""
        state = self._state
        finished = state.finished.get(body.body_id)
        if finished is not None:
            self._task_ids[body.seq] = list(finished)
            self.counts.earlier_refused_dots += state.refused.get(body.body_id, 0)
            if self.meter is not None:
                self.meter.finished_before(body.seq)
            if state.complete:
                self.counts.already_delivered_bodies += 1
                self.counts.already_delivered_dots += body.dot_count
            else:
                self.counts.resumed_bodies += 1
                self.counts.resumed_dots += body.dot_count
            return True
        if self.reconciler is None or not state.is_unknown(body.body_id):
            return False
        if self.meter is not None:
            self.meter.hold(body.seq)
        remaining = without_halves(body.payload, state.split_halves(body.body_id))
        self.reconciler.add(body, remaining, state.part_task_ids(body.body_id), fresh=False)
        return True

    def _unrecorded(self, body: Body) -> list[Body]:
        """What of a body the ledger does not know by id is to be sent now: its dots that
        no earlier try acknowledged (the others are left out, held until their ranges are
        tallied, or read back)."""
        if self._matcher is None:
            return [body]
        found = self._matcher.sort(body.seq, body.payload)
        if found.untouched:
            return [body]
        self.counts.acknowledged_dots_skipped += found.acknowledged
        to_send = [Body(body.seq, found.new, found.new_dots)] if found.new_dots else []
        if found.ambiguous_dots and self.reconciler is None:  # sent again: no read-back
            to_send.append(Body(body.seq, found.ambiguous, found.ambiguous_dots))
        elif found.ambiguous_dots:
            self._read_back_later(Body(body.seq, found.ambiguous, found.ambiguous_dots))
        if not to_send:
            if self.meter is not None and not found.ambiguous_dots and not found.held_dots:
                self.meter.finished_before(body.seq)
            self._task_ids.setdefault(body.seq, [])
        return to_send

    def _read_back_later(self, doubt: Body) -> None:
        """Hand dots an earlier try may have stored to the reconciler (unless finished)."""
        self.counts.ambiguous_dots_read_back += doubt.dot_count
        if self.reconciler is not None and not self._skip_or_hold(doubt):
            self.reconciler.add(doubt, fresh=False)

    def _released(self) -> list[Body]:
        """The held dots, once their ranges were tallied: those to send (no reconciler)."""
        if self._matcher is None or not self._matcher.held_dots:
            return []
        to_send = []
        for part in self._matcher.release():
            self.counts.acknowledged_dots_skipped += part.acknowledged
            if not part.ambiguous_dots:
                continue
            doubt = Body(part.seq, part.ambiguous, part.ambiguous_dots)
            if self.reconciler is None:
                to_send.append(doubt)
            else:
                self._read_back_later(doubt)
        return to_send

    def _intended(self, batch: list[Body]) -> Iterator[Body]:
        if not batch:
            return
        if self.ledger is not None:
            ranges = {body.body_id: body_ranges(body.payload) for body in batch}
            self.ledger.intend((body.body_id for body in batch), ranges)
            with self._unposted_lock:
                self._unposted.update(body.body_id for body in batch)
        yield from batch

    # -- what came back -----------------------------------------------------------------

    def _on_result(self, body: Body, result: SendResult) -> None:
        resend = is_resend(body.body_id)
        if result.outcome == "sent":
            if resend and self.reconciler is not None:
                self.reconciler.resend_done(body, list(result.task_ids), self._reconciled)
            elif not resend:
                self._finished(body, list(result.task_ids), len(result.refused))
        elif result.outcome == "lost_reply" and self.reconciler is not None:
            self.reconciler.add(body, task_ids=result.task_ids)

    def _on_request(self, body_id: str) -> None:
        if self.lease is not None:
            self.lease.check()  # raises, before the request, if another try took over
        with self._unposted_lock:
            self._unposted.discard(body_id)

    def _on_unfinished(self, body: Body, result: SendResult) -> None:
        fresh = not is_resend(body.body_id)  # not a reconciliation resend
        if fresh and result.outcome == "quarantined":
            self.held_devices[body.seq] = set(result.quarantined)
        if fresh and not result.may_be_stored:
            with self._unposted_lock:  # every request of it was refused before storing
                self._unposted.add(body.body_id)

    def _on_ack(self, body_id: str, part: str, task_id: str) -> None:
        if self.ledger is not None:
            self.ledger.acknowledge(body_id, part, [task_id])

    def _reconciled(self, body: Body, task_ids: list[str]) -> None:
        """A body whose reply was lost was reconciled by reading back (and resending)."""
        if self.meter is not None:
            self.meter.reconciled(body.dot_count)
        self._finished(body, task_ids)

    def _finished(self, body: Body, task_ids: list[str], refused: int = 0) -> None:
        self._task_ids.setdefault(body.seq, []).extend(
            task_id for task_id in task_ids if task_id not in self._task_ids.get(body.seq, [])
        )
        if self.ledger is not None:
            self.ledger.finish(body.body_id, self._task_ids[body.seq], refused)


def _merge(total: DeliverySummary, part: DeliverySummary) -> None:
    """Add the counts of ``part`` to ``total``."""
    for field in fields(DeliverySummary):
        mine, theirs = getattr(total, field.name), getattr(part, field.name)
        if field.name == "statuses":
            mine.update(theirs)
        elif field.name == "refused":
            mine.extend(theirs)
        else:
            setattr(total, field.name, mine + theirs)
