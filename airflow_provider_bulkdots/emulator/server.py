"""The HTTP server: the bulk endpoint, the read API, the dashboard and the admin calls.

Checks on a bulk POST run in the endpoint's order: auth (401), rate limit (429),
content type (415), size (411/413, by Content-Length before reading), JSON (400),
schema (400001), then store and answer 200 in one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from airflow_provider_bulkdots.emulator import dashboard
from airflow_provider_bulkdots.emulator.faults import (
    WRONG_2XX,
    FaultInjector,
    Faults,
    ReplyFault,
    Verdict,
)
from airflow_provider_bulkdots.emulator.ratelimit import RateLimiter, retry_after_header
from airflow_provider_bulkdots.emulator.store import Store
from airflow_provider_bulkdots.emulator.validate import (
    MAX_TIMESTAMP_MS,
    JSONParseError,
    ValidationError,
    parse_body,
    validate,
)

log = logging.getLogger(__name__)

BULK_PATH = "/api/v1.6/devices/_/bulk/values"
DEVICES_PATH = "/api/v2.0/devices"
_VALUES_PATH = re.compile(r"^/api/v1\.6/devices/([^/]+)/([^/]+)/values/?$")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
# Bodies up to this size are read and discarded when refused, so the connection stays usable.
_DRAIN_LIMIT = 1 << 20
_ADMIN_BODY_LIMIT = 64 * 1024

NO_TOKEN = {"code": 401001, "message": "Authentication credentials were not provided."}
BAD_TOKEN = {"code": 401002, "message": "Incorrect authentication credentials."}


@dataclass
class Response:
    """A JSON (or HTML) reply, or none at all when ``drop`` is set."""

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None
    drop: bool = False
    close: bool = False
    # A 2xx whose body never completes: "stall" (silence for stall_s) or "reset" (TCP RST).
    cut: str | None = None
    stall_s: float = 0.0
    no_body: bool = False
    counted: bool = False  # the store already counted this request


def _detail(status: int, detail: str, **headers: str) -> Response:
    return Response(status, {"detail": detail}, dict(headers))


class EmulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server holding the emulator's state."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(
        self,
        address: tuple[str, int],
        *,
        token: str,
        store: Store,
        rate_limiter: RateLimiter,
        faults: FaultInjector,
        max_body_bytes: int = 10_000,
        socket_timeout: float = 30.0,
        visibility_delay_s: float = 0.0,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        check_visibility_delay(visibility_delay_s)
        self.visibility_delay_s = float(visibility_delay_s)
        self.initial_visibility_delay_s = self.visibility_delay_s
        self.stopping = threading.Event()
        self.token = token
        self.store = store
        self.rate_limiter = rate_limiter
        self.faults = faults
        self.max_body_bytes = max_body_bytes
        self.socket_timeout = socket_timeout
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self.initial_rate_limit = rate_limiter.rate
        super().__init__(address, BulkHandler)

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
        """Stop serving (call from another thread than ``serve_forever``), then close."""
        self.stopping.set()
        self.shutdown()
        self.close_connections()
        self.server_close()


class BulkHandler(BaseHTTPRequestHandler):
    """One connection; dispatches each request to the route that serves it."""

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
        self._send(Response(code, {"detail": message or short}, close=True))

    # -- plumbing ----------------------------------------------------------------------

    def _send(self, response: Response) -> None:
        if response.drop:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if response.html is not None:
            body = response.html.encode("utf-8")
            content_type = "text/html; charset=utf-8"
        else:
            body = json.dumps(response.payload).encode("utf-8")
            content_type = "application/json"
        self.send_response(response.status)
        if response.no_body:
            self.end_headers()
            return
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if response.cut:
            self.end_headers()
            self._send_cut(response, body)
            return
        for name, value in response.headers.items():
            self.send_header(name, value)
        if response.close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_cut(self, response: Response, body: bytes) -> None:
        """Half the body, then silence for ``stall_s`` or a TCP reset; the connection ends."""
        self.close_connection = True
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        if response.cut == "stall":
            self.server.stopping.wait(response.stall_s)
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    def _content_length(self) -> int | None:
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isdigit():
            return None
        return int(raw)

    def _discard_body(self) -> bool:
        """Read and drop an unread body so the connection can be reused; False if it can't."""
        length = self._content_length()
        if self.headers.get("Transfer-Encoding") or (
            self.headers.get("Content-Length") is not None and length is None
        ):
            return False
        if not length:
            return True
        if length > _DRAIN_LIMIT:
            return False
        self.rfile.read(length)
        return True

    def _handle(self, route: Any) -> None:
        try:
            response = route()
        except (TimeoutError, ConnectionError):
            self.close_connection = True
            return
        except Exception:
            log.exception("emulator: unexpected error on %s %s", self.command, self.path)
            response = Response(500, {"detail": "Internal emulator error."}, close=True)
        try:
            if not response.drop and not response.close and not self._body_consumed:
                response.close = not self._discard_body()
            self._send(response)
        except (TimeoutError, ConnectionError):
            self.close_connection = True

    def _token(self, query: dict[str, list[str]]) -> str | None:
        token = self.headers.get("X-Auth-Token") or (query.get("token") or [""])[0]
        return token or None

    def _auth(self, query: dict[str, list[str]]) -> Response | None:
        token = self._token(query)
        if token is None:
            return Response(401, NO_TOKEN)
        if not hmac.compare_digest(token.encode(), self.server.token.encode()):
            return Response(401, BAD_TOKEN)
        return None

    def _rate_limit(self) -> Response | None:
        wait = self.server.rate_limiter.acquire(self.server.token)
        if wait is None:
            return None
        seconds = retry_after_header(wait)
        unit = "second" if seconds == "1" else "seconds"
        return _detail(
            429,
            f"Request was throttled. Expected available in {seconds} {unit}.",
            **{"Retry-After": seconds},
        )

    # -- verbs -------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._body_consumed = False
        self._handle(self._route_get)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_POST(self) -> None:
        self._body_consumed = False
        self._handle(self._route_post)

    def do_PUT(self) -> None:
        self._body_consumed = False
        self._handle(self._not_allowed)

    do_DELETE = do_PATCH = do_PUT

    def _not_allowed(self) -> Response:
        path = urlsplit(self.path).path
        known = (
            path in ("/", "/_emulator/stats", "/_emulator/faults", "/_emulator/reset")
            or path.rstrip("/") in (BULK_PATH, DEVICES_PATH)
            or _VALUES_PATH.match(path)
        )
        if known:
            return _detail(405, f'Method "{self.command}" not allowed.')
        return _detail(404, "Not found.")

    def _route_get(self) -> Response:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path == "/":
            return Response(200, html=dashboard.render(self.server.store))
        if path == "/_emulator/stats":
            return self._auth(query) or Response(200, self._admin_stats())
        if path.rstrip("/") == BULK_PATH or path.startswith("/_emulator/"):
            return self._not_allowed()
        if not path.startswith("/api/"):
            return _detail(404, "Not found.")
        if self.server.faults.is_down():
            return Response(0, drop=True)
        self._latency()
        refused = self._auth(query) or self._rate_limit()
        if refused:
            return refused
        if path.rstrip("/") == DEVICES_PATH:
            return self._devices(query)
        match = _VALUES_PATH.match(path)
        if match:
            return self._values(unquote(match[1]), unquote(match[2]), query)
        return _detail(404, "Not found.")

    def _route_post(self) -> Response:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path.rstrip("/") == BULK_PATH:
            return self._bulk(query)
        if path in ("/_emulator/faults", "/_emulator/reset"):
            return self._auth(query) or self._admin(path)
        return self._not_allowed()

    # -- the bulk endpoint -------------------------------------------------------------

    def _latency(self) -> None:
        latency = self.server.faults.latency_s
        if latency:
            time.sleep(latency)

    def _bulk(self, query: dict[str, list[str]]) -> Response:
        store = self.server.store
        length = self._content_length()
        verdict, status = self.server.faults.on_post()
        if verdict is Verdict.REFUSE:
            store.count_request("refused", length)
            return Response(0, drop=True)
        self._latency()
        if verdict is Verdict.ERROR:
            response = _detail(status, f"Injected fault: {self.responses.get(status, ('',))[0]}.")
        else:
            response = self._bulk_checked(query, length)
        if not response.drop and not response.counted:
            store.count_request(str(response.status), length)
        return response

    def _bulk_checked(self, query: dict[str, list[str]], length: int | None) -> Response:
        refused = self._auth(query)
        if refused:
            return refused
        if self.server.faults.take_429():
            return _detail(
                429,
                "Request was throttled. Expected available in 1 second.",
                **{"Retry-After": "1"},
            )
        refused = self._rate_limit()
        if refused:
            return refused
        content_type = self.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            return _detail(415, f'Unsupported media type "{content_type}" in request.')
        if self.headers.get("Transfer-Encoding") or length is None:
            if self.headers.get("Content-Length") is not None:
                return Response(400, {"detail": "Invalid Content-Length header."}, close=True)
            return Response(411, {"detail": "Content-Length required."}, close=True)
        limit = self.server.max_body_bytes
        if length > limit:
            return _detail(413, f"Request body is {length} bytes, the limit is {limit} bytes.")
        raw = self.rfile.read(length)
        self._body_consumed = True
        if len(raw) < length:
            return Response(
                400, {"detail": "Request body shorter than Content-Length."}, close=True
            )
        try:
            dots = validate(parse_body(raw))
        except JSONParseError as exc:
            return _detail(400, exc.detail)
        except ValidationError as exc:
            return Response(
                400, {"code": 400001, "message": "Validation Error.", "detail": exc.detail}
            )
        return self._accept(dots, length)

    def _accept(self, dots: list[Any], length: int) -> Response:
        """Store an accepted body (unless its fault says not to) and reply as the fault says."""
        server = self.server
        fault = server.faults.take_reply_fault()
        task_id = secrets.token_hex(12)
        stores = fault.stores and (fault not in WRONG_2XX or server.faults.faults.wrong_2xx_stores)
        if stores:
            server.store.store_body(
                dots, task_id, length, fault.value, visibility_delay_s=server.visibility_delay_s
            )
        else:
            server.store.count_request(fault.value, length)
        response = _reply_for(fault, task_id, server.faults.faults.stall_s)
        response.counted = True
        return response

    # -- reads -------------------------------------------------------------------------

    def _page(self, query: dict[str, list[str]]) -> tuple[int, int] | Response:
        try:
            page = int((query.get("page") or ["1"])[0])
        except ValueError:
            page = 0
        try:
            size = int((query.get("page_size") or [str(DEFAULT_PAGE_SIZE)])[0])
        except ValueError:
            size = DEFAULT_PAGE_SIZE
        if size < 1:
            size = DEFAULT_PAGE_SIZE
        size = min(size, MAX_PAGE_SIZE)
        if page < 1:
            return _detail(404, "Invalid page.")
        return page, size

    def _page_url(self, query: dict[str, list[str]], page: int) -> str:
        host = self.headers.get("Host") or "{}:{}".format(*self.server.host_port)
        params = {k: v[0] for k, v in query.items()}
        params["page"] = str(page)
        return f"http://{host}{urlsplit(self.path).path}?{urlencode(params)}"

    def _paged(
        self, query: dict[str, list[str]], page: int, size: int, count: int, results: list[Any]
    ) -> Response:
        if page > 1 and not results:
            return _detail(404, "Invalid page.")
        has_next = page * size < count
        return Response(
            200,
            {
                "count": count,
                "next": self._page_url(query, page + 1) if has_next else None,
                "previous": self._page_url(query, page - 1) if page > 1 else None,
                "results": results,
            },
        )

    def _devices(self, query: dict[str, list[str]]) -> Response:
        paging = self._page(query)
        if isinstance(paging, Response):
            return paging
        page, size = paging
        count, rows = self.server.store.devices((page - 1) * size, size)
        results = [
            {
                "id": _device_id(label),
                "label": label,
                "name": label,
                "createdAt": created,
                "lastActivity": last,
            }
            for label, created, last in rows
        ]
        return self._paged(query, page, size, count, results)

    def _values(self, device: str, variable: str, query: dict[str, list[str]]) -> Response:
        paging = self._page(query)
        if isinstance(paging, Response):
            return paging
        page, size = paging
        span = _time_span(query)
        if isinstance(span, Response):
            return span
        store = self.server.store
        if not store.has_series(device, variable):
            return _detail(404, "Not found.")
        count, results = store.values(
            device, variable, (page - 1) * size, size, start_ms=span[0], end_ms=span[1]
        )
        return self._paged(query, page, size, count, results)

    # -- admin -------------------------------------------------------------------------

    def _admin_stats(self) -> dict[str, Any]:
        stats = self.server.store.stats()
        stats["faults"] = self.server.faults.faults.to_dict()
        stats["rate_limit"] = self.server.rate_limiter.rate
        stats["visibility_delay"] = self.server.visibility_delay_s
        return stats

    def _admin(self, path: str) -> Response:
        if path == "/_emulator/reset":
            reset_server(self.server)
            return Response(200, {"reset": True})
        length = self._content_length()
        if length is None or length > _ADMIN_BODY_LIMIT:
            return Response(400, {"detail": "Content-Length required, at most 64 KiB."}, close=True)
        raw = self.rfile.read(length)
        self._body_consumed = True
        try:
            data = parse_body(raw)
            if not isinstance(data, dict):
                raise ValueError("body must be a JSON object of fault fields")
            apply_admin(self.server, data)
        except JSONParseError as exc:
            return _detail(400, exc.detail)
        except (ValueError, TypeError) as exc:
            return _detail(400, str(exc))
        return Response(200, self._admin_stats())


