"""The delivery ledger: what a task instance may have sent, and what the API acknowledged.

It outlives every crash of the task, because each fact is written before it is relied on:

- an **intent** names a body before any request carries it (written in batches ahead of the
  sending, synchronously: a body is never posted before its intent is stored);
- an **acknowledgement** names a body, or one half of a split body, with its task_id once the
  API answered with one (written a moment later by a background writer, off the sending
  path: an acknowledgement lost to a crash only makes its body *unknown*, never resent blind);
- a **finished** entry records a finished body: every dot acknowledged or refused.

On resume, a finished body is skipped; a body with an intent but not finished has a lost
reply (it may be stored, in full or in part), reconciled by reading the API back; any other
body was never sent. The ledger is never deleted by the task: :meth:`DeliveryLedger.complete`
marks it complete, and the store's retention removes it.

Layout in a :class:`KeyValueStore` (string values, JSON): ``<prefix>`` holds the header
``{"version", "fingerprint", "acks", "intents", "ranges", "complete"}``; ``<prefix>/a/<n>`` up to
``CHUNK_ENTRIES`` acknowledgements ``[body_id, part, [task_id, ...]]`` (part ``"*"`` settles
the body, with a fourth item counting the dots the API refused in it when there are any;
``"0"``, ``"01"``... name a split half by its path of halves; a resend's id is
``<body_id>~r<n>``; body ids, resend ids and parts are :mod:`..dots.payload`'s);
``<prefix>/r/<n>`` the dot record: ``[body_id, [range, ...]]`` for each body named in an
intent, written with its intent (what a range is, and how a resume uses it:
:mod:`.dot_record`), up to ``RANGE_CHUNK_BYTES`` of JSON to a key and read back one key at a
time; ``<prefix>/i/<n>`` up to ``CHUNK_ENTRIES`` body ids with an intent, in order, and
``["-", body_id]`` where a try stopped (a long wait deferred to the triggerer, an error)
before any request could store part of an intended body (none carried it, or the API refused
each with 401, 403 or 429): the intent is withdrawn, so the next try sends that body without
reading the API back first. Pure: no Airflow.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from airflow_provider_bulkdots.dots.payload import WHOLE_BODY, WITHDRAWN, is_half

if TYPE_CHECKING:
    from airflow_provider_bulkdots.delivery.exactly_once.lease import TryLease

log = logging.getLogger(__name__)

#: Entries per stored value: 256 acknowledgements are about 20 kB, under the 64 kB that
#: Airflow's task state store accepts without a warning.
CHUNK_ENTRIES = 256
#: JSON bytes per stored value of the dot record (under the state store's 64 kB).
RANGE_CHUNK_BYTES = 32_000
VERSION = 2


class KeyValueStore(Protocol):
    """Where a ledger lives: get and set of string values by key."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...


@dataclass
class LedgerState:
    """What earlier tries left: finished bodies, acknowledged parts, and intents."""

    fingerprint: str | None = None
    complete: bool = False
    finished: dict[str, list[str]] = field(default_factory=dict)
    parts: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    intents: set[str] = field(default_factory=set)
    #: Dots the API refused (400, 204) in finished bodies, per body that had any.
    refused: dict[str, int] = field(default_factory=dict)

    def is_unknown(self, body_id: str) -> bool:
        """Whether a body may have been sent without being finished."""
        return body_id not in self.finished and (body_id in self.intents or body_id in self.parts)

    def split_halves(self, body_id: str) -> list[str]:
        """The paths of the acknowledged split halves of an unfinished body."""
        return [part for part in self.parts.get(body_id, {}) if is_half(part)]

    def part_task_ids(self, body_id: str) -> list[str]:
        """The task_ids of every acknowledged part of an unfinished body."""
        parts = self.parts.get(body_id, {})
        return [task_id for part in sorted(parts) for task_id in parts[part]]


