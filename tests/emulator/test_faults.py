"""Injected faults: 5xx, 429 bursts, dropped replies, latency, down after N requests."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_bulkdots.emulator import Faults, start_emulator
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post


def test_fail_next_is_deterministic_and_stores_nothing(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.fail_next(2, status=502)
    codes = [post(emu, EXAMPLE).status_code for _ in range(3)]
    assert codes == [502, 502, 200]
    assert emu.stats()["requests"] == {"200": 1, "502": 2}
    assert len(emu.dots()) == 6


def test_error_rate_draws_from_statuses_with_seed(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(error_rate=0.5, error_statuses=(500, 503), seed=7))
    first = [post(emu, EXAMPLE).status_code for _ in range(40)]
    emu.set_faults(Faults(error_rate=0.5, error_statuses=(500, 503), seed=7))
    second = [post(emu, EXAMPLE).status_code for _ in range(40)]
    assert first == second  # the seed makes runs repeatable
    assert set(first) == {200, 500, 503}
    assert len(emu.dots()) == 6 * (first.count(200) + second.count(200))


def test_full_error_rate() -> None:
    with start_emulator(rate_limit=0, faults=Faults(error_rate=1.0, error_statuses=(500,))) as emu:
        response = post(emu, EXAMPLE)
        assert response.status_code == 500
        assert "Injected" in response.json()["detail"]
        assert emu.dots() == []


def test_burst_429(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(burst_429=3))
    responses = [post(emu, EXAMPLE) for _ in range(4)]
    assert [r.status_code for r in responses] == [429, 429, 429, 200]
    assert all(r.headers["Retry-After"] == "1" for r in responses[:3])


def test_a_burst_can_ask_for_a_long_wait(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(burst_429=1, burst_retry_after=120))
    refused = post(emu, EXAMPLE)
    assert (refused.status_code, refused.headers["Retry-After"]) == (429, "120")
    assert "available in 120 seconds" in refused.text
    assert post(emu, EXAMPLE).status_code == 200
    with pytest.raises(ValueError, match="burst_retry_after"):
        Faults(burst_retry_after=-1)


def test_drop_next_stores_then_closes_without_reply(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.drop_next(1)
    with pytest.raises(requests.ConnectionError):
        post(emu, EXAMPLE)
    assert len(emu.dots()) == 6  # stored although the client saw a failure
    assert post(emu, EXAMPLE).status_code == 200
    stats = emu.stats()
    assert stats["requests"] == {"200": 1, "dropped": 1}
    assert stats["duplicates"] == 6


def test_drop_response_rate(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(drop_response_rate=1.0))
    with requests.Session() as session:
        for _ in range(3):
            with pytest.raises(requests.ConnectionError):
                post(emu, EXAMPLE, session=session)
    assert emu.stats()["requests"] == {"dropped": 3}
    assert len(emu.dots()) == 18


def test_drop_only_applies_to_accepted_bodies(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.drop_next(1)
    assert post(emu, raw=b"[").status_code == 400  # not accepted: answered
    with pytest.raises(requests.ConnectionError):
        post(emu, EXAMPLE)


def test_latency(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(latency_s=0.3))
    started = time.monotonic()
    assert post(emu, EXAMPLE).status_code == 200
    assert time.monotonic() - started >= 0.3
    headers = {"X-Auth-Token": emu.token}
    with pytest.raises(requests.Timeout):
        requests.post(emu.bulk_url, json=EXAMPLE, headers=headers, timeout=0.05)


def test_down_after(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(down_after=2))
    assert [post(emu, EXAMPLE).status_code for _ in range(2)] == [200, 200]
    for _ in range(2):
        with pytest.raises(requests.ConnectionError):
            post(emu, EXAMPLE)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{emu.url}/api/v2.0/devices/?page_size=1&token={emu.token}", timeout=10)
    assert emu.stats()["requests"] == {"200": 2, "refused": 2}
    emu.set_faults(Faults())  # back up
    assert post(emu, EXAMPLE).status_code == 200


def _admin(emu: Emulator, path: str, body: object = None, token: str | None = None):
    """An admin call as a client should make it: JSON, the token in the header."""
    headers = {"X-Auth-Token": token or emu.token}
    return requests.post(emu.url + path, json={} if body is None else body, headers=headers,
                         timeout=10)  # fmt: skip


def test_admin_http_calls(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    assert _admin(emu, "/_emulator/faults", {"burst_429": 1}, token="bad").status_code == 401
    response = _admin(emu, "/_emulator/faults", {"burst_429": 1, "error_statuses": [502]})
    assert response.status_code == 200
    assert response.json()["faults"]["burst_429"] == 1
    assert post(emu, EXAMPLE).status_code == 429
    assert _admin(emu, "/_emulator/faults", {"fail_next": {"n": 1, "status": 500}}).ok
    assert post(emu, EXAMPLE).status_code == 500
    assert _admin(emu, "/_emulator/faults", {"drop_next": 1}).ok
    with pytest.raises(requests.ConnectionError):
        post(emu, EXAMPLE)
    stats = requests.get(
        emu.url + "/_emulator/stats", headers={"X-Auth-Token": emu.token}, timeout=10
    )
    assert stats.json()["requests"] == {"429": 1, "500": 1, "dropped": 1}
    assert stats.json()["dots"] == 6
    assert requests.get(emu.url + "/_emulator/stats", timeout=10).status_code == 401
    assert _admin(emu, "/_emulator/reset").json() == {"reset": True}
    assert emu.stats()["dots"] == 0
    assert emu.stats()["requests"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {"nope": 1},
        {"error_rate": 2},
        {"error_rate": "x"},
        {"burst_429": -1},
        [1],
        {"rate_limit": "x"},
    ],
)
def test_admin_rejects_bad_faults(bulkdots_emulator_clean: Emulator, body: object) -> None:
    response = _admin(bulkdots_emulator_clean, "/_emulator/faults", body)
    assert response.status_code == 400
    assert response.json()["detail"]


def test_faults_dataclass_checks() -> None:
    with pytest.raises(ValueError):
        Faults(error_statuses=(404,))
    with pytest.raises(ValueError):
        Faults(down_after=-1)
    faults = Faults(error_statuses=[502])  # type: ignore[arg-type]
    assert faults.error_statuses == (502,)
    assert Faults.from_dict(faults.to_dict()) == faults


def test_reset_clears_faults(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(error_rate=1.0))
    emu.fail_next(5)
    emu.drop_next(5)
    emu.reset()
    assert post(emu, EXAMPLE).status_code == 200
