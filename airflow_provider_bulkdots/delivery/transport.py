"""The HTTP session, and a deadline that bounds a whole request.

``requests`` applies its timeout to each socket operation, so a server that trickles one byte
every second keeps a request open for ever. Here every request made inside
:func:`request_deadline` gets a watchdog: when ``seconds`` have passed since the request
started, the socket it reads from is shut down, the read fails at once, and the request ends
as a network error (its reply lost). Only sessions from :func:`make_session` have sockets the
watchdog can reach; on others the per-operation timeout still applies.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
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
        self.expired = False
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def watch(self, sock: socket.socket | None) -> None:
        """The socket the request reads its reply from (shut at once if already late)."""
        with self._lock:
            self._sock = sock
            if self.expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            _shut(self._sock)

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()


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
    deadline.start()
    try:
        yield deadline
    finally:
        deadline.cancel()
        _current.deadline = None


def _watch_this(sock: socket.socket | None) -> None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    if deadline is not None:
        deadline.watch(sock)


class _WatchedHTTPConnection(HTTPConnection):
    def getresponse(self) -> Any:
        _watch_this(self.sock)
        return super().getresponse()


class _WatchedHTTPSConnection(HTTPSConnection):
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
    request in flight, every request boundable by :func:`request_deadline`."""
    session = requests.Session()
    session.verify = True
    adapter = DeadlineAdapter(pool_connections=1, pool_maxsize=max_in_flight, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


__all__ = ["Deadline", "DeadlineAdapter", "make_session", "request_deadline"]
