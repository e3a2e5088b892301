"""``POST /api/v1.6/devices/_/bulk/values``: the checks in the endpoint's order, then faults.

Order: the server is down (closed unanswered) or an injected 5xx, then auth (401), the plan's
quota (420, ``quota_after``), a 429 burst, the rate limit (429), content type (415), framing
(411/400), size (413, by Content-Length), JSON (400), schema (400001), a disabled device (423)
and a dot "not saved" (204, no body). An accepted body is stored and answered in
one step, as its reply fault says (see :class:`~.faults.ReplyFault`). Every bulk request is
counted in the store by its outcome.
"""

from __future__ import annotations

import re
import secrets
from http import HTTPStatus
from typing import TYPE_CHECKING

from airflow_provider_bulkdots.emulator.faults import FaultPlan, ReplyFault
from airflow_provider_bulkdots.emulator.messages import Framing, Request, Response, detail
from airflow_provider_bulkdots.emulator.validate import (
    Dot,
    JSONParseError,
    SchemaError,
    parse_body,
    validate,
)

if TYPE_CHECKING:
    from airflow_provider_bulkdots.emulator.service import EmulatorService

HTML_OK = "<!doctype html><html><body><p>OK</p></body></html>"


def post_bulk(api: EmulatorService, request: Request, match: re.Match[str]) -> Response:
    """Answer one bulk POST, store what it accepts, and count it."""
    plan = api.faults.plan_post()
    if plan.down:
        api.store.count_request("refused", request.content_length)
        return Response(0, drop=True)
    checked = _refusal(api, request, plan) or _dots(api, request)
    if isinstance(checked, Response):
        api.store.count_request(str(checked.status), request.content_length)
        response = checked
    else:
        response = _accept(api, checked, request.content_length or 0, plan)
    response.delay_s = plan.latency_s
    return response


def _refusal(api: EmulatorService, request: Request, plan: FaultPlan) -> Response | None:
    """The reply refusing the request before its body is parsed, or None."""
    if plan.error_status is not None:
        phrase = _phrase(plan.error_status)
        return detail(plan.error_status, f"Injected fault: {phrase}.")
    refused = api.authenticate(request)
    if refused:
        return refused
    if plan.over_quota:
        seconds = plan.faults.quota_retry_after
        headers = {"Retry-After": str(seconds)} if seconds else {}
        return detail(
            420,
            "You have exceeded your API limits -- To upgrade your API limit, contact the "
            "Ubidots team",
            **headers,
        )
    if plan.throttled():
        seconds = plan.faults.burst_retry_after
        unit = "second" if seconds == 1 else "seconds"
        return detail(
            429,
            f"Request was throttled. Expected available in {seconds} {unit}.",
            **{"Retry-After": str(seconds)},
        )
    refused = api.throttle()
    if refused:
        return refused
    content_type = request.header("Content-Type")
    if content_type.split(";")[0].strip().lower() != "application/json":
        return detail(415, f'Unsupported media type "{content_type}" in request.')
    return _framing_refusal(api, request)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _framing_refusal(api: EmulatorService, request: Request) -> Response | None:
    framing = request.framing
    if framing in (Framing.NOT_DECLARED, Framing.CHUNKED):
        return Response(411, {"detail": "Content-Length required."}, close=True)
    if framing is Framing.INVALID:
        return Response(400, {"detail": "Invalid Content-Length header."}, close=True)
    limit = api.max_body_bytes
    length = request.content_length or 0
    if framing is Framing.TOO_LARGE or length > limit:
        return detail(413, f"Request body is {length} bytes, the limit is {limit} bytes.")
    if framing is Framing.SHORT:
        return Response(400, {"detail": "Request body shorter than Content-Length."}, close=True)
    return None


def _dots(api: EmulatorService, request: Request) -> list[Dot] | Response:
    """The body's dots, or the 400 refusing it."""
    try:
        dots = validate(parse_body(request.body))
    except JSONParseError as exc:
        return detail(400, exc.detail)
    except SchemaError as exc:
        return Response(400, {"code": 400001, "message": "Validation Error.", "detail": exc.detail})
    refused = api.faults.faults.refusal_of([(d.device, d.variable, d.timestamp) for d in dots])
    if refused is None:
        return dots
    status, device = refused
    if status == 423:
        return detail(423, f"The device {device} is disabled.")
    return Response(204, no_body=True)


def _accept(api: EmulatorService, dots: list[Dot], length: int, plan: FaultPlan) -> Response:
    """Store an accepted body (unless its reply fault says not to) and reply as it says."""
    fault = plan.reply()
    task_id = secrets.token_hex(12)
    if plan.stores(fault):
        api.store.store_body(
            dots, task_id, length, fault.value, visibility_delay_s=api.visibility_delay_s
        )
    else:
        api.store.count_request(fault.value, length)
    return _reply(fault, task_id, plan.faults.stall_s)


def _reply(fault: ReplyFault, task_id: str, stall_s: float) -> Response:
    """The reply an accepted body gets under ``fault``."""
    if fault in (ReplyFault.DROP_AFTER_STORE, ReplyFault.DROP_BEFORE_STORE):
        return Response(0, drop=True)
    if fault is ReplyFault.HTML_200:
        return Response(200, html=HTML_OK)
    if fault is ReplyFault.EMPTY_JSON_200:
        return Response(200, {})
    if fault is ReplyFault.NO_CONTENT_204:
        return Response(204, no_body=True)
    if fault is ReplyFault.STALL_BODY:
        return Response(200, {"task_id": task_id}, cut="stall", stall_s=stall_s)
    if fault is ReplyFault.RESET_BODY:
        return Response(200, {"task_id": task_id}, cut="reset")
    return Response(200, {"task_id": task_id})
