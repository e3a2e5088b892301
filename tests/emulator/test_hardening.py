"""The emulator as a developer's tool under attack (issue 19, "Secrets and the emulator").

A web page the developer visits must not wipe or re-fault it, its log never shows the token,
reads refuse paging they cannot serve, and connections are capped.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import closing

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from airflow_provider_bulkdots.emulator.testing import Emulator, start_emulator
from tests.emulator.conftest import EXAMPLE, post

EVIL = "http://evil.example"


@pytest.fixture
def emu(bulkdots_emulator_clean: Emulator) -> Emulator:
    """The session emulator holding the example's dots."""
    assert post(bulkdots_emulator_clean, EXAMPLE).status_code == 200
    return bulkdots_emulator_clean


# -- admin calls: JSON, the token in the header only ----------------------------------------


def test_a_cross_origin_form_post_cannot_reset_or_fault(emu: Emulator) -> None:
    """What a web page can send without a preflight: text/plain, the token in the URL."""
    before = emu.stats()["dots"]
    for path in ("/_emulator/reset", "/_emulator/faults"):
        reply = requests.post(
            f"{emu.url}{path}?token={emu.token}",
            data=b'{"down_after": 0}',
            headers={"Content-Type": "text/plain", "Origin": EVIL},
            timeout=10,
        )
        assert reply.status_code == 401, reply.text
        assert "X-Auth-Token header only" in reply.json()["message"]
    assert emu.stats()["dots"] == before
    assert emu.api.faults.faults.down_after is None


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_an_admin_post_must_be_declared_json(emu: Emulator, content_type: str) -> None:
    before = emu.stats()["dots"]
    reply = requests.post(
        emu.url + "/_emulator/reset",
        data=b"{}",
        headers={"X-Auth-Token": emu.token, "Content-Type": content_type},
        timeout=10,
    )
    assert reply.status_code == 415
    assert "application/json" in reply.json()["detail"]
    assert emu.stats()["dots"] == before


def test_stats_take_the_token_in_the_header_only(emu: Emulator) -> None:
    assert (
        requests.get(f"{emu.url}/_emulator/stats?token={emu.token}", timeout=10).status_code == 401
    )
    ok = requests.get(emu.url + "/_emulator/stats", headers={"X-Auth-Token": emu.token}, timeout=10)
    assert ok.status_code == 200 and ok.json()["dots"] == 6


def test_no_cors_preflight_is_granted(emu: Emulator) -> None:
    reply = requests.options(
        emu.url + "/_emulator/reset",
        headers={"Origin": EVIL, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )
    assert reply.status_code in (405, 501)  # http.server knows no OPTIONS: never granted
    assert not any(name.lower().startswith("access-control") for name in reply.headers)


def test_a_json_reset_with_the_header_works_and_takes_no_fields(emu: Emulator) -> None:
    headers = {"X-Auth-Token": emu.token}
    refused = requests.post(
        emu.url + "/_emulator/reset", json={"x": 1}, headers=headers, timeout=10
    )
    assert refused.status_code == 400 and emu.stats()["dots"] == 6
    reply = requests.post(emu.url + "/_emulator/reset", json={}, headers=headers, timeout=10)
    assert reply.json() == {"reset": True} and emu.stats()["dots"] == 0


# -- the access log --------------------------------------------------------------------------


def test_the_debug_log_never_shows_the_token(
    emu: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="airflow_provider_bulkdots.emulator"):
        reply = requests.get(
            f"{emu.url}/api/v2.0/devices/?page_size=1&token={emu.token}&x=1", timeout=10
        )
        assert reply.status_code == 200
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("transport")]
    assert any("token=***&x=1" in line for line in lines), lines
    assert emu.token not in caplog.text


# -- reads validate paging -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "99999999999999999999"}, "page"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "x"}, "page"),
        ({"page_size": "-1"}, "page_size"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1e3"}, "page_size"),
    ],
)
@pytest.mark.parametrize(
    "path", ["/api/v2.0/devices/", "/api/v1.6/devices/first-device/temperature/values/"]
)
def test_reads_refuse_paging_they_cannot_serve(
    emu: Emulator, path: str, params: dict[str, str], named: str
) -> None:
    reply = requests.get(
        emu.url + path, params=params, headers={"X-Auth-Token": emu.token}, timeout=10
    )
    assert reply.status_code == 400, reply.text
    message = reply.json()["detail"]
    assert message.startswith(f"{named} must be a whole number") and repr(params[named]) in message


def test_a_page_size_over_the_most_is_served_at_the_most(emu: Emulator) -> None:
    reply = requests.get(
        emu.url + "/api/v1.6/devices/first-device/temperature/values/",
        params={"page_size": 5000},
        headers={"X-Auth-Token": emu.token},
        timeout=10,
    )
    assert reply.status_code == 200 and reply.json()["count"] == 2


# -- connections are capped ------------------------------------------------------------------


@pytest.fixture
def capped() -> Iterator[Emulator]:
    with start_emulator(
        token="cap-token", rate_limit=0, max_connections=2, connection_wait=0
    ) as emu:
        yield emu


def _hold(emu: Emulator) -> socket.socket:
    host, port = emu.server.host_port
    return socket.create_connection((host, port), timeout=10)


def test_connections_over_the_cap_get_a_503_not_a_thread(capped: Emulator) -> None:
    held = [_hold(capped), _hold(capped)]  # two idle keep-alive connections take both slots
    try:
        with closing(_hold(capped)) as third:
            reply = third.recv(4096)
        assert reply.startswith(b"HTTP/1.1 503 "), reply
        assert b"Retry-After: 1" in reply and b"Too many connections" in reply
    finally:
        for sock in held:
            sock.close()
    retry = Retry(total=50, status_forcelist=[503], backoff_factor=0.01)
    session = requests.Session()  # a slot frees once the server sees a held one close
    session.mount("http://", HTTPAdapter(max_retries=retry))
    headers = {"X-Auth-Token": "cap-token"}
    check = session.get(capped.url + "/api/v2.0/devices/", headers=headers, timeout=10)
    assert check.status_code == 200


def test_a_connection_over_the_cap_waits_for_a_free_slot() -> None:
    with start_emulator(token="t", rate_limit=0, max_connections=1, connection_wait=30) as emu:
        held = _hold(emu)
        answer: list[int] = []

        def get() -> None:
            reply = requests.get(emu.url + "/_emulator/stats", headers={"X-Auth-Token": "t"},
                                 timeout=30)  # fmt: skip
            answer.append(reply.status_code)

        waiter = threading.Thread(target=get)
        waiter.start()
        held.close()  # the waiting connection is served once this one ends
        waiter.join(timeout=30)
        assert answer == [200]


def test_the_cap_is_at_least_one() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        start_emulator(max_connections=0)
