"""The admin calls, behind the token: read the counts, change the faults, reset, change
stored dots on purpose (``POST /_emulator/dots``).

``POST /_emulator/faults`` takes a JSON object: any :class:`~.faults.Faults` field (the
whole set is replaced), plus ``fail_next`` (``{"n", "status"}``), ``drop_next`` (n),
``inject_next`` (``{"kind", "n"}`` or a list of them), ``rate_limit`` (requests/s) and
``visibility_delay`` (seconds). Everything is checked before anything changes.

A web page the developer visits must not be able to wipe or re-fault the emulator: the admin
calls take the token in the ``X-Auth-Token`` header only (never ``?token=``), and the POSTs a
JSON body with ``Content-Type: application/json`` (``reset`` takes ``{}`` or nothing). A
browser sends neither across origins without a CORS preflight, which the emulator never
grants (it answers no ``OPTIONS``).
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from airflow_provider_bulkdots.emulator.faults import Faults, ReplyFault
from airflow_provider_bulkdots.emulator.messages import Framing, Request, Response, detail
from airflow_provider_bulkdots.emulator.store import check_visibility_delay
from airflow_provider_bulkdots.emulator.validate import JSONParseError, parse_body

if TYPE_CHECKING:
    from airflow_provider_bulkdots.emulator.service import EmulatorService

ADMIN_BODY_LIMIT = 64 * 1024
_EXTRA_KEYS = ("fail_next", "drop_next", "inject_next", "rate_limit", "visibility_delay")
HEADER_ONLY = {
    "code": 401001,
    "message": "Admin calls take the token in the X-Auth-Token header only, never ?token=.",
}


def admin_refusal(api: EmulatorService, request: Request, body: bool = False) -> Response | None:
    """The reply that refuses an admin call (401: token not in the header or wrong; 415: a
    POST whose body is not declared JSON; 400: a body that is not a JSON object), or None."""
    if request.param("token") is not None or not request.header("X-Auth-Token"):
        return Response(401, HEADER_ONLY)
    refused = api.authenticate(request)
    if refused or not body:
        return refused
    media = request.header("Content-Type").split(";")[0].strip().lower()
    if media != "application/json":
        return detail(415, f"Admin calls take Content-Type application/json, not {media!r}.")
    if request.framing not in (Framing.READ, Framing.NOT_DECLARED):
        return Response(400, {"detail": "Content-Length required, at most 64 KiB."}, close=True)
    if len(request.body) > ADMIN_BODY_LIMIT:
        return Response(400, {"detail": "Content-Length required, at most 64 KiB."}, close=True)
    return None


def _json_object(request: Request, empty_ok: bool) -> dict[str, Any]:
    """The body as a JSON object (``{}`` for none, when ``empty_ok``); ValueError otherwise."""
    if empty_ok and not request.body.strip():
        return {}
    data = parse_body(request.body)
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def stats(api: EmulatorService) -> dict[str, Any]:
    """The store's counts, with the live faults, rate limit and visibility delay."""
    counts = api.store.stats()
    counts["faults"] = api.faults.faults.to_dict()
    counts["rate_limit"] = api.rate_limiter.rate
    counts["visibility_delay"] = api.visibility_delay_s
    return counts


