"""The v2.0 delete of values in a span: inclusive, one variable or a whole device, asynchronous."""

from __future__ import annotations

from collections import Counter

import requests

from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import post


def _body(device: str, variables: tuple[str, ...] = ("t", "h"), n: int = 10) -> list[object]:
    values = [{name: {"value": i, "timestamp": 1000 + i} for name in variables} for i in range(n)]
    return [{"device": device, "timestamp": 1000, "values": values}]


def _delete(emu: Emulator, device: str, variable: str, **params: object) -> requests.Response:
    url = f"{emu.url}/api/v2.0/devices/{device}/{variable}/values/delete/"
    return requests.post(url, params=params, headers={"X-Auth-Token": emu.token}, timeout=10)


def _held(emu: Emulator) -> Counter[tuple[str, str]]:
    return Counter((dot["device"], dot["variable"]) for dot in emu.dots())


def test_one_variable_is_emptied_in_the_inclusive_span_and_nothing_else(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body("dev-1")).ok and post(emu, _body("dev-2")).ok

    reply = _delete(emu, "~dev-1", "~t", startDate=1003, endDate=1006)

    assert reply.status_code == 200 and len(reply.json()["task_id"]) == 24
    # The deletion is processed by the time the API answers its next request.
    requests.get(emu.url + "/_emulator/stats", headers={"X-Auth-Token": emu.token}, timeout=10)
    kept = sorted(
        d["timestamp"] for d in emu.dots() if d["device"] == "dev-1" and d["variable"] == "t"
    )
    assert kept == [1000, 1001, 1002, 1007, 1008, 1009]
    assert _held(emu) == {
        ("dev-1", "t"): 6,
        ("dev-1", "h"): 10,
        ("dev-2", "t"): 10,
        ("dev-2", "h"): 10,
    }


def test_the_documented_device_form_empties_every_variable_of_the_device(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body("dev-1")).ok

    assert _delete(emu, "dev-1", "_", startDate=1000, endDate=1004).ok
    _delete(emu, "dev-9", "_", startDate=0, endDate=1)  # the next request applies the first

    assert _held(emu) == {("dev-1", "t"): 5, ("dev-1", "h"): 5}


def test_a_deletion_takes_effect_only_after_the_delete_delay(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body("dev-1")).ok
    emu.set_delete_delay(3600)

    assert _delete(emu, "~dev-1", "~t", startDate=0, endDate=5000).ok
    _delete(emu, "dev-9", "_", startDate=0, endDate=1)

    assert _held(emu)[("dev-1", "t")] == 10  # accepted, not processed yet
    emu.reset()
    assert emu.api.deletions.delay_s == 0


def test_a_delete_needs_the_token_and_both_bounds(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    url = f"{emu.url}/api/v2.0/devices/~dev-1/~t/values/delete/"

    assert requests.post(url, params={"startDate": 1, "endDate": 2}, timeout=10).status_code == 401
    missing = _delete(emu, "~dev-1", "~t", startDate=1)
    assert missing.status_code == 400 and "endDate" in missing.json()["detail"]
    assert _delete(emu, "~dev-1", "~t", startDate=5, endDate=1).status_code == 400


def _admin_dots(emu: Emulator, body: object) -> requests.Response:
    return requests.post(
        emu.url + "/_emulator/dots", json=body, headers={"X-Auth-Token": emu.token}, timeout=10
    )


def test_stored_dots_are_dropped_duplicated_and_altered_over_http(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body("dev-1", n=3)).ok

    reply = _admin_dots(
        emu,
        {
            "drop": [["dev-1", "t", 1000], ["dev-1", "t", 9999]],
            "duplicate": [["dev-1", "h", 1001]],
            "alter": [["dev-1", "h", 1002, 7.5]],
        },
    )

    assert reply.json() == {"dropped": 1, "duplicated": 1, "altered": 1}
    held = Counter((d["variable"], d["timestamp"], d["value"]) for d in emu.dots())
    assert held == {
        ("t", 1001, 1.0): 1,
        ("t", 1002, 2.0): 1,
        ("h", 1000, 0.0): 1,
        ("h", 1001, 1.0): 2,
        ("h", 1002, 7.5): 1,
    }
    bad = _admin_dots(emu, {"drop": [["dev-1", "t"]]})
    assert bad.status_code == 400 and "[device, variable, ms]" in bad.json()["detail"]
    assert requests.post(emu.url + "/_emulator/dots", json={}, timeout=10).status_code == 401
