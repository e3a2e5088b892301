"""The Sender without Airflow: the token's place, whole-request timeouts, redirects, limits.

Against the emulator over loopback, and a raw loopback server for the replies the emulator
does not give on purpose (a trickled reply, a redirect).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
import pytest

from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.http.transport import make_session
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer
from airflow_provider_bulkdots.delivery.settings import resolve_settings
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.exceptions import (
    BulkDotsApiError,
    BulkDotsDeliveryError,
    ConfigurationError,
)
from tests.conftest import EMULATOR_TOKEN as TOKEN
from tests.delivery.raw_server import http_reply, raw_server

ACK = http_reply(
    "200 OK", b'{"task_id": "6178a1d0fdaf23a095b8e50b"}', Content_Type="application/json"
)


def body(seq: int = 0, dots: int = 4) -> Body:
    values = [{"v": float(i), "timestamp": 1_700_000_000_000 + i} for i in range(dots)]
    record = {"device": f"dev-{seq}", "timestamp": 1_700_000_000_000, "values": values}
    return Body(seq=seq, payload=msgspec.json.encode([record]), dot_count=dots)


def sender(url: str, token: str = TOKEN, **extras: Any) -> Sender:
    settings = resolve_settings(url, None, {"rate_limit": 0, **extras})
    auth = TokenAuth(token, in_query=settings.auth_in_query)
    return Sender(make_session(settings.max_in_flight), auth, settings, sleep=lambda s: None)


# -- the token's place ----------------------------------------------------------------


def test_the_token_goes_in_the_header_by_default() -> None:
    with raw_server(ACK) as server:
        assert sender(server.url).send_bodies([body()]) == ["6178a1d0fdaf23a095b8e50b"]
    (request,) = server.requests
    request_line, headers = request.split(b"\r\n", 1)
    assert TOKEN.encode() not in request_line
    assert f"X-Auth-Token: {TOKEN}".encode() in headers


def test_auth_in_query_puts_the_token_in_the_url_only(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="urllib3"), raw_server(ACK) as server:
        sender(server.url, auth_in_query=True).send_bodies([body()])
    (request,) = server.requests
    request_line, headers = request.split(b"\r\n", 1)
    assert f"?token={TOKEN}".encode() in request_line
    assert b"x-auth-token" not in headers.lower()
    assert TOKEN.encode() not in headers
    urllib3_lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("token=***" in line for line in urllib3_lines), urllib3_lines
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("token", "spellings"),
    [
        ("BBFF-a b", ["BBFF-a b", "BBFF-a+b", "BBFF-a%20b"]),
        ("BBFF-a+b/c", ["BBFF-a%2Bb%2Fc", "BBFF-a%2bb%2fc", "BBFF-a+b/c", "BBFF-a%2Bb/c"]),
        ("BBFF-\u00e9", ["BBFF-%C3%A9", "BBFF-%c3%a9", "BBFF-%E9", "BBFF-\u00e9"]),
    ],
)
def test_redaction_matches_every_url_spelling(token: str, spellings: list[str]) -> None:
    auth = TokenAuth(token, in_query=True)
    for spelling in spellings:
        assert auth.redact(f"GET /x?token={spelling}&a=1") == "GET /x?token=***&a=1", spelling
    assert auth.redact("BBFF-other") == "BBFF-other"


def test_a_spaced_query_token_stays_out_of_urllib3_logs(caplog: pytest.LogCaptureFixture) -> None:
    token = "BBFF-with a space"
    with caplog.at_level(logging.DEBUG, logger="urllib3"), raw_server(ACK) as server:
        sender(server.url, token=token, auth_in_query=True).send_bodies([body()])
    (request,) = server.requests
    assert b"?token=BBFF-with+a+space" in request.split(b"\r\n", 1)[0]
    assert "token=***" in caplog.text
    assert "with+a+space" not in caplog.text and token not in caplog.text


@pytest.mark.parametrize("token", ["BBFF-abc\nX-Other: 1", "BBFF-a\rbc", "BBFF-ab€c", "BBFF-\0"])
def test_a_token_that_cannot_be_a_header_is_refused_unshown(token: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        TokenAuth(token)
    assert caught.value.setting == "token"
    assert "BBFF" not in str(caught.value)


# -- hard limits ------------------------------------------------------------------------


@pytest.mark.parametrize("fast_prefix", [0, len(ACK) - 10], ids=["headers", "body"])
def test_timeout_bounds_the_whole_request(fast_prefix: int) -> None:
    """A reply trickled one byte at a time ends at ``timeout``, not at its last byte."""
    with raw_server(ACK, byte_interval=0.2, fast_prefix=fast_prefix) as server:
        started = time.monotonic()
        summary = sender(server.url, timeout=0.6, max_retries=0, resend_lost_replies=False).deliver(
            [body()]
        )
        took = time.monotonic() - started
    assert took < 0.6 + 0.5, f"took {took:.2f} s; the trickle alone lasts {0.2 * len(ACK):.0f} s"
    assert summary.lost_reply_bodies == 1, "the request may have been stored: unknown"
    assert summary.statuses == {"lost_reply": 1}


def test_timeout_bounds_a_whole_read_too() -> None:
    """The read-back's GETs share the same deadline: a trickled page is cut off at timeout."""
    page = http_reply("200 OK", b'{"count": 0, "next": null, "results": []}')
    with raw_server(page, byte_interval=0.2) as server:
        settings = resolve_settings(server.url, None, {"timeout": 0.6, "max_retries": 0})
        reader = SeriesReader(
            make_session(1), TokenAuth(TOKEN), settings, TokenPacer(0), sleep=lambda s: None
        )
        started = time.monotonic()
        with pytest.raises(BulkDotsDeliveryError):
            reader.timestamps("dev-0", "v", 0, 1)
        took = time.monotonic() - started
    assert took < 0.6 + 0.5, f"took {took:.2f} s; the trickle alone lasts {0.2 * len(page):.0f} s"