def get_stats(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """``GET /_emulator/stats``."""
    return admin_refusal(api, request) or Response(200, stats(api))


def post_reset(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """``POST /_emulator/reset`` (body ``{}`` or none): see :meth:`.api.EmulatorAPI.reset`."""
    refused = admin_refusal(api, request, body=True)
    if refused:
        return refused
    try:
        if _json_object(request, empty_ok=True):
            raise ValueError("reset takes no fields: send {}")
    except JSONParseError as exc:
        return detail(400, exc.detail)
    except ValueError as exc:
        return detail(400, str(exc))
    api.reset()
    return Response(200, {"reset": True})


def post_faults(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """``POST /_emulator/faults``: apply the body, answer the new stats."""
    refused = admin_refusal(api, request, body=True)
    if refused:
        return refused
    try:
        apply_admin(api, _json_object(request, empty_ok=False))
    except JSONParseError as exc:
        return detail(400, exc.detail)
    except (ValueError, TypeError) as exc:
        return detail(400, str(exc))
    return Response(200, stats(api))


def post_dots(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """``POST /_emulator/dots``: change stored dots on purpose, as a faulty API would.

    ``{"drop": [[device, variable, ms], ...], "duplicate": [...], "alter": [[device,
    variable, ms, value], ...]}``; answers how many dots each changed.
    """
    refused = admin_refusal(api, request, body=True)
    if refused:
        return refused
    try:
        keys, changes = _dot_changes(_json_object(request, empty_ok=False))
    except JSONParseError as exc:
        return detail(400, exc.detail)
    except (ValueError, TypeError) as exc:
        return detail(400, str(exc))
    return Response(
        200,
        {
            "dropped": api.store.drop_dots(keys["drop"]),
            "duplicated": api.store.duplicate_dots(keys["duplicate"]),
            "altered": api.store.alter_dots(changes),
        },
    )


def _dot_changes(
    data: object,
) -> tuple[dict[str, list[tuple[str, str, int]]], list[tuple[str, str, int, float]]]:
    """The checked lists of a ``/_emulator/dots`` body (ValueError names the bad entry)."""
    if not isinstance(data, dict) or set(data) - {"drop", "duplicate", "alter"}:
        raise ValueError('body must be an object of "drop", "duplicate" and "alter" lists')
    keys: dict[str, list[tuple[str, str, int]]] = {}
    for name in ("drop", "duplicate"):
        keys[name] = [_dot_key(item, name) for item in data.get(name, [])]
    changes = []
    for item in data.get("alter", []):
        if not isinstance(item, list) or len(item) != 4 or not _is_number(item[3]):
            raise ValueError(f"alter entries are [device, variable, ms, value], got {item!r}")
        changes.append((*_dot_key(item[:3], "alter"), float(item[3])))
    return keys, changes


def _dot_key(item: object, name: str) -> tuple[str, str, int]:
    if (
        not isinstance(item, list)
        or len(item) != 3
        or not all(isinstance(part, str) for part in item[:2])
        or not _count(item[2])
    ):
        raise ValueError(f"{name} entries are [device, variable, ms], got {item!r}")
    return item[0], item[1], item[2]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def apply_admin(api: EmulatorService, data: dict[str, Any]) -> None:
    """Check every field of an admin body, then apply them all (ValueError names the bad one)."""
    fields = dict(data)
    extra = {key: fields.pop(key) for key in _EXTRA_KEYS if key in fields}
    faults = Faults.from_dict(fields) if fields else None
    fail = _fail_next(extra["fail_next"]) if "fail_next" in extra else None
    queued = _inject_next(extra)
    rate = _rate(extra["rate_limit"]) if "rate_limit" in extra else None
    delay = extra.get("visibility_delay")
    if delay is not None:
        delay = check_visibility_delay(delay)
    if rate is not None:
        api.rate_limiter.set_rate(rate)
    if delay is not None:
        api.set_visibility_delay(delay)
    if faults is not None:
        api.faults.set(faults)
    if fail is not None:
        api.faults.fail_next(*fail)
    for fault, n in queued:
        api.faults.inject_next(fault, n)


def _fail_next(value: object) -> tuple[int, int]:
    if not isinstance(value, dict) or set(value) - {"n", "status"}:
        raise ValueError('fail_next must be an object {"n": int, "status": int}')
    n, status = value.get("n", 1), value.get("status", 503)
    if not _count(n) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"fail_next needs n >= 0 and a 4xx/5xx status, got {n!r}, {status!r}")
    return n, status


def _inject_next(extra: dict[str, Any]) -> list[tuple[ReplyFault, int]]:
    """The reply faults to queue, ``drop_next`` first, then ``inject_next`` in order."""
    queued = []
    if "drop_next" in extra:
        if not _count(extra["drop_next"]):
            raise ValueError(f"drop_next must be an integer >= 0, got {extra['drop_next']!r}")
        queued.append((ReplyFault.DROP_AFTER_STORE, extra["drop_next"]))
    items = extra.get("inject_next", [])
    for item in items if isinstance(items, list) else [items]:
        if not isinstance(item, dict) or set(item) - {"kind", "n"} or "kind" not in item:
            raise ValueError('inject_next must be {"kind": str, "n": int} or a list of them')
        if not _count(item.get("n", 1)):
            raise ValueError(f"inject_next n must be an integer >= 0, got {item['n']!r}")
        queued.append((ReplyFault.named(item["kind"]), item.get("n", 1)))
    return queued


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _rate(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"rate_limit must be a finite number >= 0, got {value!r}")
    if value < 0:
        raise ValueError(f"rate_limit must be a finite number >= 0, got {value!r}")
    return float(value)