def _reply_for(fault: ReplyFault, task_id: str, stall_s: float) -> Response:
    """The reply an accepted body gets under ``fault``."""
    if fault in (ReplyFault.DROP_AFTER_STORE, ReplyFault.DROP_BEFORE_STORE):
        return Response(0, drop=True)
    if fault is ReplyFault.HTML_200:
        return Response(200, html="<!doctype html><html><body><p>OK</p></body></html>")
    if fault is ReplyFault.EMPTY_JSON_200:
        return Response(200, {})
    if fault is ReplyFault.NO_CONTENT_204:
        return Response(204, no_body=True)
    if fault is ReplyFault.STALL_BODY:
        return Response(200, {"task_id": task_id}, cut="stall", stall_s=stall_s)
    if fault is ReplyFault.RESET_BODY:
        return Response(200, {"task_id": task_id}, cut="reset")
    return Response(200, {"task_id": task_id})


def _time_span(query: dict[str, list[str]]) -> tuple[int, int] | Response:
    """The ``start`` and ``end`` parameters (ms, both inclusive), or a 400 naming the bad one."""
    span = []
    for name, default in (("start", 0), ("end", MAX_TIMESTAMP_MS)):
        given = query.get(name)
        if not given:
            span.append(default)
            continue
        raw = given[0]
        if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_TIMESTAMP_MS:
            return _detail(400, f"{name} must be a timestamp in milliseconds, got {raw!r}.")
        span.append(int(raw))
    return span[0], span[1]


