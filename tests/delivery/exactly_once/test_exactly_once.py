"""Exactly once against the emulator over loopback: lost replies, broken 2xx replies, crashes
between a request and its ledger entry, split halves, re-runs. Every dot stored once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from airflow_provider_bulkdots.delivery.exactly_once.delivery import ExactlyOnceDelivery
from airflow_provider_bulkdots.delivery.exactly_once.existing import (
    collect_spans,
    drop_existing,
    read_existing,
)
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.exactly_once.reconcile import Reconciler
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.http.transport import make_session
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer, WaitTooLong
from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter
from airflow_provider_bulkdots.delivery.settings import resolve_settings
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.payload import half_at, payload_without
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.exceptions import NotAcknowledgedError
from tests.delivery.exactly_once.test_ledger import MemoryStore

T0 = 1_700_000_000_000
VISIBILITY = 0.5


def bodies(count: int, per_body: int = 12, variables: int = 3, first: int = 0) -> list[Body]:
    """Bodies of one device each, ``per_body`` instants of ``variables`` variables."""
    made = []
    for seq in range(first, first + count):
        start = T0 + seq * 1000
        values = [
            {f"v{v}": float(seq * 100 + i + v) for v in range(variables)} | {"timestamp": start + i}
            for i in range(per_body)
        ]
        record = {"device": f"dev-{seq % 7}", "timestamp": start, "values": values}
        made.append(Body(seq, msgspec.json.encode([record]), per_body * variables))
    return made


class Parts:
    """One delivery's parts over the emulator, as the operator composes them."""

    def __init__(
        self,
        emu: Emulator,
        store: MemoryStore | None,
        delay: float,
        wall_clock: Any = time.time,
        meter: ProgressMeter | None = None,
        **overrides: Any,
    ) -> None:
        settings = resolve_settings(
            emu.url,
            overrides={
                "rate_limit": 0,
                "max_in_flight": 4,
                "resend_lost_replies": False,
                "timeout": 2,
                **overrides,
            },
        )
        session = make_session(settings.max_in_flight)
        auth = TokenAuth(emu.token)
        limiter = TokenPacer(0)
        self.sender = Sender(session, auth, settings, limiter=limiter)
        self.reader = SeriesReader(session, auth, settings, limiter)
        reconciler = Reconciler(
            self.reader,
            delay=delay,
            timeout=60,
            wall_clock=wall_clock,
        )
        ledger = DeliveryLedger(store, "ledger", "fp") if store is not None else None
        self.delivery = ExactlyOnceDelivery(self.sender, ledger, reconciler, meter=meter)


def run(emu: Emulator, sent: list[Body], store: MemoryStore | None = None, **kw: Any) -> Parts:
    parts = Parts(emu, store, kw.pop("delay", VISIBILITY + 0.2), **kw)
    parts.delivery.run(iter(sent))
    return parts


def assert_each_dot_once(emu: Emulator, sent: list[Body]) -> None:
    expected = sum(body.dot_count for body in sent)
    stats = emu.stats()
    assert (stats["duplicates"], stats["unique_dots"], stats["dots"]) == (0, expected, expected)


@pytest.fixture
def slow_emu(emu: Emulator) -> Iterator[Emulator]:
    """The session emulator with writes visible to reads only after ``VISIBILITY`` seconds."""
    emu.set_visibility_delay(VISIBILITY)
    yield emu


def test_ten_percent_lost_replies_store_every_dot_once(slow_emu: Emulator) -> None:
    sent = bodies(120)
    slow_emu.set_faults(Faults(drop_response_rate=0.05, drop_request_rate=0.05, seed=7))

    parts = run(slow_emu, sent)

    assert_each_dot_once(slow_emu, sent)
    counts, summary = parts.delivery.counts, parts.delivery.summary
    lost = slow_emu.stats()["requests"]
    # Each lost reply was read back (a resend can lose its reply too, and is read back again).
    assert 0 < counts.reconciled_bodies <= lost["dropped"] + lost["lost_before_store"]
    assert counts.resent_dots == lost["lost_before_store"] * sent[0].dot_count
    # Only the dots that were not stored were sent again; no blind resend of a stored body.
    assert summary.possible_duplicate_dots == 0
    assert counts.read_requests >= counts.reconciled_bodies


@pytest.mark.parametrize("fault", ["stall_body", "reset_body", "drop_after_store"])
def test_a_reply_broken_after_its_status_line_is_read_back_not_resent(
    slow_emu: Emulator, fault: str
) -> None:
    sent = bodies(6)
    slow_emu.set_faults(Faults(stall_s=5))
    slow_emu.inject_next(fault, 2)

    parts = run(slow_emu, sent, timeout=1)

    assert_each_dot_once(slow_emu, sent)
    assert parts.delivery.counts.reconciled_bodies == 2
    assert parts.delivery.counts.resent_dots == 0
    assert len(parts.delivery.task_ids) == 4  # the two read back have no task_id


