"""A loopback gateway that serves the emulator's API under a path prefix (``/ubidots/api/...``)
and answers 404 to every other path, as a reverse proxy in front of an API does."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests


@dataclass
class Gateway:
    """Where it listens, and the paths it was asked for (without their query strings)."""

    url: str
    paths: list[str] = field(default_factory=list)


@contextmanager
def prefix_gateway(upstream: str, prefix: str) -> Iterator[Gateway]:
    """Serve ``upstream`` under ``prefix`` on a free loopback port until the block ends."""
    session = requests.Session()
    gateway = Gateway("")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _forward(self) -> None:
            gateway.paths.append(self.path.split("?", 1)[0])
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if not self.path.startswith(prefix + "/"):
                self._answer(404, b'{"detail": "Not found."}', "application/json")
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host",)}
            reply = session.request(
                self.command, upstream + self.path[len(prefix) :], data=body, headers=headers
            )
            self._answer(reply.status_code, reply.content, reply.headers.get("Content-Type"))

        def _answer(self, status: int, content: bytes, content_type: str | None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    gateway.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield gateway
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
        session.close()
