"""Only the newest try sends: a lease on the delivery record, checked before every request.

A task instance's tries share one delivery record (the ledger). Two of them may run at once:
a zombie whose heartbeat was lost beside its retry, a paused VM that wakes up. Whatever store
holds the record, the lease is one more key in it, ``<prefix>/lease``::

    {"run": "<run id>", "try": 3, "token": "<uuid4>", "host": "worker-2", "pid": 4242,
     "since": 1764750000.0, "released": false}

- A try **takes** the lease when it starts (its own token, its run and try number). A lease
  held by a newer try of the same run (a higher number, not released) is never taken: the
  older try stops at once.
- Before **every request**, the sending thread reads the lease back (one store read): if the
  token is not its own, or the lease cannot be read (Airflow 3.3 refuses an older try's
  state-store calls once a newer try exists), the try stops before that request with
  :class:`StaleTryError`, naming both tries, and writes nothing more to the record.
- A try taking over a lease its holder did not release (the holder may still be running)
  waits ``grace`` seconds first: long enough for a request the old try had already checked to
  end (the request ``timeout``). No wait when the holder released it, or when it was a
  process of this machine that no longer exists.
- A try **releases** the lease when it ends (success, failure or deferral), if still its own.

Limits: the API has no fencing of its own, so a try paused *between* its check and its
request for longer than ``grace`` can still send that one request. Pure: no Airflow.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Protocol

from airflow_provider_bulkdots.exceptions import StaleTryError

LEASE_KEY = "lease"


class KeyValueStore(Protocol):
    """Where the record lives (the ledger's store: :class:`.ledger.KeyValueStore`)."""

    def get(self, key: str) -> str | None: ...
    def set(self, key: str, value: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds the delivery record."""

    try_number: int
    token: str
    run: str = ""
    host: str = ""
    pid: int = 0
    since: float = 0.0
    released: bool = False

    @classmethod
    def parse(cls, raw: str | None) -> Lease | None:
        """The lease in a stored value; ``None`` for none or a damaged one."""
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return cls(
                try_number=int(data["try"]),
                token=str(data["token"]),
                run=str(data.get("run", "")),
                host=str(data.get("host", "")),
                pid=int(data.get("pid", 0)),
                since=float(data.get("since", 0.0)),
                released=bool(data.get("released", False)),
            )
        except (ValueError, TypeError, KeyError, AttributeError):
            return None

    def dumps(self) -> str:
        data = asdict(self)
        data["try"] = data.pop("try_number")
        return json.dumps(data, sort_keys=True)

    def gone(self) -> bool:
        """Whether its holder ended: released, or a process of this machine that is gone."""
        return self.released or (self.host == socket.gethostname() and not _alive(self.pid))

    def newer_than(self, other: Lease) -> bool:
        """Whether this lease is held by a later try of the same run (not released)."""
        return not self.released and self.run == other.run and self.try_number > other.try_number


class TryLease:
    """The lease of try ``try_number`` of run ``run`` on the record under ``prefix``."""

    def __init__(
        self,
        store: KeyValueStore,
        prefix: str,
        try_number: int,
        run: str = "",
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.key = f"{prefix}/{LEASE_KEY}"
        self.try_number = try_number
        self.mine = Lease(try_number, uuid.uuid4().hex, run, socket.gethostname(), os.getpid())
        self._clock = clock
        self._fenced = threading.Event()
        self.holder: int | None = None

    @property
    def fenced(self) -> bool:
        """Whether another try took the lease over (this try must write and send nothing)."""
        return self._fenced.is_set()

    def take(self) -> Lease | None:
        """Take the lease; return the earlier holder that may still run (``None``: no wait
        needed). Raises :class:`StaleTryError` when a newer try holds it."""
        held = Lease.parse(self.store.get(self.key))
        if held is not None and held.newer_than(self.mine):
            self._fence(held.try_number)
        self.mine = replace(self.mine, since=self._clock())
        self.store.set(self.key, self.mine.dumps())
        if held is None or held.gone() or held.token == self.mine.token:
            return None
        return held

    def check(self) -> None:
        """Raise :class:`StaleTryError` unless this try still holds the lease (one read)."""
        if self._fenced.is_set():
            raise StaleTryError(self.try_number, self.holder)
        try:
            held = Lease.parse(self.store.get(self.key))
        except Exception as error:  # the record is out of reach: do not send blind
            self._fence(None, f" (the record could not be read: {error})")
        if held is None or held.token != self.mine.token:
            self._fence(held.try_number if held is not None else None)

    def holds(self) -> bool:
        """Whether this try still holds the lease (a :meth:`check` that answers)."""
        try:
            self.check()
        except StaleTryError:
            return False
        return True

    def release(self) -> None:
        """Mark the lease released, if it is still this try's."""
        if self._fenced.is_set():
            return
        held = Lease.parse(self.store.get(self.key))
        if held is not None and held.token == self.mine.token:
            self.store.set(self.key, replace(self.mine, released=True).dumps())

    def _fence(self, holder: int | None, why: str = "") -> None:
        self.holder = holder
        self._fenced.set()
        raise StaleTryError(self.try_number, holder, why)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return True  # unknown: assume it may still run
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


__all__ = ["LEASE_KEY", "Lease", "StaleTryError", "TryLease"]