def test_a_reply_lost_before_storing_is_resent_after_reading_back(slow_emu: Emulator) -> None:
    sent = bodies(4)
    slow_emu.inject_next("drop_before_store", 1)

    parts = run(slow_emu, sent)

    assert_each_dot_once(slow_emu, sent)
    assert parts.delivery.counts.reconciled_bodies == 1
    assert parts.delivery.counts.resent_dots == sent[0].dot_count
    # none of its largest series there: not stored (its 404 trusted once the API's device
    # list answered under the same base: one more request, once per reader)
    assert parts.reader.requests == 2


@pytest.mark.parametrize("kind", ["html_200", "empty_json_200"])  # 204: test_status_semantics
def test_a_2xx_without_task_id_is_an_error_and_the_retry_reads_it_back(
    emu: Emulator, kind: str
) -> None:
    sent = bodies(3)
    store = MemoryStore()
    emu.set_faults(Faults(wrong_2xx_kinds=(kind,)))
    emu.inject_next(kind, 1)

    with pytest.raises(NotAcknowledgedError) as caught:
        run(emu, sent, store, max_in_flight=1)

    error = caught.value
    assert error.status == 200 and "answered 200" in str(error)
    assert "without a task_id" in str(error)
    if kind == "html_200":
        assert "text/html" in str(error) and "<!doctype html>" in str(error)
    # The retry of the task: the first body has an intent and no acknowledgement, so it is
    # read back (the API stored it); the bodies intended with it but stopped before their
    # request had their intents withdrawn, so they are sent without reading back.
    retry = run(emu, sent, store, delay=0)
    assert_each_dot_once(emu, sent)
    counts = retry.delivery.counts
    assert (counts.reconciled_bodies, counts.resent_dots) == (1, 0)
    assert counts.resumed_bodies + retry.delivery.summary.requests == 2


def test_a_crash_after_a_request_before_its_ledger_entry_resends_nothing(emu: Emulator) -> None:
    sent = bodies(10)
    store = MemoryStore()
    crashed = DeliveryLedger(store, "ledger", "fp")
    crashed.load()
    crashed.intend(body.body_id for body in sent[:6])  # intents stored before the requests...
    run(emu, sent[:6])  # ...the requests reach the API; then the worker dies before any ack

    retry = run(emu, sent, store, delay=0)

    assert_each_dot_once(emu, sent)
    counts = retry.delivery.counts
    assert (counts.reconciled_bodies, counts.resent_dots) == (6, 0)
    assert retry.delivery.summary.requests == 4  # only the four never sent


def test_a_crash_between_split_halves_sends_only_the_other_half(emu: Emulator) -> None:
    (body,) = bodies(1, per_body=40)
    first_half = half_at(body.payload, "0")
    store = MemoryStore()
    crashed = DeliveryLedger(store, "ledger", "fp")
    crashed.load()
    crashed.intend([body.body_id])
    first = run(emu, [Body(0, first_half, 60, body_id="half")])  # the API stored half 0 ...
    crashed.acknowledge(body.body_id, "0", first.delivery.task_ids)  # ... and it was recorded
    crashed.close()

    retry = run(emu, [body], store, delay=0)

    assert_each_dot_once(emu, [body])
    assert retry.delivery.counts.resent_dots == body.dot_count - 60
    assert retry.delivery.task_ids[0] == first.delivery.task_ids[0]


def test_a_413_split_records_each_acknowledged_half(emu: Emulator) -> None:
    sent = bodies(2, per_body=300)
    store = MemoryStore()
    emu.api.max_body_bytes = 4000
    try:
        run(emu, sent, store, max_body_bytes=10_000)
    finally:
        emu.api.max_body_bytes = 10_000
    assert_each_dot_once(emu, sent)
    state = DeliveryLedger(store, "ledger", "fp").load()
    assert set(state.finished) == {body.body_id for body in sent}
    assert all(len(task_ids) > 2 for task_ids in state.finished.values())


def test_a_rerun_after_success_sends_nothing(emu: Emulator) -> None:
    sent = bodies(8)
    store = MemoryStore()
    first = run(emu, sent, store)

    again = run(emu, sent, store)

    assert_each_dot_once(emu, sent)
    assert again.delivery.summary.requests == 0
    assert again.delivery.counts.already_delivered_bodies == 8
    assert again.delivery.task_ids == first.delivery.task_ids


def test_skip_existing_sends_only_missing_dots_also_after_the_source_grew(
    emu: Emulator,
) -> None:
    old = bodies(10)
    run(emu, old)  # another DAG run stored these
    grown = bodies(10, first=0) + bodies(5, first=10)
    parts = Parts(emu, None, 0)
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    held = list(collect_spans(grown, spans))
    existing = read_existing(parts.reader, spans)
    skipped = [0]

    parts.delivery.run(drop_existing(held, existing, skipped))

    assert_each_dot_once(emu, grown)
    assert skipped[0] == sum(body.dot_count for body in old)
    assert parts.reader.requests == len(spans)  # one read per series: each fits one page


