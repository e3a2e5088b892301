"""The API without HTTP (``handle(request) -> response``), its route table over HTTP, and
the emulator's own names."""

from __future__ import annotations

import ast
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import requests

import airflow_provider_bulkdots
from airflow_provider_bulkdots.emulator.api import BULK_PATH, EmulatorAPI
from airflow_provider_bulkdots.emulator.faults import FaultInjector, Faults
from airflow_provider_bulkdots.emulator.messages import Framing, Request
from airflow_provider_bulkdots.emulator.ratelimit import EmulatorRateLimiter
from airflow_provider_bulkdots.emulator.store import Store
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post

PACKAGE = Path(airflow_provider_bulkdots.__file__).parent  # the installed package too


@pytest.fixture
def api() -> Iterator[EmulatorAPI]:
    store = Store()
    yield EmulatorAPI(
        token="T", store=store, rate_limiter=EmulatorRateLimiter(0), faults=FaultInjector()
    )
    store.close()


def _bulk(body: bytes, **headers: str) -> Request:
    sent = {"x-auth-token": "T", "content-type": "application/json", **headers}
    return Request("POST", BULK_PATH, headers=sent, body=body, content_length=len(body))


def test_handle_stores_and_answers_without_http(api: EmulatorAPI) -> None:
    response = api.handle(_bulk(json.dumps(EXAMPLE).encode()))
    assert response.status == 200
    assert len(response.payload["task_id"]) == 24
    assert api.store.stats()["dots"] == 6
    assert api.handle(_bulk(b"[")).status == 400
    assert api.handle(_bulk(b"[]", **{"x-auth-token": "bad"})).payload["code"] == 401002
    assert api.store.stats()["requests"] == {"200": 1, "400": 1, "401": 1}


def test_framing_answers(api: EmulatorAPI) -> None:
    request = Request(
        "POST", BULK_PATH, headers={"x-auth-token": "T", "content-type": "application/json"}
    )
    assert api.handle(request).status == 411  # no Content-Length
    chunked = replace(request, **{"framing": Framing.CHUNKED})
    assert api.handle(chunked).status == 411
    invalid = replace(request, **{"framing": Framing.INVALID})
    assert api.handle(invalid).payload == {"detail": "Invalid Content-Length header."}
    big = replace(request, **{"framing": Framing.TOO_LARGE, "content_length": 2 << 20})
    assert api.handle(big).status == 413
    short = replace(request, **{"framing": Framing.SHORT, "content_length": 9})
    assert api.handle(short).close


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("GET", BULK_PATH, 405, "POST"),
        ("PUT", BULK_PATH + "/", 405, "POST"),
        ("POST", "/", 405, "GET, HEAD"),
        ("DELETE", "/api/v1.6/devices/d/v/values", 405, "GET, HEAD"),
        ("GET", "/_emulator/faults", 405, "POST"),
        ("POST", "/_emulator/stats", 405, "GET, HEAD"),
        ("GET", "/api/v1.6/whatever", 404, None),
        ("PATCH", "/nowhere", 404, None),
        ("GET", "/api/v1.6/devices/d/v/values/extra", 404, None),
    ],
)
def test_route_table(
    api: EmulatorAPI, method: str, path: str, status: int, allow: str | None
) -> None:
    response = api.handle(Request(method, path))
    assert response.status == status
    assert response.headers.get("Allow") == allow


def test_route_table_over_http(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    headers = {"X-Auth-Token": emu.token}
    not_allowed = requests.put(emu.bulk_url, json=EXAMPLE, headers=headers, timeout=10)
    assert not_allowed.status_code == 405
    assert not_allowed.headers["Allow"] == "POST"
    assert not_allowed.json() == {"detail": 'Method "PUT" not allowed.'}
    assert requests.delete(emu.url + "/nope", timeout=10).status_code == 404
    head = requests.head(emu.url + "/", timeout=10)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) > 0
    assert post(emu, EXAMPLE).status_code == 200  # the connection pool still works


def test_burst_429_is_used_up_by_authenticated_posts_only(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(burst_429=1))
    assert post(emu, EXAMPLE, token="wrong").status_code == 401
    assert post(emu, EXAMPLE).status_code == 429
    assert post(emu, EXAMPLE).status_code == 200


def test_latency_delays_reads_too(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    emu.set_faults(Faults(latency_s=5))
    with pytest.raises(requests.Timeout):
        requests.get(
            emu.url + "/api/v2.0/devices/", headers={"X-Auth-Token": emu.token}, timeout=0.2
        )


def _class_names(paths: list[Path]) -> Counter[str]:
    names: Counter[str] = Counter()
    for path in paths:
        tree = ast.parse(path.read_text())
        names.update(node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef))
    return names


def test_the_emulators_classes_have_names_of_their_own() -> None:
    emulator = _class_names(sorted((PACKAGE / "emulator").glob("*.py")))
    rest = _class_names([p for p in PACKAGE.rglob("*.py") if p.parent.name != "emulator"])
    assert [name for name, n in emulator.items() if n > 1] == []
    assert sorted(set(emulator) & set(rest)) == []
    assert {"EmulatorRateLimiter", "SchemaError", "EmulatorAPI", "EmulatorServer"} <= set(emulator)
