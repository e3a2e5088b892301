"""Bad input gets a documented error, never a crash or a hung connection."""

from __future__ import annotations

import json
import socket
import time

import pytest
import requests

from airflow_provider_bulkdots.emulator import start_emulator
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post


def _raw(emu: Emulator, data: bytes, timeout: float = 5.0) -> bytes:
    """Send raw bytes on a fresh connection; return all the server says before closing."""
    host, port = emu.server.host_port
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(data)
        chunks = []
        while True:
            try:
                chunk = conn.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def _still_serving(emu: Emulator) -> None:
    assert post(emu, EXAMPLE).status_code == 200


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\xfe garbage \x80\x81\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST\r\n\r\n",
        b"\r\n\r\n",
        bytes(range(256)) * 4,
        b"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
)
def test_garbage_bytes(bulkdots_emulator_clean: Emulator, garbage: bytes) -> None:
    reply = _raw(bulkdots_emulator_clean, garbage)
    assert b"Traceback" not in reply
    _still_serving(bulkdots_emulator_clean)


def test_unknown_method_is_json_501(bulkdots_emulator_clean: Emulator) -> None:
    reply = _raw(bulkdots_emulator_clean, b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 501")
    assert "detail" in json.loads(body)


def test_invalid_utf8_body(bulkdots_emulator_clean: Emulator) -> None:
    response = post(bulkdots_emulator_clean, raw=b'[{"device":"\xff\xfe\xc3"}]')
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - ")


def test_huge_header_is_431(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    response = post(emu, EXAMPLE, headers={"X-Big": "a" * 100_000})
    assert response.status_code == 431
    assert response.json()["detail"]
    many = {f"X-H{i}": "v" for i in range(150)}
    assert post(emu, EXAMPLE, headers=many).status_code == 431
    _still_serving(emu)


def test_huge_request_line_is_414(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    response = requests.get(emu.url + "/" + "a" * 70_000, timeout=10)
    assert response.status_code == 414
    _still_serving(emu)


@pytest.mark.parametrize("depth", [1_000, 10_000])
def test_deeply_nested_json_is_a_parse_error(depth: int) -> None:
    with start_emulator(rate_limit=0, max_body_bytes=100_000) as emu:
        response = post(emu, raw=b"[" * depth + b"]" * depth)
        assert response.status_code == 400
        assert response.json()["detail"].startswith("JSON parse error - ")
        deep_context = b'{"a":' * 500 + b"1" + b"}" * 500  # parses, then breaks the schema
        body = b'[{"device":"d","timestamp":1,"values":[{"t":{"value":1,"context":%s}}]}]'
        response = post(emu, raw=body % deep_context)
        assert response.status_code == 400
        assert response.json()["code"] == 400001
        _still_serving(emu)


@pytest.mark.parametrize("body", ["text", 12, None, {}, {"device": "d"}, [None], [[1]], [True]])
def test_wrong_types_are_400001(bulkdots_emulator_clean: Emulator, body: object) -> None:
    response = post(bulkdots_emulator_clean, body)
    assert response.status_code == 400
    assert response.json()["code"] == 400001


def test_empty_body_is_a_parse_error(bulkdots_emulator_clean: Emulator) -> None:
    response = post(bulkdots_emulator_clean, raw=b"")
    assert response.status_code == 400
    assert response.json()["detail"] == (
        "JSON parse error - Expecting value: line 1 column 1 (char 0)"
    )


def test_bad_content_length(bulkdots_emulator_clean: Emulator) -> None:
    token = bulkdots_emulator_clean.token.encode()
    reply = _raw(
        bulkdots_emulator_clean,
        b"POST /api/v1.6/devices/_/bulk/values HTTP/1.1\r\nHost: x\r\n"
        b"X-Auth-Token: " + token + b"\r\nContent-Type: application/json\r\n"
        b"Content-Length: -5\r\n\r\n[]",
    )
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"Content-Length" in reply


def test_slow_or_lying_clients_do_not_hang_the_server() -> None:
    with start_emulator(rate_limit=0, socket_timeout=0.5) as emu:
        host, port = emu.server.host_port
        idle = socket.create_connection((host, port), timeout=5)
        idle.sendall(b"POST /api/v1.6/devices/_/bulk/values HTTP/1.1\r\nHost: x\r\n")
        liar = socket.create_connection((host, port), timeout=5)
        liar.sendall(
            b"POST /api/v1.6/devices/_/bulk/values HTTP/1.1\r\nHost: x\r\n"
            b"X-Auth-Token: test-token\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n[{"
        )
        _still_serving(emu)  # others are served meanwhile
        started = time.monotonic()
        for conn in (idle, liar):
            with conn:
                assert conn.recv(1024) == b""  # closed by the server's socket timeout
        assert time.monotonic() - started < 4
        assert len(emu.dots()) == 6  # only the honest client's body


def test_clean_shutdown_with_open_connections() -> None:
    with start_emulator(rate_limit=0) as emu:
        session = requests.Session()
        assert post(emu, EXAMPLE, session=session).status_code == 200  # keep-alive stays open
        host, port = emu.server.host_port
        started = time.monotonic()
    assert time.monotonic() - started < 3
    with pytest.raises(OSError):
        socket.create_connection((host, port), timeout=1).close()
    session.close()
