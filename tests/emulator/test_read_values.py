"""The read endpoint: a time span, paging newest first, and the visibility delay."""

from __future__ import annotations

import requests

from airflow_provider_bulkdots.emulator import start_emulator
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import post

PATH = "/api/v1.6/devices/dev-1/t/values/"


class WallClock:
    """Epoch seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _body(n: int, device: str = "dev-1") -> list[dict[str, object]]:
    values = [{"t": {"value": i, "timestamp": 1000 + i}} for i in range(n)]
    return [{"device": device, "timestamp": 1000, "values": values}]


def _get(emu: Emulator, url: str, **params: object) -> requests.Response:
    if url.startswith("/"):
        url = emu.url + url
    return requests.get(url, params=params, headers={"X-Auth-Token": emu.token}, timeout=10)


def test_time_span_is_inclusive_and_pages_follow_next(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body(20)).ok
    first = _get(emu, PATH, start=1003, end=1012, page_size=4).json()
    assert first["count"] == 10
    assert [r["timestamp"] for r in first["results"]] == [1012, 1011, 1010, 1009]
    assert set(first["results"][0]) == {"timestamp", "value", "context", "created_at"}
    seen, page = [], first
    while True:
        seen += [r["timestamp"] for r in page["results"]]
        if page["next"] is None:
            break
        assert "start=1003" in page["next"] and "end=1012" in page["next"]
        page = _get(emu, page["next"]).json()
    assert seen == list(range(1012, 1002, -1))
    assert page["previous"] is not None
    only_start = _get(emu, PATH, start=1018).json()
    assert [r["value"] for r in only_start["results"]] == [19, 18]
    only_end = _get(emu, PATH, end=1000).json()
    assert [r["value"] for r in only_end["results"]] == [0]


def test_empty_span_of_a_known_series_is_200_unknown_series_404(
    bulkdots_emulator_clean: Emulator,
) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body(3)).ok
    empty = _get(emu, PATH, start=5000, end=6000)
    assert empty.status_code == 200
    assert empty.json() == {"count": 0, "next": None, "previous": None, "results": []}
    assert _get(emu, "/api/v1.6/devices/dev-1/other/values/").status_code == 404
    assert _get(emu, "/api/v1.6/devices/nobody/t/values/").status_code == 404


def test_bad_span_parameters_are_400(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body(3)).ok
    for params in ({"start": "x"}, {"end": "-1"}, {"start": "1.5"}, {"end": "9" * 30}):
        response = _get(emu, PATH, **params)
        assert response.status_code == 400
        assert next(iter(params)) in response.json()["detail"]


def test_reads_need_the_token(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    assert post(emu, _body(3)).ok
    response = requests.get(emu.url + PATH, timeout=10)
    assert response.status_code == 401
    assert response.json()["code"] == 401001


def test_visibility_delay_hides_writes_until_it_passes() -> None:
    clock = WallClock()
    with start_emulator(rate_limit=0, wall_clock=clock, visibility_delay=0.5) as emu:
        assert post(emu, _body(3)).ok
        assert _get(emu, PATH).status_code == 404  # the variable is not created yet
        assert _get(emu, "/api/v2.0/devices/").json()["count"] == 0
        assert emu.stats()["dots"] == 3  # stored all the same
        clock.now += 0.499
        assert _get(emu, PATH).status_code == 404
        clock.now += 0.001
        assert _get(emu, PATH).json()["count"] == 3
        assert post(emu, _body(5)).ok  # a second write of the same series: not yet
        assert _get(emu, PATH).json()["count"] == 3
        clock.now += 0.5
        page = _get(emu, PATH).json()
        assert page["count"] == 8
        assert page["results"][0]["created_at"] == int((clock.now - 0.5) * 1000)


def test_visibility_delay_at_run_time_python_and_http() -> None:
    clock = WallClock()
    with start_emulator(rate_limit=0, wall_clock=clock) as emu:
        emu.set_visibility_delay(2)
        assert post(emu, _body(1)).ok
        clock.now += 1
        assert _get(emu, PATH).status_code == 404
        clock.now += 1
        assert _get(emu, PATH).json()["count"] == 1
        headers = {"X-Auth-Token": emu.token}
        admin = requests.post(
            emu.url + "/_emulator/faults",
            json={"visibility_delay": 10},
            headers=headers,
            timeout=10,
        )
        assert admin.json()["visibility_delay"] == 10
        assert post(emu, _body(2, device="dev-2")).ok
        clock.now += 9.999
        assert _get(emu, "/api/v1.6/devices/dev-2/t/values/").status_code == 404
        bad = requests.post(
            emu.url + "/_emulator/faults",
            json={"visibility_delay": -1},
            headers=headers,
            timeout=10,
        )
        assert bad.status_code == 400
        emu.reset()  # back to the starting delay, 0
        assert post(emu, _body(1)).ok
        assert _get(emu, PATH).json()["count"] == 1
