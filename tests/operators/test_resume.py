"""ResumeLedger over an in-memory store: what a retried try finds, and when it finds nothing."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bulkdots.operators.resume import (
    CHUNK_ENTRIES,
    Acknowledged,
    ResumeLedger,
    ledger_key,
)

KEY = ledger_key("dag", "run", "send", -1)


class MemoryStore:
    """A KeyValueStore in a dict, counting writes."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.sets = 0

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.sets += 1
        self.values[key] = value

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def record_bodies(ledger: ResumeLedger, seqs: range) -> None:
    for seq in seqs:
        ledger.record(seq, f"{seq:06d}-body", [f"task-{seq}"])


def test_a_fresh_ledger_is_empty_and_writes_nothing(store: MemoryStore) -> None:
    assert ResumeLedger(store, KEY, "fp").load() == {}
    assert store.values == {}


def test_acknowledgements_are_loaded_by_a_later_try(store: MemoryStore) -> None:
    first = ResumeLedger(store, KEY, "fp")
    first.load()
    first.record(0, "000000-aa", ["t0"])
    first.record(2, "000002-cc", ["t2a", "t2b"])  # a split body has several task_ids

    loaded = ResumeLedger(store, KEY, "fp").load()

    assert loaded == {
        "000000-aa": Acknowledged(0, "000000-aa", ("t0",)),
        "000002-cc": Acknowledged(2, "000002-cc", ("t2a", "t2b")),
    }


def test_a_second_retry_sees_both_earlier_tries(store: MemoryStore) -> None:
    first = ResumeLedger(store, KEY, "fp")
    first.load()
    record_bodies(first, range(3))
    second = ResumeLedger(store, KEY, "fp")
    assert len(second.load()) == 3
    record_bodies(second, range(3, 5))

    assert sorted(ack.seq for ack in ResumeLedger(store, KEY, "fp").load().values()) == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_a_changed_fingerprint_discards_the_ledger(store: MemoryStore) -> None:
    first = ResumeLedger(store, KEY, "old")
    first.load()
    record_bodies(first, range(CHUNK_ENTRIES + 5))

    assert ResumeLedger(store, KEY, "new").load() == {}
    assert store.values == {}
    # The new input's ledger starts over, and the old one does not come back.
    new = ResumeLedger(store, KEY, "new")
    new.load()
    record_bodies(new, range(1))
    assert list(ResumeLedger(store, KEY, "new").load()) == ["000000-body"]
    assert ResumeLedger(store, KEY, "old").load() == {}


def test_entries_are_chunked_past_the_chunk_size(store: MemoryStore) -> None:
    ledger = ResumeLedger(store, KEY, "fp")
    ledger.load()
    record_bodies(ledger, range(2 * CHUNK_ENTRIES + 1))

    assert json.loads(store.values[KEY]) == {"fingerprint": "fp", "chunks": 3}
    sizes = [len(json.loads(store.values[f"{KEY}/{index}"])) for index in range(3)]
    assert sizes == [CHUNK_ENTRIES, CHUNK_ENTRIES, 1]
    loaded = ResumeLedger(store, KEY, "fp").load()
    assert sorted(ack.seq for ack in loaded.values()) == list(range(2 * CHUNK_ENTRIES + 1))
    # One write per acknowledgement, plus the header once per chunk.
    assert store.sets == 2 * CHUNK_ENTRIES + 1 + 3


def test_a_resumed_try_fills_the_last_chunk_before_starting_another(store: MemoryStore) -> None:
    first = ResumeLedger(store, KEY, "fp")
    first.load()
    record_bodies(first, range(CHUNK_ENTRIES - 1))
    second = ResumeLedger(store, KEY, "fp")
    second.load()
    record_bodies(second, range(CHUNK_ENTRIES - 1, CHUNK_ENTRIES + 1))

    assert json.loads(store.values[KEY])["chunks"] == 2
    assert len(json.loads(store.values[f"{KEY}/0"])) == CHUNK_ENTRIES
    assert len(ResumeLedger(store, KEY, "fp").load()) == CHUNK_ENTRIES + 1


def test_clear_removes_every_variable(store: MemoryStore) -> None:
    ledger = ResumeLedger(store, KEY, "fp")
    ledger.load()
    record_bodies(ledger, range(CHUNK_ENTRIES * 2))
    store.values["unrelated"] = "kept"

    ledger.clear()

    assert store.values == {"unrelated": "kept"}
    assert ResumeLedger(store, KEY, "fp").load() == {}


def test_unreadable_entries_are_ignored(store: MemoryStore) -> None:
    store.values[KEY] = json.dumps({"fingerprint": "fp", "chunks": 2})
    store.values[f"{KEY}/0"] = "not json"
    store.values[f"{KEY}/1"] = json.dumps([[7, "000007-x", ["t7"]]])

    assert list(ResumeLedger(store, KEY, "fp").load()) == ["000007-x"]
    store.values[KEY] = "{broken"
    assert ResumeLedger(store, KEY, "fp").load() == {}


def test_ledger_keys_differ_by_every_part_of_the_task_instance() -> None:
    keys = {
        ledger_key("dag", "run", "send", -1),
        ledger_key("dag2", "run", "send", -1),
        ledger_key("dag", "run2", "send", -1),
        ledger_key("dag", "run", "send2", -1),
        ledger_key("dag", "run", "send", 0),
        ledger_key("dag", "run", "send", 1),
    }
    assert len(keys) == 6
    assert all(key.startswith("bulkdots_resume:") and len(key) < 64 for key in keys)
    assert ledger_key("dag", "run", "send", 3) == ledger_key("dag", "run", "send", 3)
