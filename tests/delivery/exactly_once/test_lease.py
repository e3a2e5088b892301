"""Only the newest try sends: two tries of one task instance sharing one delivery record.

The second try starts at chosen instants of the first (before its first request, mid intent
batch, at a batch boundary, near the end), either while the first is about to check its lease
or while its requests are in flight. Whatever the instant: every dot stored once, and the
first try stops with an error naming both tries.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.exactly_once.delivery import (
    INTENT_BATCH,
    ExactlyOnceDelivery,
)
from airflow_provider_bulkdots.delivery.exactly_once.lease import Lease, TryLease
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.exceptions import StaleTryError
from tests.delivery.exactly_once.test_exactly_once import Parts, assert_each_dot_once, bodies
from tests.delivery.exactly_once.test_ledger import MemoryStore

PREFIX = "ledger"


def held(store: MemoryStore) -> Lease:
    lease = Lease.parse(store.get(f"{PREFIX}/lease"))
    assert lease is not None
    return lease


# -- the lease alone ----------------------------------------------------------------------


def test_a_newer_try_holding_the_lease_stops_an_older_one_at_its_start() -> None:
    store = MemoryStore()
    TryLease(store, PREFIX, 3, "run-1").take()
    with pytest.raises(StaleTryError, match=r"try 2 of this task .* try 3 holds") as caught:
        TryLease(store, PREFIX, 2, "run-1").take()
    assert (caught.value.try_number, caught.value.holder) == (2, 3)
    assert held(store).try_number == 3


def test_a_try_of_another_run_takes_the_lease_whatever_its_number() -> None:
    """A run deleted and triggered again starts at try 1 on the record it left."""
    store = MemoryStore()
    TryLease(store, PREFIX, 3, "deleted-run").take()
    TryLease(store, PREFIX, 1, "new-run").take()
    assert (held(store).run, held(store).try_number) == ("new-run", 1)


def test_a_check_after_a_take_over_names_both_tries_and_fences() -> None:
    store = MemoryStore()
    first = TryLease(store, PREFIX, 1)
    first.take()
    first.check()
    earlier = TryLease(store, PREFIX, 2).take()
    assert earlier is not None and earlier.try_number == 1  # alive here: the caller waits
    with pytest.raises(StaleTryError, match=r"try 1 .* try 2 holds"):
        first.check()
    assert first.fenced and not first.holds()
    first.release()  # not its own any more: left as it is
    assert held(store).try_number == 2 and not held(store).released


def test_no_wait_after_a_released_lease_or_a_process_that_is_gone() -> None:
    store = MemoryStore()
    first = TryLease(store, PREFIX, 1)
    first.take()
    first.release()
    assert held(store).released
    assert TryLease(store, PREFIX, 2).take() is None
    gone = Lease(2, "t", host=socket.gethostname(), pid=2**22 + 12345)
    store.set(f"{PREFIX}/lease", gone.dumps())
    assert TryLease(store, PREFIX, 3).take() is None


def test_an_unreadable_record_fences_the_try() -> None:
    """As Airflow 3.3 answers an older try's state-store calls once a newer try exists."""

    class Refusing(MemoryStore):
        def get(self, key: str) -> str | None:
            raise OSError("not_found")

    lease = TryLease(MemoryStore(), PREFIX, 1)
    lease.take()
    lease.store = Refusing()
    with pytest.raises(StaleTryError, match="could not be read: not_found"):
        lease.check()


def test_a_fenced_try_writes_nothing_more_to_the_record() -> None:
    store = MemoryStore()
    first = TryLease(store, PREFIX, 1)
    ledger = DeliveryLedger(store, PREFIX, "fp", lease=first)
    first.take()
    ledger.intend(["a"])
    TryLease(store, PREFIX, 2).take()
    before = dict(store.values)
    ledger.intend(["b"])
    ledger.finish("a", ["task-1"])
    ledger.close()
    assert store.values == before


# -- two tries at once, against the emulator -------------------------------------------------


class SignallingLease(TryLease):
    """Try 1's lease: at its ``at``-th check, says so and (``hold``) waits for try 2's take."""

    def __init__(self, *args: Any, at: int, reached: threading.Event, **kwargs: Any) -> None:
        self.hold: threading.Event | None = kwargs.pop("hold", None)
        super().__init__(*args, **kwargs)
        self.at, self.reached, self.calls = at, reached, 0
        self._count = threading.Lock()

    def check(self) -> None:
        with self._count:
            self.calls += 1
            now = self.calls
        if now == self.at:
            self.reached.set()
            if self.hold is not None:
                assert self.hold.wait(30)
        super().check()


def a_try(emu: Emulator, store: MemoryStore, lease: TryLease) -> ExactlyOnceDelivery:
    parts = Parts(emu, None, 0.0, timeout=1)  # a take-over waits 1 + 1 s
    ledger = DeliveryLedger(store, PREFIX, "fp", lease=lease)
    return ExactlyOnceDelivery(parts.sender, ledger, parts.delivery.reconciler)


@pytest.mark.parametrize("in_flight", [False, True], ids=["at-check", "in-flight"])
@pytest.mark.parametrize("instant", [1, INTENT_BATCH // 2 + 5, INTENT_BATCH + 1, 45])
def test_two_tries_at_once_store_every_dot_once(
    emu: Emulator, instant: int, in_flight: bool
) -> None:
    sent = bodies(48)
    store = MemoryStore()
    emu.set_faults(Faults(latency_s=0.2 if in_flight else 0.0))
    reached, taken = threading.Event(), threading.Event()
    first_lease = SignallingLease(
        store, PREFIX, 1, at=instant, reached=reached, hold=None if in_flight else taken
    )
    first = a_try(emu, store, first_lease)
    outcome: dict[str, BaseException | None] = {}

    def run_first() -> None:
        try:
            first.run(iter(sent))
            outcome["first"] = None
        except BaseException as error:  # kept for the assertion
            outcome["first"] = error

    thread = threading.Thread(target=run_first)
    thread.start()
    assert reached.wait(30)
    second_lease = TryLease(store, PREFIX, 2)
    second = a_try(emu, store, second_lease)
    original_take = second_lease.take

    def take() -> Lease | None:
        earlier = original_take()
        taken.set()
        emu.set_faults(Faults())  # try 1's requests in flight keep their latency; no more
        return earlier

    second_lease.take = take  # type: ignore[method-assign]
    second.run(iter(sent))
    thread.join(60)

    assert_each_dot_once(emu, sent)
    error = outcome["first"]
    assert isinstance(error, StaleTryError), error
    assert "try 1 of this task" in str(error) and "try 2 holds" in str(error)
    assert held(store).try_number == 2 and held(store).released
