"""Reply faults on accepted bodies: lost replies, 2xx without task_id, cut bodies."""

from __future__ import annotations

import json
import socket

import pytest
import requests

from airflow_provider_bulkdots.emulator import Faults, ReplyFault, start_emulator
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post

BODY = json.dumps(EXAMPLE).encode()


def _request(emu: Emulator) -> bytes:
    """A raw bulk POST of ``EXAMPLE`` with the emulator's token."""
    return (
        b"POST /api/v1.6/devices/_/bulk/values HTTP/1.1\r\nHost: x\r\n"
        b"X-Auth-Token: %s\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (emu.token.encode(), len(BODY), BODY)
    )


def _head_and_body(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read until the end of the headers, and whatever body bytes came with them."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, f"closed before the headers ended: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise AssertionError(f"no Content-Length in {head!r}")


def test_drop_before_store_closes_without_reply_and_stores_nothing(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    emu.inject_next("drop_before_store")
    with pytest.raises(requests.ConnectionError):
        post(emu, EXAMPLE)
    assert emu.dots() == []
    assert post(emu, EXAMPLE).status_code == 200
    assert emu.stats()["requests"] == {"200": 1, "lost_before_store": 1}
    assert emu.stats()["duplicates"] == 0


def test_drop_request_rate(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(drop_request_rate=1.0))
    for _ in range(3):
        with pytest.raises(requests.ConnectionError):
            post(emu, EXAMPLE)
    assert emu.stats()["requests"] == {"lost_before_store": 3}
    assert emu.dots() == []


@pytest.mark.parametrize(
    ("kind", "status", "content_type", "text", "stored"),
    [
        ("html_200", 200, "text/html; charset=utf-8", "<!doctype html>", 6),
        ("empty_json_200", 200, "application/json", "{}", 6),
        ("no_content_204", 204, None, "", 0),  # Ubidots: "the request is not saved"
    ],
)
def test_wrong_2xx_has_no_task_id(
    bulkdots_emulator_clean: Emulator,
    kind: str,
    status: int,
    content_type: str | None,
    text: str,
    stored: int,
) -> None:
    emu = bulkdots_emulator_clean
    emu.inject_next(kind)
    with requests.Session() as session:
        response = post(emu, EXAMPLE, session=session)
        assert response.status_code == status
        assert response.headers.get("Content-Type") == content_type
        assert response.text.startswith(text)
        assert "task_id" not in response.text
        assert len(emu.dots()) == stored  # stored: the client cannot tell (but for a 204)
        assert "task_id" in post(emu, EXAMPLE, session=session).json()  # connection reusable
    assert emu.stats()["requests"] == {"200": 1, kind: 1}


def test_wrong_2xx_unstored_and_by_rate_with_seed(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    faults = Faults(wrong_2xx_rate=0.5, wrong_2xx_stores=False, seed=3)
    emu.set_faults(faults)
    first = [post(emu, EXAMPLE) for _ in range(30)]
    emu.set_faults(faults)
    second = [post(emu, EXAMPLE) for _ in range(30)]
    outcomes = [(r.status_code, r.text[:4]) for r in first]
    assert outcomes == [(r.status_code, r.text[:4]) for r in second]  # the seed repeats
    acknowledged = [r for r in first + second if "task_id" in r.text]
    assert 0 < len(acknowledged) < 60
    assert {r.status_code for r in first} == {200, 204}
    assert len(emu.dots()) == 6 * len(acknowledged)  # wrong replies stored nothing
    assert emu.stats()["duplicates"] == 6 * (len(acknowledged) - 1)


def _stalled(emu: Emulator) -> tuple[bytes, bytes, socket.socket]:
    conn = socket.create_connection(emu.server.host_port, timeout=5)
    conn.sendall(_request(emu))
    head, body = _head_and_body(conn)
    return head, body, conn


def test_stall_body_sends_a_200_status_line_then_stalls() -> None:
    with start_emulator(rate_limit=0, faults=Faults(stall_s=0.4)) as emu:
        emu.inject_next("stall_body", 2)
        head, body, conn = _stalled(emu)
        with conn:
            assert head.startswith(b"HTTP/1.1 200 ")
            while len(body) < _content_length(head) // 2:
                body += conn.recv(65536)
            assert body.startswith(b'{"task_id": "')
            rest = conn.recv(65536)  # waits out the stall, then the server closes
        assert rest == b""
        assert len(body) < _content_length(head)
        with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
            post(emu, EXAMPLE)  # requests sees an incomplete body
        assert len(emu.dots()) == 12  # both stored
        assert emu.stats()["requests"] == {"stall_body": 2}


def test_stall_ends_when_the_emulator_closes() -> None:
    emu = start_emulator(rate_limit=0, faults=Faults(stall_body_rate=1.0, stall_s=600))
    head, _, conn = _stalled(emu)
    assert head.startswith(b"HTTP/1.1 200 ")
    emu.close()
    with conn:  # half a body at most, then closed (a stall would time out this recv loop)
        received = [conn.recv(65536)]
        while received[-1]:
            received.append(conn.recv(65536))
    assert len(b"".join(received)) < _content_length(head)


def test_reset_body_sends_a_200_status_line_then_resets(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    emu.inject_next("reset_body")
    conn = socket.create_connection(emu.server.host_port, timeout=5)
    conn.sendall(_request(emu))
    data = b""
    with conn, pytest.raises(ConnectionResetError):
        while True:
            chunk = conn.recv(65536)
            assert chunk, "closed with FIN, not reset"
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    emu.set_faults(Faults(reset_body_rate=1.0))
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="reset by peer"):
        post(emu, EXAMPLE)
    assert len(emu.dots()) == 12
    assert emu.stats()["requests"] == {"reset_body": 2}


def test_inject_next_is_fifo_over_accepted_bodies_only(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.inject_next("none", 1)
    emu.inject_next(ReplyFault.EMPTY_JSON_200)
    emu.inject_next("no_content_204")
    assert post(emu, raw=b"[").status_code == 400  # refused bodies take no planned fault
    assert post(emu, EXAMPLE, token="bad").status_code == 401
    codes = [post(emu, EXAMPLE) for _ in range(4)]
    assert [(r.status_code, r.text[:3]) for r in codes] == [
        (200, '{"t'),
        (200, "{}"),
        (204, ""),
        (200, '{"t'),
    ]


def test_reply_fault_rates_are_checked() -> None:
    with pytest.raises(ValueError, match="sum over 1"):
        Faults(drop_response_rate=0.6, stall_body_rate=0.6)
    with pytest.raises(ValueError, match="wrong_2xx_kinds"):
        Faults(wrong_2xx_kinds=("html_500",))
    with pytest.raises(ValueError, match="unknown reply fault"):
        ReplyFault.named("explode")
    faults = Faults(wrong_2xx_rate=0.1, wrong_2xx_kinds=["html_200"])  # type: ignore[arg-type]
    assert Faults.from_dict(faults.to_dict()) == faults


def test_admin_inject_next_and_new_rates(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    headers = {"X-Auth-Token": emu.token}
    url = emu.url + "/_emulator/faults"
    plan = {"inject_next": [{"kind": "html_200"}, {"kind": "drop_before_store", "n": 1}]}
    assert requests.post(url, json=plan, headers=headers, timeout=10).ok
    assert post(emu, EXAMPLE).headers["Content-Type"].startswith("text/html")
    with pytest.raises(requests.ConnectionError):
        post(emu, EXAMPLE)
    bad = requests.post(url, json={"inject_next": {"kind": "x"}}, headers=headers, timeout=10)
    assert bad.status_code == 400
    assert "unknown reply fault" in bad.json()["detail"]
    rates = {"drop_request_rate": 0.2, "reset_body_rate": 0.1, "wrong_2xx_stores": False}
    reply = requests.post(url, json=rates, headers=headers, timeout=10).json()
    assert reply["faults"]["drop_request_rate"] == 0.2
    assert reply["faults"]["wrong_2xx_stores"] is False
