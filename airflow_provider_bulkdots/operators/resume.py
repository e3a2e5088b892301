"""Which bodies an earlier try of the same task instance already had acknowledged.

The ledger is kept in Airflow Variables, which every worker of every executor reaches
through the API server. It is tied to a fingerprint of the dataset and the options: a
changed input is sent in full. Each acknowledgement is written before the next body's reply
is handled, so a killed try loses at most the acknowledgements in flight at that moment.

Layout: ``<key>`` holds ``{"fingerprint", "chunks"}``; ``<key>/<n>`` holds up to
``CHUNK_ENTRIES`` entries ``[seq, body_id, [task_id, ...]]``.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)
CHUNK_ENTRIES = 256


class KeyValueStore(Protocol):
    """Where the ledger lives: get, set and delete of string values by key."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...
    def delete(self, key: str) -> None: ...


class VariableStore:
    """Airflow Variables, through the Task SDK (visible to every worker)."""

    def get(self, key: str) -> str | None:
        from airflow_provider_bulkdots.compat import Variable

        value = Variable.get(key, default=None)
        return None if value is None else str(value)

    def set(self, key: str, value: str) -> None:
        from airflow_provider_bulkdots.compat import Variable

        Variable.set(key, value, description="airflow-provider-bulkdots resume ledger")

    def delete(self, key: str) -> None:
        from airflow_provider_bulkdots.compat import Variable

        try:
            Variable.delete(key)
        except Exception as error:  # a missing key is fine; anything else is logged
            log.debug("could not delete %s: %s", key, error)


@dataclass(frozen=True)
class Acknowledged:
    """A body acknowledged by an earlier try."""

    seq: int
    body_id: str
    task_ids: tuple[str, ...]


def ledger_key(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    """A short, stable Variable key for one task instance."""
    identity = json.dumps([dag_id, run_id, task_id, map_index])
    return "bulkdots_resume:" + hashlib.sha256(identity.encode()).hexdigest()[:32]


class ResumeLedger:
    """Loads, extends and clears the acknowledged bodies of one task instance."""

    def __init__(self, store: KeyValueStore, key: str, fingerprint: str) -> None:
        self.store = store
        self.key = key
        self.fingerprint = fingerprint
        self._chunks: list[list[list[object]]] = []

    def load(self) -> dict[str, Acknowledged]:
        """Acknowledged bodies by body_id; empty when none, or when the input changed."""
        self._chunks = []
        header = self._read(self.key)
        if not isinstance(header, dict):
            return {}
        if header.get("fingerprint") != self.fingerprint:
            log.warning(
                "The dataset or options changed since the last try: sending everything again."
            )
            self._delete_chunks(int(header.get("chunks", 0)))
            self.store.delete(self.key)
            return {}
        acknowledged: dict[str, Acknowledged] = {}
        for index in range(int(header.get("chunks", 0))):
            chunk = self._read(f"{self.key}/{index}")
            entries = chunk if isinstance(chunk, list) else []
            self._chunks.append(entries)
            for seq, body_id, task_ids in entries:
                acknowledged[body_id] = Acknowledged(int(seq), str(body_id), tuple(task_ids))
        return acknowledged

    def record(self, seq: int, body_id: str, task_ids: list[str]) -> None:
        """Persist one acknowledgement (the first one creates the ledger)."""
        if not self._chunks or len(self._chunks[-1]) >= CHUNK_ENTRIES:
            self._chunks.append([])
            self._write_header()
        self._chunks[-1].append([seq, body_id, list(task_ids)])
        index = len(self._chunks) - 1
        self.store.set(f"{self.key}/{index}", json.dumps(self._chunks[-1]))

    def clear(self) -> None:
        """Forget the ledger (the task succeeded)."""
        header = self._read(self.key)
        chunks = int(header.get("chunks", 0)) if isinstance(header, dict) else len(self._chunks)
        self._delete_chunks(max(chunks, len(self._chunks)))
        self.store.delete(self.key)
        self._chunks = []

    def _write_header(self) -> None:
        header = {"fingerprint": self.fingerprint, "chunks": len(self._chunks)}
        self.store.set(self.key, json.dumps(header))

    def _delete_chunks(self, count: int) -> None:
        for index in range(count):
            self.store.delete(f"{self.key}/{index}")

    def _read(self, key: str) -> object:
        raw = self.store.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            log.warning("Ignoring an unreadable resume ledger entry %s", key)
            return None
