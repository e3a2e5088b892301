"""The read API: the device list (the token check) and a variable's values, paged.

``GET /api/v1.6/devices/<device>/<variable>/values/?start=<ms>&end=<ms>&page_size=<n>&page=<k>``
answers ``{"count", "next", "previous", "results"}``, newest first; ``start`` and ``end`` are
inclusive. Only dots past the visibility delay exist for reads: a variable none of whose dots
is visible yet is 404, like one never written. Reads take the token and the rate limit.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from airflow_provider_bulkdots.emulator.messages import NOT_FOUND, Request, Response, detail
from airflow_provider_bulkdots.emulator.validate import MAX_TIMESTAMP_MS

if TYPE_CHECKING:
    from airflow_provider_bulkdots.emulator.service import EmulatorService

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
#: Pages beyond this are refused as a 400 (their offset would overflow the store's integers).
MAX_PAGE = 1_000_000_000


def _read(api: EmulatorService, request: Request, answer: Callable[[], Response]) -> Response:
    """Refuse a read (server down: closed; token: 401; rate: 429) or answer it; the injected
    latency delays either reply."""
    plan = api.faults.plan_read()
    if plan.down:
        return Response(0, drop=True)
    response = api.authenticate(request) or api.throttle() or answer()
    api.store.log_read(str(response.status))
    response.delay_s = plan.latency_s
    return response


def get_devices(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """``GET /api/v2.0/devices/``: the devices with a visible dot, oldest first."""
    return _read(api, request, lambda: _devices(api, request))


def get_values(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """``GET /api/v1.6/devices/<device>/<variable>/values/``: visible dots, newest first."""
    device, variable = unquote(match[1]), unquote(match[2])
    return _read(api, request, lambda: _values(api, request, device, variable))


def _devices(api: EmulatorService, request: Request) -> Response:
    paging = _page(request)
    if isinstance(paging, Response):
        return paging
    page, size = paging
    count, rows = api.store.devices((page - 1) * size, size)
    results = [
        {
            "id": hashlib.sha1(label.encode("utf-8")).hexdigest()[:24],
            "label": label,
            "name": label,
            "createdAt": created,
            "lastActivity": last,
        }
        for label, created, last in rows
    ]
    return _paged(request, page, size, count, results)


def _values(api: EmulatorService, request: Request, device: str, variable: str) -> Response:
    paging = _page(request)
    if isinstance(paging, Response):
        return paging
    span = _time_span(request)
    if isinstance(span, Response):
        return span
    if not api.store.has_series(device, variable):
        return detail(404, NOT_FOUND)
    page, size = paging
    count, results = api.store.values(
        device, variable, (page - 1) * size, size, start_ms=span[0], end_ms=span[1]
    )
    return _paged(request, page, size, count, results)


def _page(request: Request) -> tuple[int, int] | Response:
    """``page`` (1 to ``MAX_PAGE``, default 1) and ``page_size`` (from 1, default 50; above
    1000 served as 1000), or a 400 naming the bad one."""
    page = _whole(request.param("page"), 1, MAX_PAGE)
    if page is None:
        return detail(400, f"page must be a whole number from 1 to {MAX_PAGE}, got "
                           f"{request.param('page')!r}.")  # fmt: skip
    size = _whole(request.param("page_size"), DEFAULT_PAGE_SIZE, None)
    if size is None:
        return detail(400, f"page_size must be a whole number from 1 (at most {MAX_PAGE_SIZE} "
                           f"served), got {request.param('page_size')!r}.")  # fmt: skip
    return page, min(size, MAX_PAGE_SIZE)


def _whole(raw: str | None, default: int, highest: int | None) -> int | None:
    """``raw`` as a whole number from 1 (to ``highest``), ``default`` when absent, else None."""
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        return None
    value = int(raw)
    if value < 1 or (highest is not None and value > highest):
        return None
    return value


def _time_span(request: Request) -> tuple[int, int] | Response:
    """The ``start`` and ``end`` parameters (ms, both inclusive), or a 400 naming the bad one."""
    span = []
    for name, default in (("start", 0), ("end", MAX_TIMESTAMP_MS)):
        raw = request.param(name)
        if raw is None:
            span.append(default)
            continue
        if not raw.isascii() or not raw.isdigit() or int(raw) > MAX_TIMESTAMP_MS:
            return detail(400, f"{name} must be a timestamp in milliseconds, got {raw!r}.")
        span.append(int(raw))
    return span[0], span[1]


def _page_url(request: Request, page: int) -> str:
    params = {name: values[0] for name, values in request.query.items()}
    params["page"] = str(page)
    return f"http://{request.host}{request.path}?{urlencode(params)}"


def _paged(request: Request, page: int, size: int, count: int, results: list[Any]) -> Response:
    if page > 1 and not results:
        return detail(404, "Invalid page.")
    return Response(
        200,
        {
            "count": count,
            "next": _page_url(request, page + 1) if page * size < count else None,
            "previous": _page_url(request, page - 1) if page > 1 else None,
            "results": results,
        },
    )
