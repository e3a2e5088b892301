"""Run the emulator in a background thread: for this package's tests and for users' own.

``with start_emulator(...) as emu:`` serves it on a free loopback port for the block;
without ``with``, call ``emu.close()``.
"""

from __future__ import annotations

import threading
from typing import Any

from airflow_provider_bulkdots.emulator.api import BULK_PATH, EmulatorAPI
from airflow_provider_bulkdots.emulator.faults import FaultInjector, Faults, ReplyFault
from airflow_provider_bulkdots.emulator.ratelimit import Clock, EmulatorRateLimiter
from airflow_provider_bulkdots.emulator.store import Store
from airflow_provider_bulkdots.emulator.transport import (
    CONNECTION_WAIT,
    MAX_CONNECTIONS,
    EmulatorServer,
)


class Emulator:
    """A running emulator: where it is, what it stored, and the knobs to make it fail."""

    def __init__(self, server: EmulatorServer) -> None:
        self._server = server
        self._api = server.api
        host, port = server.host_port
        self.url = f"http://{host}:{port}"
        self.token = self._api.token
        self.bulk_url = self.url + BULK_PATH
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"bulkdots-emulator-{port}",
            daemon=True,
        )
        self._thread.start()

    def __repr__(self) -> str:
        return f"Emulator(url={self.url!r}, token=***)"

    @property
    def server(self) -> EmulatorServer:
        """The HTTP server (``server.host_port`` is the bound address)."""
        return self._server

    @property
    def api(self) -> EmulatorAPI:
        """The API behind the server: ``api.handle(request)`` answers without HTTP."""
        return self._api

    def stats(self) -> dict[str, Any]:
        """Requests by outcome, dots, unique dots, duplicates, devices, bodies, largest body."""
        return self._api.store.stats()

    def dots(self) -> list[dict[str, Any]]:
        """Every stored dot in insertion order, with the task_id of its request."""
        return self._api.store.dots()

    def drop_dots(self, keys: list[tuple[str, str, int]]) -> int:
        """Lose the stored dots at each (device, variable, timestamp), as a faulty API would."""
        return self._api.store.drop_dots(keys)

    def duplicate_dots(self, keys: list[tuple[str, str, int]]) -> int:
        """Store a second copy of the dot at each (device, variable, timestamp)."""
        return self._api.store.duplicate_dots(keys)

    def alter_dots(self, changes: list[tuple[str, str, int, float]]) -> int:
        """Change the stored value at each (device, variable, timestamp) to the one given."""
        return self._api.store.alter_dots(changes)

    def set_delete_delay(self, seconds: float) -> None:
        """Deletions accepted from now on take effect this many seconds later."""
        self._api.deletions.delay_s = seconds

    def set_faults(self, faults: Faults) -> None:
        """Replace the configured faults (restarts bursts and the down_after count)."""
        self._api.faults.set(faults)

    def fail_next(self, n: int, status: int = 503) -> None:
        """The next ``n`` bulk POSTs are answered ``status``; nothing is stored."""
        self._api.faults.fail_next(n, status)

    def drop_next(self, n: int) -> None:
        """The next ``n`` accepted bulk POSTs are stored, then closed without a reply."""
        self._api.faults.drop_next(n)

    def inject_next(self, kind: str | ReplyFault, n: int = 1) -> None:
        """The next ``n`` accepted bulk POSTs get the reply fault ``kind`` (queued in order):
        ``drop_after_store``, ``drop_before_store``, ``html_200``, ``empty_json_200``,
        ``no_content_204``, ``stall_body``, ``reset_body``, or ``none``."""
        self._api.faults.inject_next(kind, n)

    def set_rate_limit(self, rate: float) -> None:
        """Requests per second per token; 0 for no limit."""
        self._api.rate_limiter.set_rate(rate)

    def set_visibility_delay(self, seconds: float) -> None:
        """Dots stored from now on show in reads this many seconds after their write."""
        self._api.set_visibility_delay(seconds)

    def reset(self) -> None:
        """Clear dots, counters, faults and rate-limit history; restore the starting rate
        limit and visibility delay."""
        self._api.reset()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving, cut open connections and close the database."""
        self._server.stop()
        self._thread.join(timeout=5)
        self._api.store.close()


def start_emulator(
    token: str = "test-token",
    rate_limit: float = 4.0,
    max_body_bytes: int = 10_000,
    db_path: str | None = None,
    faults: Faults | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: Clock | None = None,
    wall_clock: Clock | None = None,
    socket_timeout: float = 30.0,
    visibility_delay: float = 0.0,
    max_connections: int = MAX_CONNECTIONS,
    connection_wait: float = CONNECTION_WAIT,
) -> Emulator:
    """Start an emulator in a background thread; use it in ``with``, or ``close()`` it.

    ``clock`` (monotonic seconds) drives the rate limit, ``wall_clock`` (epoch seconds)
    the stored ``created_at`` and the visibility delay: tests inject both. At most
    ``max_connections`` connections are served at once (see :mod:`.transport`).
    """
    store = Store(db_path) if wall_clock is None else Store(db_path, clock=wall_clock)
    limiter = (
        EmulatorRateLimiter(rate_limit)
        if clock is None
        else EmulatorRateLimiter(rate_limit, clock=clock)
    )
    try:
        api = EmulatorAPI(
            token=token,
            store=store,
            rate_limiter=limiter,
            faults=FaultInjector(faults),
            max_body_bytes=max_body_bytes,
            visibility_delay_s=visibility_delay,
        )
        server = EmulatorServer(
            (host, port),
            api,
            socket_timeout=socket_timeout,
            max_connections=max_connections,
            connection_wait=connection_wait,
        )
    except BaseException:
        store.close()
        raise
    return Emulator(server)