class _Chunks:
    """Append-only lists of entries stored ``CHUNK_ENTRIES`` to a key."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.chunks: list[list[object]] = []
        self.dirty: set[int] = set()

    def append(self, entry: object) -> None:
        if not self.chunks or len(self.chunks[-1]) >= CHUNK_ENTRIES:
            self.chunks.append([])
        self.chunks[-1].append(entry)
        self.dirty.add(len(self.chunks) - 1)

    def take_dirty(self) -> list[tuple[str, str]]:
        writes = [(f"{self.prefix}/{n}", json.dumps(self.chunks[n])) for n in sorted(self.dirty)]
        self.dirty.clear()
        return writes


def _compact(value: object) -> str:
    return json.dumps(value, separators=(",", ":"))


class _RangeChunks:
    """The dot record: append-only, ``RANGE_CHUNK_BYTES`` of JSON to a key; only the last
    (still growing) chunk is held, the earlier ones are read back one at a time."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.count = 0  # chunks, the last one included
        self.last: list[object] = []
        self.last_bytes = 2
        self.dirty = False
        self._full: list[tuple[str, str]] = []  # closed chunks not stored yet

    def append(self, entry: object) -> None:
        size = len(_compact(entry)) + 1
        if self.count == 0 or (self.last and self.last_bytes + size > RANGE_CHUNK_BYTES):
            if self.dirty:
                self._full.append(self._write())
            self.count += 1
            self.last, self.last_bytes = [], 2
        self.last.append(entry)
        self.last_bytes += size
        self.dirty = True

    def _write(self) -> tuple[str, str]:
        return f"{self.prefix}/{self.count - 1}", _compact(self.last)

    def take_dirty(self) -> list[tuple[str, str]]:
        writes, self._full = self._full, []
        if self.dirty:
            writes.append(self._write())
            self.dirty = False
        return writes


