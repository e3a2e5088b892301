"""The token check, the read API and the dashboard."""

from __future__ import annotations

import re

import requests

from airflow_provider_bulkdots.emulator import start_emulator
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
    assert _get(emu, path, page="x").status_code == 404
    assert _get(emu, "/api/v1.6/devices/dev-1/nothing/values").status_code == 404


def test_unknown_api_path_is_404(bulkdots_emulator_clean: Emulator) -> None:
    assert _get(bulkdots_emulator_clean, "/api/v1.6/whatever").status_code == 404
    assert _get(bulkdots_emulator_clean, "/favicon.ico").status_code == 404


def test_dashboard(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    empty = requests.get(emu.url + "/", timeout=10)
    assert empty.status_code == 200
    assert "No dots stored yet" in empty.text
    post(emu, EXAMPLE)
    post(emu, EXAMPLE)
    values = [{"x": i % 7, "timestamp": i} for i in range(300)]
    assert post(emu, [{"device": "<b>evil</b>", "timestamp": 0, "values": values}]).ok
    page = requests.get(emu.url + "/", timeout=10)
    assert page.headers["Content-Type"].startswith("text/html")
    html = page.text
    assert "<script" not in html
    assert html.count("<svg") == 5  # one per device and variable
    assert "&lt;b&gt;evil&lt;/b&gt;" in html
    assert "312 dots (306 unique, 6 duplicates) on 3 devices" in html
    assert "2020-05-07T15:17:33.968+00:00" in html
    assert "<td>300</td><td>0</td>" in html  # the evil device: 300 dots, no duplicates
    assert "<td>4</td><td>2</td>" in html  # first-device/temperature sent twice


def test_dashboard_downsamples_long_series() -> None:
    with start_emulator(rate_limit=0, max_body_bytes=1_000_000) as emu:
        values = [{"v": i % 100, "timestamp": i} for i in range(3000)]
        assert post(emu, [{"device": "d", "timestamp": 0, "values": values}]).ok
        html = requests.get(emu.url + "/", timeout=10).text
    points = re.search(r'<polyline points="([^"]*)"', html)
    assert points is not None
    assert 2 <= len(points[1].split()) <= 500
    assert "3000 dots" in html
