"""The bulk endpoint over real HTTP: every documented response, and what gets stored."""

from __future__ import annotations

import json
import re

import pytest
import requests

from airflow_provider_bulkdots.emulator import start_emulator
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post

TASK_ID = re.compile(r"^[0-9a-f]{24}$")


def test_success_returns_task_id_and_stores_every_dot(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    response = post(emu, EXAMPLE)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    task_id = response.json()["task_id"]
    assert TASK_ID.match(task_id)
    stored = [
        (d["device"], d["variable"], d["timestamp"], d["value"], d["task_id"]) for d in emu.dots()
    ]
    assert stored == [
        ("first-device", "temperature", 1588864653968, 24, task_id),
        ("first-device", "humidity", 1588864653968, 88, task_id),
        ("first-device", "temperature", 1588864653900, 21, task_id),
        ("first-device", "humidity", 1588864653900, 86, task_id),
        ("second-device", "temperature", 1588864653968, 45, task_id),
        ("second-device", "humidity", 1588864653900, 2, task_id),
    ]
    stats = emu.stats()
    assert stats["requests"] == {"200": 1}
    assert stats["dots"] == stats["unique_dots"] == 6
    assert stats["devices"] == 2
    assert stats["bodies"] == 1
    assert stats["largest_body"] == len(json.dumps(EXAMPLE))


def test_trailing_slash_and_query_token(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, EXAMPLE, url=emu.bulk_url + "/").status_code == 200
    response = post(emu, EXAMPLE, token=None, url=f"{emu.bulk_url}?token={emu.token}")
    assert response.status_code == 200
    assert emu.stats()["bodies"] == 2


def test_context_and_floats_round_trip(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    context = {"unit": "°C", "note": "ok", "n": [1, 2]}
    body = [
        {"device": "d", "timestamp": 5, "values": [{"t": {"value": -1.25, "context": context}}]}
    ]
    assert post(emu, body).status_code == 200
    (dot,) = emu.dots()
    assert dot["value"] == -1.25
    assert dot["context"] == context


def test_duplicates_are_kept_and_counted(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    first = post(emu, EXAMPLE).json()["task_id"]
    second = post(emu, EXAMPLE).json()["task_id"]
    assert first != second
    stats = emu.stats()
    assert (stats["dots"], stats["unique_dots"], stats["duplicates"]) == (12, 6, 6)
    assert [d["task_id"] for d in emu.dots()] == [first] * 6 + [second] * 6


def test_missing_token_is_401001(bulkdots_emulator_clean: Emulator) -> None:
    response = post(bulkdots_emulator_clean, EXAMPLE, token=None)
    assert response.status_code == 401
    assert response.json() == {
        "code": 401001,
        "message": "Authentication credentials were not provided.",
    }
    assert bulkdots_emulator_clean.dots() == []


def test_wrong_token_is_401002(bulkdots_emulator_clean: Emulator) -> None:
    for response in (
        post(bulkdots_emulator_clean, EXAMPLE, token="nope"),
        post(
            bulkdots_emulator_clean,
            EXAMPLE,
            token=None,
            url=bulkdots_emulator_clean.bulk_url + "?token=x",
        ),
    ):
        assert response.status_code == 401
        assert response.json() == {
            "code": 401002,
            "message": "Incorrect authentication credentials.",
        }
    assert bulkdots_emulator_clean.stats()["requests"] == {"401": 2}


def test_non_json_body_is_400_with_parser_message(bulkdots_emulator_clean: Emulator) -> None:
    raw = b'[\n   {\n    "device": "first-device-1\tx"}]'
    response = post(bulkdots_emulator_clean, raw=raw)
    assert response.status_code == 400
    assert response.json() == {
        "detail": "JSON parse error - Invalid control character at: line 3 column 30 (char 36)"
    }


def test_nan_is_a_parse_error(bulkdots_emulator_clean: Emulator) -> None:
    raw = b'[{"device":"d","timestamp":1,"values":[{"t":NaN}]}]'
    response = post(bulkdots_emulator_clean, raw=raw)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("JSON parse error - Out of range float")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(bulkdots_emulator_clean: Emulator, content_type: str) -> None:
    response = post(bulkdots_emulator_clean, EXAMPLE, headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert "Unsupported media type" in response.json()["detail"]


def test_content_type_parameters_are_fine(bulkdots_emulator_clean: Emulator) -> None:
    headers = {"Content-Type": "application/json; charset=utf-8"}
    assert post(bulkdots_emulator_clean, EXAMPLE, headers=headers).status_code == 200


def test_body_over_limit_is_413_and_exact_limit_passes() -> None:
    with start_emulator(rate_limit=0, max_body_bytes=10_000) as emu:
        base = json.dumps(EXAMPLE, separators=(",", ":"))
        # Pad with spaces: still the same JSON, exactly 10,000 and 10,001 bytes.
        exact = (base + " " * (10_000 - len(base))).encode()
        assert post(emu, raw=exact).status_code == 200
        response = post(emu, raw=exact + b" ")
        assert response.status_code == 413
        assert "10001" in response.json()["detail"]
        stats = emu.stats()
        assert stats["requests"] == {"200": 1, "413": 1}
        assert stats["largest_body"] == 10_001
        assert stats["bodies"] == 1


def test_missing_content_length_is_411(bulkdots_emulator_clean: Emulator) -> None:
    def chunks():  # requests sends a generator chunked, without Content-Length
        yield json.dumps(EXAMPLE).encode()

    response = requests.post(
        bulkdots_emulator_clean.bulk_url,
        data=chunks(),
        headers={"X-Auth-Token": bulkdots_emulator_clean.token, "Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 411


def test_schema_error_is_400001_naming_item_and_field(bulkdots_emulator_clean: Emulator) -> None:
    body = [*EXAMPLE, {"device": "d", "timestamp": 1, "values": [{"t": 1}, {"h": "88"}]}]
    response = post(bulkdots_emulator_clean, body)
    assert response.status_code == 400
    assert response.json() == {
        "code": 400001,
        "message": "Validation Error.",
        "detail": "item 2, values[1], variable 'h': value must be a number",
    }
    assert bulkdots_emulator_clean.dots() == []  # all or nothing


def test_check_order(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    huge = b"x" * 20_000
    # auth before content type, size and JSON
    assert (
        post(emu, raw=huge, token=None, headers={"Content-Type": "text/plain"}).status_code == 401
    )
    # content type before size
    assert post(emu, raw=huge, headers={"Content-Type": "text/plain"}).status_code == 415
    # size before JSON
    assert post(emu, raw=huge).status_code == 413
    # JSON before schema
    assert post(emu, raw=b"{").status_code == 400


def test_wrong_methods_and_paths(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    get = requests.get(emu.bulk_url, headers={"X-Auth-Token": emu.token}, timeout=10)
    assert get.status_code == 405
    put = requests.put(emu.bulk_url, json=EXAMPLE, headers={"X-Auth-Token": emu.token}, timeout=10)
    assert put.status_code == 405
    other = post(emu, EXAMPLE, url=emu.url + "/api/v1.6/devices/_/bulk")
    assert other.status_code == 404
    assert other.json() == {"detail": "Not found."}


def test_keep_alive_connection_survives_errors(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    with requests.Session() as session:
        codes = [
            post(emu, EXAMPLE, token=None, session=session).status_code,
            post(emu, raw=b"x" * 20_000, session=session).status_code,
            post(emu, raw=b"[", session=session).status_code,
            post(emu, EXAMPLE, session=session).status_code,
        ]
    assert codes == [401, 413, 400, 200]


def test_file_database_persists(tmp_path) -> None:
    db = str(tmp_path / "dots.sqlite")
    with start_emulator(db_path=db, rate_limit=0) as emu:
        assert post(emu, EXAMPLE).status_code == 200
    with start_emulator(db_path=db, rate_limit=0) as emu:
        stats = emu.stats()
        assert stats["dots"] == 6
        assert stats["requests"] == {"200": 1}
