"""The HTTP side of the emulator: framing, connections, and replies that misbehave on purpose.

Each request is read into a :class:`~.messages.Request` (the body read whole when its
Content-Length is valid and at most ``max(1 MiB, max_body_bytes)``, so a refused body leaves
the connection usable), handed to :meth:`EmulatorAPI.handle`, and its
:class:`~.messages.Response` written: JSON or HTML, a closed connection (``drop``), a bare
204, or half a body then silence or a TCP reset (``cut``). Nothing here knows the endpoint.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_bulkdots.emulator.api import EmulatorAPI
from airflow_provider_bulkdots.emulator.messages import Framing, Request, Response

log = logging.getLogger(__name__)

# Bodies up to this size (or the API's body limit, if larger) are read before handling.
READ_LIMIT = 1 << 20


class EmulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server in front of an :class:`EmulatorAPI`."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self, address: tuple[str, int], api: EmulatorAPI, *, socket_timeout: float = 30.0
    ) -> None:
        self.api = api
        self.socket_timeout = socket_timeout
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, EmulatorRequestHandler)

    @property
    def host_port(self) -> tuple[str, int]:
        """The bound address."""
        host, port = self.server_address[:2]
        return str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
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
        log.debug("%s - %s", self.address_string(), format % args)

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