class DeliveryLedger:
    """Intents, acknowledgements and finished bodies of one task instance, in a store.

    Thread-safe: acknowledgements may come from the sending threads. ``flush_interval`` is
    how long an acknowledgement may wait for the background writer. ``lease``: this try's
    lease on the record (:mod:`.lease`); once another try took it over, nothing more is
    written.
    """

    def __init__(
        self,
        store: KeyValueStore,
        prefix: str,
        fingerprint: str,
        flush_interval: float = 0.5,
        *,
        lease: TryLease | None = None,
    ) -> None:
        self.store = store
        self.lease = lease
        self.prefix = prefix
        self.fingerprint = fingerprint
        self.flush_interval = flush_interval
        self._acks = _Chunks(f"{prefix}/a")
        self._intents = _Chunks(f"{prefix}/i")
        self._ranges = _RangeChunks(f"{prefix}/r")
        self._complete = False
        self._header_written: tuple[int, int, int, bool] | None = None
        self._lock = threading.Lock()  # guards the chunks
        self._write_lock = threading.Lock()  # one writer to the store at a time
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._writer: threading.Thread | None = None
        self._write_error: BaseException | None = None

    # -- reading ----------------------------------------------------------------------

    def load(self) -> LedgerState:
        """What earlier tries recorded (empty for a first try); continues from there."""
        header = self._read(self.prefix)
        state = LedgerState()
        if not isinstance(header, dict) or header.get("version") != VERSION:
            return state
        state.fingerprint = header.get("fingerprint")
        state.complete = bool(header.get("complete"))
        self._complete = state.complete
        self._acks.chunks = self._read_chunks(self._acks.prefix, int(header.get("acks", 0)))
        self._intents.chunks = self._read_chunks(
            self._intents.prefix, int(header.get("intents", 0))
        )
        self._ranges.count = int(header.get("ranges", 0))
        if self._ranges.count:
            last = self._read(f"{self._ranges.prefix}/{self._ranges.count - 1}")
            self._ranges.last = last if isinstance(last, list) else []
            self._ranges.last_bytes = len(_compact(self._ranges.last))
        self._header_written = self._header()
        for chunk in self._intents.chunks:
            for entry in chunk:
                _apply_intent(state, entry)
        for chunk in self._acks.chunks:
            for entry in chunk:
                _apply_ack(state, entry)
        return state

    def recorded_ranges(self) -> Iterator[tuple[str, list[object]]]:
        """Each body named in an intent with its dot ranges (:mod:`.dot_record`), read from
        the store one key at a time (call after :meth:`load`)."""
        for index in range(self._ranges.count):
            if index == self._ranges.count - 1:
                chunk: object = list(self._ranges.last)
            else:
                chunk = self._read(f"{self._ranges.prefix}/{index}")
            if not isinstance(chunk, list):
                log.warning("Ignoring an unreadable dot record entry %s/%d", self.prefix, index)
                continue
            for entry in chunk:
                if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], list):
                    yield str(entry[0]), entry[1]

    def _read_chunks(self, prefix: str, count: int) -> list[list[object]]:
        chunks: list[list[object]] = []
        for index in range(count):
            chunk = self._read(f"{prefix}/{index}")
            chunks.append(chunk if isinstance(chunk, list) else [])
        return chunks

    def _read(self, key: str) -> object:
        raw = self.store.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            log.warning("Ignoring an unreadable delivery ledger entry %s", key)
            return None

    # -- writing ----------------------------------------------------------------------

    def intend(
        self, body_ids: Iterable[str], ranges: Mapping[str, Sequence[object]] | None = None
    ) -> None:
        """Record that these bodies may be sent, with the dot ranges of each (``ranges``, by
        body id, when given); returns once that is stored."""
        with self._lock:
            for body_id in body_ids:
                if ranges is not None and body_id in ranges:
                    self._ranges.append([body_id, list(ranges[body_id])])
                self._intents.append(body_id)
            self._complete = False
        self.flush()

    def withdraw(self, body_ids: Iterable[str]) -> None:
        """Record that no request carried these intended bodies; returns once stored."""
        with self._lock:
            for body_id in body_ids:
                self._intents.append([WITHDRAWN, body_id])
        self.flush()

    def acknowledge(self, body_id: str, part: str, task_ids: list[str]) -> None:
        """Record an acknowledged part of a body (stored by the background writer)."""
        self._append_ack([body_id, part, list(task_ids)])

    def finish(self, body_id: str, task_ids: list[str], refused: int = 0) -> None:
        """Record that every dot of a body is acknowledged or refused (``refused`` of them),
        with its task_ids."""
        entry: list[object] = [body_id, WHOLE_BODY, list(task_ids)]
        self._append_ack([*entry, refused] if refused else entry)

    def _append_ack(self, entry: list[object]) -> None:
        with self._lock:
            self._acks.append(entry)
        self._start_writer()
        self._wake.set()

    def complete(self) -> None:
        """Mark the ledger complete (every body finished); returns once that is stored."""
        with self._lock:
            self._complete = True
        self.flush()

    def flush(self) -> None:
        """Store everything recorded so far; raises what the store raised. Writes nothing
        once another try took the record's lease over."""
        if self.lease is not None and not self.lease.holds():
            return
        with self._write_lock:
            with self._lock:
                writes = (
                    self._ranges.take_dirty() + self._acks.take_dirty() + self._intents.take_dirty()
                )
                header = self._header()
            for key, value in writes:
                self.store.set(key, value)
            if header != self._header_written:  # the chunks first: the header points at them
                self.store.set(self.prefix, self._header_json(header))
                self._header_written = header
        if self._write_error is not None:
            error, self._write_error = self._write_error, None
            raise error

    def _header(self) -> tuple[int, int, int, bool]:
        """The counts of chunks the header points at (call holding the lock)."""
        return (
            len(self._acks.chunks),
            len(self._intents.chunks),
            self._ranges.count,
            self._complete,
        )

    def _header_json(self, header: tuple[int, int, int, bool]) -> str:
        acks, intents, ranges, complete = header
        return json.dumps(
            {
                "version": VERSION,
                "fingerprint": self.fingerprint,
                "acks": acks,
                "intents": intents,
                "ranges": ranges,
                "complete": complete,
            }
        )

    # -- the background writer -----------------------------------------------------------

    def _start_writer(self) -> None:
        if self._writer is None and not self._closed.is_set():
            self._writer = threading.Thread(
                target=self._write_loop, name="bulkdots-ledger", daemon=True
            )
            self._writer.start()

    def _write_loop(self) -> None:
        while not self._closed.is_set():
            self._wake.wait()
            self._wake.clear()
            try:
                self.flush()
            except Exception as error:  # kept for the next flush in the task's thread
                log.warning("Could not store the delivery ledger: %s", error)
                self._write_error = error
            self._closed.wait(self.flush_interval)

    def close(self) -> None:
        """Stop the background writer after a last flush."""
        self._closed.set()
        self._wake.set()
        if self._writer is not None:
            self._writer.join()
            self._writer = None
        self.flush()


def _apply_intent(state: LedgerState, entry: object) -> None:
    """An intent adds its body; a withdrawal, written after it, takes the body back out."""
    if isinstance(entry, list) and len(entry) == 2 and entry[0] == WITHDRAWN:
        state.intents.discard(str(entry[1]))
    else:
        state.intents.add(str(entry))


def _apply_ack(state: LedgerState, entry: object) -> None:
    if not isinstance(entry, list) or len(entry) not in (3, 4):
        return
    body_id, part, task_ids = str(entry[0]), str(entry[1]), [str(t) for t in entry[2]]
    if part == WHOLE_BODY:
        earlier = state.parts.pop(body_id, {})
        state.finished[body_id] = task_ids or [t for p in sorted(earlier) for t in earlier[p]]
        if len(entry) == 4 and isinstance(entry[3], int) and entry[3] > 0:
            state.refused[body_id] = entry[3]
    elif body_id not in state.finished:
        state.parts.setdefault(body_id, {})[part] = task_ids
