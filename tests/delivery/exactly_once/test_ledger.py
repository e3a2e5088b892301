"""The delivery ledger over an in-memory store: what a later try finds after a crash anywhere."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bulkdots.delivery.exactly_once.ledger import CHUNK_ENTRIES, DeliveryLedger

PREFIX = "ledger"


class MemoryStore:
    """A KeyValueStore in a dict, counting writes; ``fail`` makes every write raise."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.sets = 0
        self.fail = False

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        if self.fail:
            raise OSError("store down")
        self.sets += 1
        self.values[key] = value


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def test_a_first_try_finds_nothing(store: MemoryStore) -> None:
    state = DeliveryLedger(store, PREFIX, "fp").load()
    assert (state.finished, state.intents, state.complete) == ({}, set(), False)
    assert store.sets == 0


def test_a_withdrawn_intent_counts_until_the_body_is_intended_again(store: MemoryStore) -> None:
    first = DeliveryLedger(store, PREFIX, "fp")
    first.load()
    first.intend(["000000-a", "000001-b", "000002-c"])
    first.withdraw(["000001-b", "000002-c"])  # the try stopped before their requests
    assert DeliveryLedger(store, PREFIX, "fp").load().intents == {"000000-a"}

    second = DeliveryLedger(store, PREFIX, "fp")
    second.load()
    second.intend(["000001-b"])  # a later try names it again, then dies
    state = DeliveryLedger(store, PREFIX, "fp").load()
    assert state.intents == {"000000-a", "000001-b"}
    assert state.is_unknown("000001-b") and not state.is_unknown("000002-c")


def test_an_intent_is_stored_before_intend_returns(store: MemoryStore) -> None:
    ledger = DeliveryLedger(store, PREFIX, "fp")
    ledger.load()
    ledger.intend(["000000-a", "000001-b"])
    # A crash right now (no close, no flush): a new try sees both as unknown.
    state = DeliveryLedger(store, PREFIX, "fp").load()
    assert state.intents == {"000000-a", "000001-b"}
    assert state.is_unknown("000000-a") and state.is_unknown("000001-b")
    assert not state.is_unknown("000002-c")  # never intended: never sent


def test_settled_bodies_and_halves_survive_a_crash_after_a_flush(store: MemoryStore) -> None:
    ledger = DeliveryLedger(store, PREFIX, "fp", flush_interval=60)
    ledger.load()
    ledger.intend(["000000-a", "000001-b"])
    ledger.finish("000000-a", ["t0"])
    ledger.acknowledge("000001-b", "0", ["t1a"])
    ledger.flush()
    state = DeliveryLedger(store, PREFIX, "fp").load()
    assert state.finished == {"000000-a": ["t0"]}
    assert not state.is_unknown("000000-a")
    assert state.is_unknown("000001-b")
    assert state.split_halves("000001-b") == ["0"]
    assert state.part_task_ids("000001-b") == ["t1a"]


def test_the_background_writer_stores_acknowledgements(store: MemoryStore) -> None:
    ledger = DeliveryLedger(store, PREFIX, "fp", flush_interval=0.01)
    ledger.load()
    ledger.intend(["000000-a"])
    ledger.finish("000000-a", ["t0"])
    ledger.close()  # joins the writer after a last flush
    assert DeliveryLedger(store, PREFIX, "fp").load().finished == {"000000-a": ["t0"]}


def test_complete_marks_and_a_new_intent_unmarks(store: MemoryStore) -> None:
    ledger = DeliveryLedger(store, PREFIX, "fp")
    ledger.load()
    ledger.intend(["000000-a"])
    ledger.finish("000000-a", ["t0"])
    ledger.complete()
    ledger.close()
    again = DeliveryLedger(store, PREFIX, "fp")
    state = again.load()
    assert state.complete and state.finished == {"000000-a": ["t0"]}
    again.intend(["000001-b"])
    assert not DeliveryLedger(store, PREFIX, "fp").load().complete


def test_a_later_try_continues_the_same_chunks(store: MemoryStore) -> None:
    first = DeliveryLedger(store, PREFIX, "fp")
    first.load()
    ids = [f"{n:06d}-x" for n in range(CHUNK_ENTRIES + 10)]
    first.intend(ids)
    for body_id in ids[:CHUNK_ENTRIES]:
        first.finish(body_id, [f"t-{body_id}"])
    first.close()
    second = DeliveryLedger(store, PREFIX, "fp")
    second.load()
    for body_id in ids[CHUNK_ENTRIES:]:
        second.finish(body_id, [f"t-{body_id}"])
    second.close()
    state = DeliveryLedger(store, PREFIX, "fp").load()
    assert sorted(state.finished) == ids
    assert json.loads(store.values[PREFIX])["acks"] == 2
    assert all(len(value) < 64_000 for value in store.values.values())


def test_settled_after_halves_keeps_every_task_id(store: MemoryStore) -> None:
    ledger = DeliveryLedger(store, PREFIX, "fp")
    ledger.load()
    ledger.intend(["000000-a"])
    ledger.acknowledge("000000-a", "0", ["t-first"])
    ledger.finish("000000-a", ["t-first", "t-second"])
    ledger.close()
    state = DeliveryLedger(store, PREFIX, "fp").load()
    assert state.finished == {"000000-a": ["t-first", "t-second"]}
    assert state.split_halves("000000-a") == []


def test_an_unreadable_header_is_a_fresh_start(store: MemoryStore) -> None:
    store.values[PREFIX] = "{not json"
    assert DeliveryLedger(store, PREFIX, "fp").load().finished == {}


def test_a_store_failure_in_the_writer_surfaces_at_the_next_flush(store: MemoryStore) -> None:
    ledger = DeliveryLedger(store, PREFIX, "fp", flush_interval=0.01)
    ledger.load()
    ledger.intend(["000000-a"])
    store.fail = True
    ledger.finish("000000-a", ["t0"])
    with pytest.raises(OSError, match="store down"):
        ledger.close()


def test_the_dot_record_spans_keys_and_is_read_back_one_key_at_a_time(store: MemoryStore) -> None:
    from airflow_provider_bulkdots.delivery.exactly_once.ledger import RANGE_CHUNK_BYTES

    ranges = [["dev-a", 1, 2, 2, "0" * 16]]
    first = DeliveryLedger(store, PREFIX, "fp")
    first.load()
    first.intend([f"b{n}" for n in range(1500)], {f"b{n}": ranges for n in range(1500)})
    keys = [key for key in store.values if key.startswith(f"{PREFIX}/r/")]
    assert len(keys) > 1
    assert all(len(store.values[key]) <= RANGE_CHUNK_BYTES for key in keys)
    second = DeliveryLedger(store, PREFIX, "fp")
    second.load()
    second.intend(["late"], {"late": ranges})  # appended to the last key after a reload

    third = DeliveryLedger(store, PREFIX, "fp")
    third.load()
    read = list(third.recorded_ranges())
    assert [body_id for body_id, _ in read] == [f"b{n}" for n in range(1500)] + ["late"]
    assert all(entry == ranges for _, entry in read)
