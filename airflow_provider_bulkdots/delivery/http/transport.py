"""The HTTP session, and a deadline that bounds a whole request.

``requests`` applies its timeout to each socket operation, so a server that trickles one byte
every second keeps a request open for ever. Here every request made inside
:func:`request_deadline` gets a watchdog: when ``seconds`` have passed since the request
started, the socket it reads from is shut down, the read fails at once, and the request ends
as a network error (its reply lost). One watchdog thread serves every deadline. Only sessions
from :func:`make_session` have sockets the watchdog can reach; on others the per-operation
timeout still applies.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class Deadline:
    """The end of one request: shuts the socket it watches when the time is up."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def watch(self, sock: socket.socket | None) -> None:
        """The socket the request reads its reply from (shut at once if already late)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        """Time is up: shut the socket, unless the request has ended."""
        with self._lock:
            if not self.done:
                self.expired = True
                _shut(self._sock)

    def end(self) -> None:
        """The request ended in time (or not): nothing more to watch."""
        with self._lock:
            self.done = True
            self._sock = None


class _Watchdog:
    """One daemon thread for every deadline of the process: no thread per request."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Deadline]] = []
        self._counter = itertools.count()
        self._wakeup = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, deadline: Deadline) -> None:
        with self._wakeup:
            heapq.heappush(self._heap, (deadline.ends, next(self._counter), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bulkdots-deadlines", daemon=True
                )
                self._thread.start()
            self._wakeup.notify()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while self._heap and self._heap[0][2].done:
                    heapq.heappop(self._heap)  # ended in time
                if not self._heap:
                    self._wakeup.wait()
                    continue
                ends, _, deadline = self._heap[0]
                late = ends - time.monotonic()
                if late > 0:
                    self._wakeup.wait(late)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()


def _shut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def request_deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every request this thread makes inside the block to ``seconds`` in all."""
    deadline = Deadline(seconds)
    _current.deadline = deadline
    _WATCHDOG.add(deadline)
    try:
        yield deadline
    finally:
        deadline.end()
        _current.deadline = None


def _watch_this(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


@contextmanager
def departing(call: Callable[[], None]) -> Iterator[None]:
    """Run ``call`` once, right before the first request this thread makes inside the block
    starts to go (prepared, its connection taken from the pool, an https one connected): the
    instant a pace needs to know (:func:`~..pacing.limiter.leaving`)."""
    _current.departing = call
    try:
        yield
    finally:
        _current.departing = None


def _departs() -> None:
    call: Callable[[], None] | None = getattr(_current, "departing", None)
    if call is not None:
        _current.departing = None
        call()


class _WatchedHTTPConnection(HTTPConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _departs()
        super().request(*args, **kwargs)

    def getresponse(self) -> Any:
        _watch_this(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
    def request(self, *args: Any, **kwargs: Any) -> None:
        _departs()
        super().request(*args, **kwargs)

    def getresponse(self) -> Any:
        _watch_this(self.sock)
        return super().getresponse()


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    """An adapter whose connections let :func:`request_deadline` reach their sockets."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _WatchedHTTPPool,
            "https": _WatchedHTTPSPool,
        }


def make_session(max_in_flight: int) -> requests.Session:
    """A session for one delivery: TLS verified, no automatic retries, one connection per
    request in flight, every request boundable by :func:`request_deadline` and telling
    :func:`departing` when it goes."""
    session = requests.Session()
    session.verify = True
    adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=max_in_flight, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


__all__ = ["Deadline", "DeadlineAdapter", "departing", "make_session", "request_deadline"]
