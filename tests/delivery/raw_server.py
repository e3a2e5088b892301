"""A loopback HTTP server that answers every request with scripted raw bytes, at a set pace.

For the replies the emulator cannot give on purpose: a reply trickled one byte at a time, a
redirect. It reads the request (headers and ``Content-Length`` body) before answering.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RawServer:
    """Where it listens, and what it received."""

    url: str
    requests: list[bytes] = field(default_factory=list)


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@contextmanager
def raw_server(
    reply: bytes, byte_interval: float = 0.0, fast_prefix: int = 0
) -> Iterator[RawServer]:
    """Serve ``reply`` to every connection: ``fast_prefix`` bytes at once, then one byte every
    ``byte_interval`` seconds (all at once when 0). Stops when the block ends."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.1)
    server = RawServer(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            try:
                server.requests.append(_read_request(conn))
                conn.sendall(reply[:fast_prefix] if byte_interval else reply)
                for index in range(fast_prefix, len(reply) if byte_interval else 0):
                    if stop.wait(byte_interval):
                        return
                    conn.sendall(reply[index : index + 1])
            except OSError:
                return  # the client went away

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def http_reply(status: str, body: bytes = b"", **headers: str) -> bytes:
    """The raw bytes of one HTTP/1.1 reply."""
    lines = [
        f"HTTP/1.1 {status}",
        f"Content-Length: {len(body)}",
        *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def elapsed(started: float) -> float:
    return time.monotonic() - started