def check_visibility_delay(seconds: object) -> None:
    """A visibility delay is a number of seconds from 0 to 3600."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 <= seconds <= 3600
    ):
        raise ValueError(f"visibility_delay must be a number of seconds 0-3600, got {seconds!r}")


def _device_id(label: str) -> str:
    return hashlib.sha1(label.encode("utf-8")).hexdigest()[:24]


def apply_admin(server: EmulatorServer, data: dict[str, Any]) -> None:
    """Apply an admin body: Faults fields, plus ``fail_next``, ``drop_next``, ``inject_next``,
    ``rate_limit`` and ``visibility_delay``."""
    data = dict(data)
    fail_next = data.pop("fail_next", None)
    drop_next = data.pop("drop_next", None)
    inject_next = data.pop("inject_next", None)
    rate_limit = data.pop("rate_limit", None)
    visibility_delay = data.pop("visibility_delay", None)
    faults = Faults.from_dict(data) if data else None
    if visibility_delay is not None:
        check_visibility_delay(visibility_delay)
        server.visibility_delay_s = float(visibility_delay)
    if rate_limit is not None:
        if isinstance(rate_limit, bool) or not isinstance(rate_limit, int | float):
            raise ValueError("rate_limit must be a number")
        server.rate_limiter.set_rate(rate_limit)
    if faults is not None:
        server.faults.set(faults)
    if fail_next is not None:
        if not isinstance(fail_next, dict):
            raise ValueError('fail_next must be an object {"n": int, "status": int}')
        server.faults.fail_next(fail_next.get("n", 1), fail_next.get("status", 503))
    if drop_next is not None:
        server.faults.drop_next(drop_next)
    if inject_next is not None:
        _apply_inject_next(server, inject_next)


def _apply_inject_next(server: EmulatorServer, inject_next: object) -> None:
    """``{"kind": str, "n": int}`` or a list of them, queued in order."""
    items = inject_next if isinstance(inject_next, list) else [inject_next]
    for item in items:
        if not isinstance(item, dict) or set(item) - {"kind", "n"} or "kind" not in item:
            raise ValueError('inject_next must be {"kind": str, "n": int} or a list of them')
        server.faults.inject_next(item["kind"], item.get("n", 1))


def reset_server(server: EmulatorServer) -> None:
    """Clear dots, counters, faults and rate-limit history; restore the starting rate limit."""
    server.store.reset()
    server.faults.clear()
    server.rate_limiter.reset()
    server.rate_limiter.set_rate(server.initial_rate_limit)
    server.visibility_delay_s = server.initial_visibility_delay_s
