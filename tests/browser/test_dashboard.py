"""The emulator's dashboard in a real browser: it loads, shows every series with its axes and
the request rate, and updates by itself when new dots arrive (hooks: emulator/dashboard.py)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import requests

from tests.conftest import EMULATOR_TOKEN

T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
STEP = 60_000


def _send(emulator: Any, device: str, variables: dict[str, float], minutes: range) -> None:
    """One body: ``device`` with one dot per variable at each of ``minutes``."""
    values = [
        {
            name: {"value": round(base + 3 * math.sin(m / 4), 2), "timestamp": T0 + m * STEP}
            for name, base in variables.items()
        }
        for m in minutes
    ]
    body = [{"device": device, "timestamp": T0 + minutes[0] * STEP, "values": values}]
    reply = requests.post(
        emulator.bulk_url, json=body, headers={"X-Auth-Token": EMULATOR_TOKEN}, timeout=10
    )
    assert reply.status_code == 200, reply.text


def _series(page: Any) -> dict[tuple[str, str], Any]:
    figures = page.locator("#series-grid figure.series")
    return {
        (f.get_attribute("data-device"), f.get_attribute("data-variable")): f for f in figures.all()
    }


def _check_axes(figure: Any) -> None:
    chart = figure.locator("svg.chart")
    for axis in ("g.x-axis", "g.y-axis"):
        ticks = [t.strip() for t in chart.locator(f"{axis} text").all_text_contents()]
        assert len([t for t in ticks if t]) >= 2, f"{axis} has no tick labels: {ticks}"
    assert chart.locator("polyline.line").count() == 1


def test_the_dashboard_shows_every_series_with_axes_and_follows_new_dots(
    page: Any, emu: Any, screenshot_dir: Path
) -> None:
    from playwright.sync_api import expect

    _send(emu, "logger-1", {"temperature": 20.0, "humidity": 40.0}, range(0, 30))
    _send(emu, "logger-2", {"temperature": 18.0}, range(0, 30))
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.goto(emu.url + "/")

    shown = _series(page)
    assert set(shown) == {
        ("logger-1", "humidity"),
        ("logger-1", "temperature"),
        ("logger-2", "temperature"),
    }
    for figure in shown.values():
        assert figure.get_attribute("data-dots") == "30"
        _check_axes(figure)
    rps = page.locator("#rps")
    assert rps.get_attribute("data-requests") == "2"
    assert page.locator("#rps-chart rect.ok").count() >= 1
    page.screenshot(path=str(screenshot_dir / "emulator-dashboard.png"), full_page=True)

    revision = page.locator("#dashboard").get_attribute("data-revision")
    _send(emu, "logger-1", {"temperature": 20.0, "pressure": 1000.0}, range(30, 45))
    # No reload: the page polls the revision and swaps in the new content by itself.
    expect(page.locator("figure.series[data-variable='pressure']")).to_have_count(1)
    expect(page.locator("#dashboard")).not_to_have_attribute("data-revision", revision or "")
    updated = _series(page)
    assert updated[("logger-1", "temperature")].get_attribute("data-dots") == "45"
    assert updated[("logger-1", "pressure")].get_attribute("data-dots") == "15"
    _check_axes(updated[("logger-1", "pressure")])
    assert page.locator("#rps").get_attribute("data-requests") == "3"
