"""The emulated API as a pure function of a request: ``EmulatorAPI.handle(request) -> Response``.

No sockets here (the HTTP side is :mod:`.transport`): a route table maps a path and a method
to a handler, giving 404 for an unknown path and 405 for a known path with another method.
The state is the store, the rate limiter, the faults and the visibility delay.

Routes: ``GET /`` (the dashboard) and ``GET /dashboard/revision`` (what it polls),
``POST /api/v1.6/devices/_/bulk/values`` (:mod:`.bulk`),
``GET /api/v2.0/devices/`` and ``GET /api/v1.6/devices/<device>/<variable>/values/``
(:mod:`.reads`), ``POST /api/v2.0/devices/<device>/<variable>/values/delete/``
(:mod:`.deletes`), and the admin calls ``GET /_emulator/stats``, ``POST /_emulator/faults``,
``POST /_emulator/reset``, ``POST /_emulator/dots`` (:mod:`.admin`), all but the dashboard
behind the token. The dashboard, without one, answers only a ``Host`` that is an IP address or
``localhost`` (no DNS rebinding).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from airflow_provider_bulkdots.emulator import admin, bulk, dashboard, deletes, reads
from airflow_provider_bulkdots.emulator.faults import FaultInjector
from airflow_provider_bulkdots.emulator.messages import NOT_FOUND, Request, Response, detail
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter, retry_after_header
from airflow_provider_bulkdots.emulator.store import Store, check_visibility_delay

log = logging.getLogger(__name__)

BULK_PATH = "/api/v1.6/devices/_/bulk/values"

NO_TOKEN = {"code": 401001, "message": "Authentication credentials were not provided."}
BAD_TOKEN = {"code": 401002, "message": "Incorrect authentication credentials."}

Handler = Callable[["EmulatorAPI", Request, "re.Match[str]"], Response]


def _named_by_address(request: Request) -> bool:
    """Whether the ``Host`` header names the emulator by an IP address or ``localhost``.

    The dashboard has no token: a web page that rebinds its own DNS name to 127.0.0.1 could
    read it from the developer's browser (DNS rebinding). Such a request carries the page's
    name in ``Host``; an address or ``localhost`` cannot be rebound.
    """
    name = urlsplit("//" + request.header("Host")).hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _refused_name(request: Request) -> Response:
    return detail(
        403,
        f"The dashboard answers to an IP address or localhost only, not to "
        f"{request.header('Host')!r} (a guard against DNS rebinding): open it as "
        "http://127.0.0.1:<port>/.",
    )


def _dashboard(api: EmulatorAPI, request: Request, match: re.Match[str]) -> Response:
    if not _named_by_address(request):
        return _refused_name(request)
    return Response(200, html=dashboard.render(api.store, api.rate_limiter.rate))


def _dashboard_revision(api: EmulatorAPI, request: Request, match: re.Match[str]) -> Response:
    if not _named_by_address(request):
        return _refused_name(request)
    return Response(200, {"revision": api.store.revision()})


ROUTES: tuple[tuple[re.Pattern[str], dict[str, Handler]], ...] = (
    (re.compile(r"/"), {"GET": _dashboard}),
    (re.compile(r"/dashboard/revision"), {"GET": _dashboard_revision}),
    (re.compile(r"/_emulator/stats"), {"GET": admin.get_stats}),
    (re.compile(r"/_emulator/faults"), {"POST": admin.post_faults}),
    (re.compile(r"/_emulator/reset"), {"POST": admin.post_reset}),
    (re.compile(r"/_emulator/dots"), {"POST": admin.post_dots}),
    (re.compile(re.escape(BULK_PATH) + "/?"), {"POST": bulk.post_bulk}),
    (re.compile(r"/api/v2\.0/devices/?"), {"GET": reads.get_devices}),
    (re.compile(r"/api/v1\.6/devices/([^/]+)/([^/]+)/values/?"), {"GET": reads.get_values}),
    (re.compile(deletes.DELETE_PATTERN), {"POST": deletes.post_delete}),
)


class EmulatorAPI:
    """The endpoint's behaviour and state, independent of HTTP."""

    def __init__(
        self,
        *,
        token: str,
        store: Store,
        rate_limiter: EmulatorRateLimiter,
        faults: FaultInjector,
        max_body_bytes: int = 10_000,
        visibility_delay_s: float = 0.0,
    ) -> None:
        if not token:
            raise ValueError("token must not be empty")
        self.token = token
        self.store = store
        self.rate_limiter = rate_limiter
        self.faults = faults
        self.max_body_bytes = max_body_bytes
        self.visibility_delay_s = check_visibility_delay(visibility_delay_s)
        self._initial_rate = rate_limiter.rate
        self._initial_visibility_delay_s = self.visibility_delay_s
        self.deletions = deletes.PendingDeletions()

    def handle(self, request: Request) -> Response:
        """The reply to one request; an unexpected error is a 500, never an escape."""
        method = "GET" if request.method == "HEAD" else request.method
        self.deletions.apply_due(self.store)  # asynchronous deletes take effect once due
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            handler = methods.get(method)
            if handler is None:
                allowed = ", ".join(sorted({*methods, "HEAD"} if "GET" in methods else methods))
                return detail(405, f'Method "{request.method}" not allowed.', Allow=allowed)
            try:
                return handler(self, request, match)
            except Exception:
                log.exception("emulator: unexpected error on %s %s", method, request.path)
                return Response(500, {"detail": "Internal emulator error."}, close=True)
        return detail(404, NOT_FOUND)

    def authenticate(self, request: Request) -> Response | None:
        """None for the right token (header, else ``?token=``), else the 401 to answer."""
        token = request.header("X-Auth-Token") or request.param("token") or ""
        if not token:
            return Response(401, NO_TOKEN)
        if not hmac.compare_digest(token.encode(), self.token.encode()):
            return Response(401, BAD_TOKEN)
        return None

    def throttle(self) -> Response | None:
        """None if the token is within its rate (the request counts), else the 429."""
        wait = self.rate_limiter.acquire(self.token)
        if wait is None:
            return None
        seconds = retry_after_header(wait)
        unit = "second" if seconds == "1" else "seconds"
        return detail(
            429,
            f"Request was throttled. Expected available in {seconds} {unit}.",
            **{"Retry-After": seconds},
        )

    def set_visibility_delay(self, seconds: float) -> None:
        """Dots stored from now on show in reads this many seconds after their write."""
        self.visibility_delay_s = check_visibility_delay(seconds)

    def reset(self) -> None:
        """Clear dots, counters, faults and rate-limit history; restore the starting rate
        limit and visibility delay."""
        self.store.reset()
        self.deletions.clear()
        self.faults.clear()
        self.rate_limiter.reset()
        self.rate_limiter.set_rate(self._initial_rate)
        self.visibility_delay_s = self._initial_visibility_delay_s
