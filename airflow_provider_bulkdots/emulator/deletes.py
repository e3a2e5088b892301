"""The v2.0 delete of values in a span, asynchronous as the API documents it.

``POST /api/v2.0/devices/<device_key>/<variable_key>/values/delete/?startDate=<ms>&endDate=<ms>``
(both inclusive) answers ``{"task_id": ...}`` at once; the deletion takes effect
``delete_delay`` seconds later (0: before the next request is answered). A key is a label,
``~<label>`` or, for the variable, ``_`` (every variable of the device: the documented form).
The per-variable form is *assumed* (docs/bodies.md, "What is assumed of the API"). Behind the
token and the rate limit.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

from airflow_provider_bulkdots.emulator.messages import Request, Response, detail
from airflow_provider_bulkdots.emulator.validate import MAX_TIMESTAMP_MS

if TYPE_CHECKING:
    from airflow_provider_bulkdots.emulator.service import EmulatorService
    from airflow_provider_bulkdots.emulator.store import Store

DELETE_PATTERN = r"/api/v2\.0/devices/([^/]+)/([^/]+)/values/delete/?"


@dataclass(frozen=True)
class Deletion:
    """One accepted deletion, due at ``due_ms`` (the store's clock)."""

    device: str
    variable: str | None
    start_ms: int
    end_ms: int
    due_ms: int


class PendingDeletions:
    """Deletions accepted and not yet applied; applied once due."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[Deletion] = []
        self.delay_s = 0.0

    def add(self, deletion: Deletion) -> None:
        with self._lock:
            self._pending.append(deletion)

    def apply_due(self, store: Store) -> int:
        """Apply every deletion due by now; the dots deleted."""
        now = store.now_ms()
        with self._lock:
            due = [d for d in self._pending if d.due_ms <= now]
            self._pending = [d for d in self._pending if d.due_ms > now]
        return sum(store.delete_span(d.device, d.variable, d.start_ms, d.end_ms) for d in due)

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()
            self.delay_s = 0.0


def _label(key: str) -> str:
    key = unquote(key)
    return key[1:] if key.startswith("~") else key


def _millis(request: Request, name: str) -> int | Response:
    raw = request.param(name)
    if raw is None or not raw.isascii() or not raw.isdigit() or int(raw) > MAX_TIMESTAMP_MS:
        return detail(400, f"{name} is required: a timestamp in milliseconds, got {raw!r}.")
    return int(raw)


def post_delete(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """Accept a deletion of a device's (or one variable's) values in a span."""
    if api.faults.plan_read().down:
        return Response(0, drop=True)
    refused = api.authenticate(request) or api.throttle()
    if refused:
        api.store.log_read(str(refused.status))
        return refused
    start, end = _millis(request, "startDate"), _millis(request, "endDate")
    if isinstance(start, Response):
        return start
    if isinstance(end, Response):
        return end
    if end < start:
        return detail(400, "endDate must not be before startDate.")
    variable = None if match[2] == "_" else _label(match[2])
    due = api.store.now_ms() + round(api.deletions.delay_s * 1000)
    api.deletions.add(Deletion(_label(match[1]), variable, start, end, due))
    api.store.log_read("200")
    return Response(200, {"task_id": secrets.token_hex(12)})