def test_a_lost_reply_of_a_stored_body_costs_one_read(slow_emu: Emulator) -> None:
    sent = bodies(3, variables=3)
    slow_emu.inject_next("drop_after_store", 1)

    parts = run(slow_emu, sent)

    assert_each_dot_once(slow_emu, sent)
    # Its largest series, all there, same values, created during this delivery: stored whole.
    assert parts.reader.requests == 1
    assert parts.delivery.counts.resent_dots == 0


def test_dots_stored_before_the_delivery_do_not_count_as_the_lost_body(emu: Emulator) -> None:
    (body,) = bodies(1, variables=3)
    only_v0 = payload_without(body.payload, lambda key: key[1] != "v0")
    run(emu, [Body(0, only_v0, 12, body_id="earlier")])  # an earlier run stored v0 only
    emu.inject_next("drop_before_store", 1)
    an_hour_later = time.time() + 3600  # this delivery starts well after those writes

    parts = run(emu, [body], delay=0, wall_clock=lambda: an_hour_later)

    # The probe (v0) found old dots: every series was read, only v1 and v2 were resent.
    assert_each_dot_once(emu, [body])
    assert parts.reader.requests == 4  # 3 series + the API's device list, on the first 404
    assert parts.delivery.counts.resent_dots == 24


class RecordingStore(MemoryStore):
    """A MemoryStore that keeps the key of every write, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[str] = []

    def set(self, key: str, value: str) -> None:
        self.keys.append(key)
        super().set(key, value)


def test_intents_are_stored_sixteen_bodies_to_a_write(emu: Emulator) -> None:
    sent = bodies(48)
    store = RecordingStore()

    run(emu, sent, store)

    assert_each_dot_once(emu, sent)
    intent_writes = [key for key in store.keys if "/i/" in key]
    assert len(intent_writes) == 3  # 48 bodies, one write per 16, before their requests
    state = DeliveryLedger(store, "ledger", "fp").load()
    assert state.complete and len(state.finished) == 48


def test_a_try_deferred_by_a_long_wait_withdraws_its_unsent_intents(emu: Emulator) -> None:
    sent = bodies(20)
    store = MemoryStore()
    first = Parts(emu, store, delay=0, max_in_flight=1)
    first.sender.defer_over = 60
    emu.set_faults(Faults(burst_429=1, burst_retry_after=120))  # the first POST: wait 2 min
    with pytest.raises(WaitTooLong):
        first.delivery.run(iter(sent))
    state = DeliveryLedger(store, "ledger", "fp").load()
    assert state.intents == set() and not state.finished  # 16 intended, none could be stored

    retry = run(emu, sent, store, delay=0)

    assert_each_dot_once(emu, sent)
    counts = retry.delivery.counts
    assert (counts.read_requests, counts.reconciled_bodies) == (0, 0)  # nothing read back
    assert retry.delivery.summary.requests == 20


class Terminated(BaseException):
    """What a task stopped from outside (SIGTERM, a timeout) raises in its main thread."""


class TerminatingMeter(ProgressMeter):
    """Raises :class:`Terminated` the first time the sending loop ticks."""

    def due(self) -> bool:
        raise Terminated


def test_requests_in_flight_when_the_task_is_stopped_stay_unknown(emu: Emulator) -> None:
    sent = bodies(8)
    store = MemoryStore()
    first = Parts(emu, store, delay=0, meter=TerminatingMeter(limit=0), max_in_flight=2)
    first.sender.progress_interval = 0.05  # the loop ticks while both requests are in flight
    emu.set_faults(Faults(latency_s=0.5))
    with pytest.raises(Terminated):
        first.delivery.run(iter(sent))
    emu.set_faults(Faults())
    reached_the_api = emu.stats()["dots"] // sent[0].dot_count
    assert 0 < reached_the_api <= 2

    retry = run(emu, sent, store, delay=0)

    # What may have left was read back, never resent blind; the rest went out once.
    assert_each_dot_once(emu, sent)
    counts = retry.delivery.counts
    assert (counts.reconciled_bodies, counts.resent_dots) == (reached_the_api, 0)
    assert retry.delivery.summary.requests == 8 - reached_the_api


def test_a_resumed_try_says_first_what_the_ledger_holds(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    sent = bodies(10)
    store = MemoryStore()
    first = DeliveryLedger(store, "ledger", "fp")
    first.load()
    first.intend(body.body_id for body in sent[:6])
    done = run(emu, sent[:4])
    for body, task_id in zip(sent[:4], done.delivery.task_ids, strict=True):
        first.finish(body.body_id, [task_id])
    run(emu, sent[4:6])  # stored, never acknowledged in the ledger
    first.close()

    with caplog.at_level("INFO"):
        run(emu, sent, store, delay=0)

    found = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Resuming:")]
    assert found == [
        "Resuming: an earlier try's ledger holds 4 bodies acknowledged (not sent again) and 2 "
        "whose reply was lost (read back before anything of them is resent); the rest is sent now."
    ]
    assert_each_dot_once(emu, sent)
