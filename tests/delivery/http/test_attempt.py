"""What one reply means: interpret_reply() is the one place a reply becomes an outcome."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_bulkdots.delivery.http.attempt import (
    Acknowledged,
    LostReply,
    Refused,
    Retryable,
    interpret_reply,
    network_outcome,
)
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.exceptions import (
    AuthenticationError,
    BulkDotsApiError,
    PaymentRequiredError,
)

TOKEN = "BBFF-attempt-5d1c0e"
AUTH = TokenAuth(TOKEN)


def reply(status: int, body: bytes = b"", **headers: str) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    response.reason = "Reason"
    return response


def test_a_2xx_with_a_task_id_is_acknowledged() -> None:
    assert interpret_reply(reply(200, b'{"task_id": "abc"}'), AUTH) == Acknowledged(200, "abc")


@pytest.mark.parametrize("status", [400, 413])
def test_400_and_413_refuse_the_payload_as_it_is(status: int) -> None:
    outcome = interpret_reply(
        reply(status, b'{"code": 400001, "message": "Validation Error."}'), AUTH
    )
    assert isinstance(outcome, Refused) and outcome.status == status
    assert outcome.data["code"] == 400001


def test_a_429_is_retryable_with_its_wait() -> None:
    outcome = interpret_reply(reply(429, b'{"message": "slow down"}', Retry_After="3"), AUTH)
    assert outcome == Retryable(429, "HTTP 429: slow down", retry_after=3.0, limited=True)


def test_a_503_is_retryable_and_a_501_is_not() -> None:
    assert isinstance(interpret_reply(reply(503), AUTH), Retryable)
    with pytest.raises(BulkDotsApiError) as caught:
        interpret_reply(reply(501), AUTH)
    assert caught.value.status == 501


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthenticationError), (402, PaymentRequiredError)]
)
def test_other_errors_raise_typed(status: int, error: type[BulkDotsApiError]) -> None:
    with pytest.raises(error):
        interpret_reply(reply(status, b'{"code": 1, "message": "no"}'), AUTH, body_id="000001-x")


def test_a_redirect_raises_with_its_location_and_no_token() -> None:
    with pytest.raises(BulkDotsApiError) as caught:
        interpret_reply(reply(307, Location=f"https://other.example/?token={TOKEN}"), AUTH)
    assert caught.value.location == "https://other.example/?token=***"


def test_network_errors_split_into_not_sent_and_maybe_stored() -> None:
    refused = requests.ConnectTimeout(f"connect to ?token={TOKEN} timed out")
    assert isinstance(network_outcome(refused, AUTH), Retryable)
    lost = network_outcome(requests.ReadTimeout(f"read ?token={TOKEN}"), AUTH)
    assert isinstance(lost, LostReply)
    assert TOKEN not in lost.reason and "token=***" in lost.reason
