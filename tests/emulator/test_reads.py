"""The token check, the read API and the dashboard."""

from __future__ import annotations

import re

import requests

from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post


def _get(emu: Emulator, path: str, **params: str | int) -> requests.Response:
    return requests.get(
        emu.url + path, params=params, headers={"X-Auth-Token": emu.token}, timeout=10
    )


def test_token_check(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    response = _get(emu, "/api/v2.0/devices/", page_size=1)
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}
    post(emu, EXAMPLE)
    body = _get(emu, "/api/v2.0/devices", page_size=1).json()
    assert body["count"] == 2
    assert [d["label"] for d in body["results"]] == ["first-device"]
    assert re.fullmatch(r"[0-9a-f]{24}", body["results"][0]["id"])
    assert body["next"] is not None
    bad = requests.get(emu.url + "/api/v2.0/devices/?page_size=1&token=bad", timeout=10)
    assert bad.status_code == 401
    assert bad.json()["code"] == 401002
    missing = requests.get(emu.url + "/api/v2.0/devices/?page_size=1", timeout=10)
    assert missing.json()["code"] == 401001


def test_values_newest_first_with_paging(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    body = [
        {
            "device": "dev-1",
            "timestamp": 1000,
            "values": [
                {"t": {"value": i, "timestamp": 1000 + i, "context": {"i": i}}} for i in range(7)
            ],
        }
    ]
    assert post(emu, body).status_code == 200
    path = "/api/v1.6/devices/dev-1/t/values"
    first = _get(emu, path, page_size=3).json()
    assert first["count"] == 7
    assert [r["value"] for r in first["results"]] == [6, 5, 4]
    assert first["results"][0]["timestamp"] == 1006
    assert first["results"][0]["context"] == {"i": 6}
    assert isinstance(first["results"][0]["created_at"], int)
    assert first["previous"] is None
    second = requests.get(first["next"], headers={"X-Auth-Token": emu.token}, timeout=10).json()
    assert [r["value"] for r in second["results"]] == [3, 2, 1]
    last = requests.get(second["next"], headers={"X-Auth-Token": emu.token}, timeout=10).json()
    assert [r["value"] for r in last["results"]] == [0]
    assert last["next"] is None
    assert last["previous"] is not None
    assert _get(emu, path + "/", page=9, page_size=3).status_code == 404
    assert _get(emu, path, page="x").status_code == 400  # refused by name (test_hardening)
    assert _get(emu, "/api/v1.6/devices/dev-1/nothing/values").status_code == 404


def test_unknown_api_path_is_404(bulkdots_emulator_clean: Emulator) -> None:
    assert _get(bulkdots_emulator_clean, "/api/v1.6/whatever").status_code == 404
    assert _get(bulkdots_emulator_clean, "/favicon.ico").status_code == 404