def test_a_redirect_is_not_followed_and_says_where() -> None:
    elsewhere = f"https://elsewhere.example/bulk?token={TOKEN}"
    redirect = http_reply("301 Moved Permanently", Location=elsewhere)
    with raw_server(redirect) as server, pytest.raises(BulkDotsApiError) as caught:
        sender(server.url).send_bodies([body()])
    assert len(server.requests) == 1
    assert caught.value.status == 301
    assert caught.value.location == "https://elsewhere.example/bulk?token=***"
    assert "redirect to https://elsewhere.example/bulk" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_a_429_that_exhausts_the_retries_carries_the_wait_asked(emu: Emulator) -> None:
    emu.set_faults(Faults(burst_429=5))
    with pytest.raises(BulkDotsDeliveryError) as caught:
        sender(emu.url, max_retries=1).send_bodies([body()])
    assert (caught.value.status, caught.value.attempts) == (429, 2)
    assert caught.value.retry_after == 1.0
    assert caught.value.summary is not None and caught.value.summary.throttled == 2


# -- the window -------------------------------------------------------------------------


def test_an_error_stops_new_bodies_and_reports_those_in_flight(emu: Emulator) -> None:
    reported: list[int] = []
    emu.fail_next(1, 402)
    with pytest.raises(BulkDotsApiError) as caught:
        sender(emu.url, max_in_flight=2).deliver(
            (body(seq) for seq in range(50)), lambda b, result: reported.append(b.seq)
        )
    stored = {dot["device"] for dot in emu.dots()}
    assert stored == {f"dev-{seq}" for seq in reported}, "every stored body was reported"
    assert len(reported) < 10, "no new body started after the error"
    assert caught.value.summary is not None
    assert caught.value.summary.bodies == len(reported)
