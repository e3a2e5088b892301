"""The dashboard at ``/``: the requests-per-second timeline, the grid of charts with axes,
the stable hooks its module docstring promises, and the revision it polls to update."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
import requests

from airflow_provider_bulkdots.emulator import start_emulator
from airflow_provider_bulkdots.emulator.dashboard import (
    MAX_POINTS,
    nice_step,
    time_ticks,
    value_range,
)
from airflow_provider_bulkdots.emulator.testing import Emulator
from tests.emulator.conftest import EXAMPLE, post


class Elements(HTMLParser):
    """Every start tag of a page, with its attributes, in order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def select(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        """Tags named ``tag`` whose attributes include ``wanted`` (class: one of the classes)."""
        found = []
        for name, attrs in self.tags:
            classes = attrs.get("class", "").split()
            if name == tag and all(
                (v in classes) if k == "class_" else attrs.get(k) == v for k, v in wanted.items()
            ):
                found.append(attrs)
        return found


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def _page(emu: Emulator) -> tuple[str, Elements]:
    response = requests.get(emu.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/html")
    return response.text, Elements(response.text)


def test_empty_dashboard(bulkdots_emulator_clean: Emulator) -> None:
    html, page = _page(bulkdots_emulator_clean)
    (root,) = page.select("div", id="dashboard")
    assert root["data-refresh-ms"] == "1000"
    assert page.select("p", id="empty")
    assert page.select("div", id="series-grid") == []
    (rps,) = page.select("section", id="rps")
    assert rps == {"id": "rps", "data-limit": "0", "data-requests": "0", "data-throttled": "0"}
    assert "/dashboard/revision" in html  # the script that keeps it current


def test_series_grid_with_axes_and_escaped_labels(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean
    post(emu, EXAMPLE)
    post(emu, EXAMPLE)
    values = [{"x": i % 7, "timestamp": i * 1000} for i in range(300)]
    assert post(emu, [{"device": '<b>"evil"</b>', "timestamp": 0, "values": values}]).ok
    html, page = _page(emu)
    cards = page.select("figure", class_="series")
    assert [(c["data-device"], c["data-variable"]) for c in cards] == [
        ('<b>"evil"</b>', "x"),
        ("first-device", "humidity"),
        ("first-device", "temperature"),
        ("second-device", "humidity"),
        ("second-device", "temperature"),
    ]
    assert [(c["data-dots"], c["data-duplicates"]) for c in cards] == [
        ("300", "0"),
        ("4", "2"),
        ("4", "2"),
        ("2", "1"),
        ("2", "1"),
    ]
    assert "&lt;b&gt;&quot;evil&quot;&lt;/b&gt;" in html
    assert len(page.select("g", class_="x-axis")) == 6  # five charts and the timeline
    assert len(page.select("g", class_="y-axis")) == 6
    assert len(page.select("polyline", class_="line")) == 3
    assert len(page.select("circle", class_="point")) == 2  # one instant: a point
    assert ">00:04</text>" in html  # time ticks of the evil series (0 to 299 s)
    assert ">6</text>" in html  # its value axis reaches 6
    summary = re.search(r"<p id='summary'>([^<]*)</p>", html)
    assert summary is not None
    assert summary[1].startswith("312 dots (306 unique, 6 duplicates) on 3 devices, 5 variables")


def test_requests_per_second_against_the_limit_with_429s() -> None:
    with start_emulator(rate_limit=2, clock=lambda: 0.0) as emu:  # the limiter's time stands
        codes = [post(emu, EXAMPLE).status_code for _ in range(5)]
        reads = requests.get(emu.url + "/api/v2.0/devices/", timeout=10)  # a 401 read
        assert codes == [200, 200, 429, 429, 429]
        assert reads.status_code == 401
        html, page = _page(emu)
    (rps,) = page.select("section", id="rps")
    assert rps["data-limit"] == "2"
    assert rps["data-requests"] == "6"
    assert rps["data-throttled"] == "3"
    assert page.select("line", class_="limit")
    assert "limit 2/s" in html
    assert page.select("rect", class_="throttled")
    assert page.select("line", class_="throttled-mark")
    assert page.select("rect", class_="ok")


def test_timeline_bins_widen_for_long_runs() -> None:
    clock = WallClock()
    with start_emulator(rate_limit=0, wall_clock=clock) as emu:
        for _ in range(3):
            assert post(emu, EXAMPLE).ok
            clock.now += 400  # 800 s in all: 300 bins at most, so 3 s bins
        width, bins = emu.api.store.request_timeline()
    assert width == 3000
    assert len(bins) == 267
    assert [b for b in bins if b[1]] == [
        (bins[0][0], 1, 0),
        (bins[0][0] + 133 * 3000, 1, 0),
        (bins[0][0] + 266 * 3000, 1, 0),
    ]


def test_revision_changes_with_requests_and_reset(bulkdots_emulator_clean: Emulator) -> None:
    emu = bulkdots_emulator_clean

    def revision() -> str:
        response = requests.get(emu.url + "/dashboard/revision", timeout=10)  # no token needed
        return str(response.json()["revision"])

    first = revision()
    assert revision() == first  # polling changes nothing
    post(emu, EXAMPLE)
    second = revision()
    assert second != first
    _, page = _page(emu)
    assert page.select("div", id="dashboard")[0]["data-revision"] == second
    emu.reset()
    assert revision() not in (first, second)


def test_long_series_are_downsampled() -> None:
    with start_emulator(rate_limit=0, max_body_bytes=1_000_000) as emu:
        values = [{"v": i % 100, "timestamp": i} for i in range(3000)]
        assert post(emu, [{"device": "d", "timestamp": 0, "values": values}]).ok
        html, _ = _page(emu)
    points = re.search(r'<polyline class="line" points="([^"]*)"', html)
    assert points is not None
    assert 2 <= len(points[1].split()) <= MAX_POINTS
    assert 'data-dots="3000"' in html


@pytest.mark.parametrize(
    ("span", "step"), [(10, 2.5), (1, 0.25), (7, 2), (0.03, 0.01), (400, 100), (0, 1)]
)
def test_nice_step(span: float, step: float) -> None:
    assert nice_step(span) == pytest.approx(step)


def test_value_range_rounds_out_and_widens_flat_series() -> None:
    assert value_range(15.3, 24.9) == (15.0, 25.0, 2.5)
    assert value_range(5, 5) == (4.0, 6.0, 0.5)


def test_time_ticks_fall_on_round_utc_steps() -> None:
    day = 1_704_067_200_000  # 2024-01-01T00:00Z
    assert [label for _, label in time_ticks(day, day + 8 * 3600_000)] == [
        "00:00",
        "02:00",
        "04:00",
        "06:00",
        "08:00",
    ]
    two_days = [label for _, label in time_ticks(day, day + 30 * 3600_000)]
    assert two_days == [
        "01-01 00:00",
        "01-01 06:00",
        "01-01 12:00",
        "01-01 18:00",
        "01-02 00:00",
        "01-02 06:00",
    ]
    assert [label for _, label in time_ticks(day + 1500, day + 9000)] == [
        "00:00:02",
        "00:00:04",
        "00:00:06",
        "00:00:08",
    ]
    assert [label for _, label in time_ticks(day, day + 3 * 365 * 86400_000)] == [
        "2024",
        "2025",
        "2026",
    ]
    quarter = [label for _, label in time_ticks(day + 1, day + 100 * 86400_000)]
    assert quarter == ["2024-02-01", "2024-03-01", "2024-04-01"]
    assert time_ticks(day, day + 3 * 86400_000)[0][1] == "2024-01-01"


@pytest.mark.parametrize("host", ["attacker.example:8790", "rebind.example", "127.0.0.1.nip.io"])
def test_the_dashboard_refuses_a_dns_name_it_could_be_rebound_under(
    bulkdots_emulator_clean: Emulator, host: str
) -> None:
    for path in ("/", "/dashboard/revision"):
        reply = requests.get(bulkdots_emulator_clean.url + path, headers={"Host": host}, timeout=10)
        assert reply.status_code == 403
        assert "DNS rebinding" in reply.json()["detail"]
        assert "<svg" not in reply.text


@pytest.mark.parametrize("host", ["127.0.0.1:8790", "localhost:8790", "[::1]:8790", "10.0.0.5"])
def test_the_dashboard_answers_an_address_or_localhost(
    bulkdots_emulator_clean: Emulator, host: str
) -> None:
    reply = requests.get(bulkdots_emulator_clean.url + "/", headers={"Host": host}, timeout=10)
    assert reply.status_code == 200
    assert "<html" in reply.text.lower()
