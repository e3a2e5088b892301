"""The HTTP side of the emulator: framing, connections, and replies that misbehave on purpose.

Each request is read into a :class:`~.messages.Request` (the body read whole when its
Content-Length is valid and at most ``max(1 MiB, max_body_bytes)``, so a refused body leaves
the connection usable), handed to :meth:`EmulatorAPI.handle`, and its
:class:`~.messages.Response` written: JSON or HTML, a closed connection (``drop``), a bare
204, or half a body then silence or a TCP reset (``cut``). Nothing here knows the endpoint.

One thread serves one connection, and at most ``max_connections`` (128 by default) are
served at once: a connection over the cap waits in the accept loop up to ``connection_wait``
seconds for one to end (idle keep-alive connections end after ``socket_timeout``), then is
answered 503 with ``Retry-After: 1`` and closed. The access log (DEBUG) never shows a token:
``?token=`` values and the API's token are written ``***``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_bulkdots.emulator.api import EmulatorAPI
from airflow_provider_bulkdots.emulator.messages import Framing, Request, Response

log = logging.getLogger(__name__)

# Bodies up to this size (or the API's body limit, if larger) are read before handling.
READ_LIMIT = 1 << 20
#: Connections served at once, and how long one over the cap waits for a slot.
MAX_CONNECTIONS = 128
CONNECTION_WAIT = 5.0
_BUSY_BODY = b'{"detail": "Too many connections to the emulator; retry."}'
BUSY_REPLY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nRetry-After: 1\r\nConnection: close\r\n\r\n%s"
    % (len(_BUSY_BODY), _BUSY_BODY)
)
_QUERY_TOKEN = re.compile(r"([?&]token=)[^&\s\"]*", re.IGNORECASE)


def redact_line(line: str, token: str) -> str:
    """``line`` with every ``token=`` query value and ``token`` itself written ``***``."""
    line = _QUERY_TOKEN.sub(r"\1***", line)
    return line.replace(token, "***") if token else line


class EmulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server in front of an :class:`EmulatorAPI`."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        api: EmulatorAPI,
        *,
        socket_timeout: float = 30.0,
        max_connections: int = MAX_CONNECTIONS,
        connection_wait: float = CONNECTION_WAIT,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be >= 1, not {max_connections}")
        self.api = api
        self.socket_timeout = socket_timeout
        self.max_connections = max_connections
        self.connection_wait = connection_wait
        self.stopping = threading.Event()
        self._slots = threading.BoundedSemaphore(max_connections)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, EmulatorRequestHandler)

    @property
    def host_port(self) -> tuple[str, int]:
        """The bound address."""
        host, port = self.server_address[:2]
        return str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._take_slot():
            self._refuse(request)
            return
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def _take_slot(self) -> bool:
        """A free slot within ``connection_wait`` (in short steps: a stop is not held up)."""
        deadline = time.monotonic() + self.connection_wait
        while not self.stopping.is_set():
            if self._slots.acquire(timeout=min(0.05, max(0.0, deadline - time.monotonic()))):
                return True
            if time.monotonic() >= deadline:
                return False
        return False

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 and close a connection over the cap (no thread is started for it)."""
        with contextlib.suppress(OSError):
            request.settimeout(1.0)
            request.sendall(BUSY_REPLY)
        log.warning("emulator: over %d connections, one refused with 503", self.max_connections)
        super().shutdown_request(request)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            held = request in self._connections
            self._connections.discard(request)
        if held:
            self._slots.release()
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Cut every open connection (idle keep-alive ones included)."""
        with self._connections_lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        """Stop serving (from another thread than ``serve_forever``): end stalls and delays,
        cut open connections, close the listening socket."""
        self.stopping.set()
        self.shutdown()
        self.close_connections()
        self.server_close()


class EmulatorRequestHandler(BaseHTTPRequestHandler):
    """One connection: reads each request, asks the API, writes the reply."""

    server: EmulatorServer
    protocol_version = "HTTP/1.1"
    server_version = "bulkdots-emulator/0.1"

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.socket_timeout)

    def log_message(self, format: str, *args: Any) -> None:
        line = redact_line(format % args, self.server.api.token)
        log.debug("%s - %s", self.address_string(), line)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors found by http.server itself (bad request line, huge headers) as JSON."""
        short = self.responses.get(code, ("Error",))[0]
        self._write(Response(code, {"detail": message or short}, close=True))

    def _serve(self) -> None:
        try:
            request = self._read_request()
            response = self.server.api.handle(request)
            if request.framing is not None and request.framing.leaves_bytes:
                response.close = True
            self._write(response)
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    def _read_request(self) -> Request:
        url = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), value)
        framing, length = self._framing(headers)
        body = b""
        if framing is Framing.READ and length:
            body = self.rfile.read(length)
            if len(body) < length:
                framing = Framing.SHORT
        return Request(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers=headers,
            body=body,
            content_length=length,
            framing=framing,
            host=headers.get("host") or "{}:{}".format(*self.server.host_port),
        )

    def _framing(self, headers: dict[str, str]) -> tuple[Framing, int | None]:
        raw = headers.get("content-length")
        chunked = "transfer-encoding" in headers
        if raw is None:
            return (Framing.CHUNKED if chunked else Framing.NOT_DECLARED), None
        raw = raw.strip()
        if chunked or not raw.isascii() or not raw.isdigit():
            return Framing.INVALID, None
        length = int(raw)
        if length > max(READ_LIMIT, self.server.api.max_body_bytes):
            return Framing.TOO_LARGE, length
        return Framing.READ, length

    def _write(self, response: Response) -> None:
        if response.delay_s:
            self.server.stopping.wait(response.delay_s)
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(response.status)
        if response.no_body:
            self.end_headers()
            return
        if response.html is not None:
            body = response.html.encode("utf-8")
            content_type = "text/html; charset=utf-8"
        else:
            body = json.dumps(response.payload).encode("utf-8")
            content_type = "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.close or response.cut:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if response.cut:
            self._write_cut(response, body)
        elif self.command != "HEAD":
            self.wfile.write(body)

    def _write_cut(self, response: Response, body: bytes) -> None:
        """Half the body, then silence for ``stall_s`` or a TCP reset; the connection ends."""
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if response.cut == "stall":
            self.server.stopping.wait(response.stall_s)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
