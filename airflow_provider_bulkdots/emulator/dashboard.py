"""The page at ``GET /``: per device and variable, counts, time range and a line chart.

Server-rendered HTML and SVG, no JavaScript. Each line is downsampled in SQL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from html import escape
from typing import Any

from airflow_provider_bulkdots.emulator.store import Series, Store

MAX_POINTS = 500
WIDTH, HEIGHT, PAD = 640, 140, 6

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}
td,th{border:1px solid #ccc;padding:.2rem .6rem;text-align:right}
th{background:#f4f4f4} td.l{text-align:left}
svg{background:#fafafa;border:1px solid #ddd}
polyline{fill:none;stroke:#1f6feb;stroke-width:1.5}
"""


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).isoformat(timespec="milliseconds")


def _svg(series: Series, points: list[tuple[float, float]]) -> str:
    label = escape(f"{series.device}/{series.variable}")
    t0, t1 = series.first_ms, series.last_ms
    v0, v1 = series.min_value, series.max_value
    tspan = (t1 - t0) or 1
    vspan = (v1 - v0) or 1.0
    coords = " ".join(
        f"{PAD + (t - t0) / tspan * (WIDTH - 2 * PAD):.1f},"
        f"{HEIGHT - PAD - (v - v0) / vspan * (HEIGHT - 2 * PAD):.1f}"
        for t, v in points
    )
    if len(points) == 1:
        x, y = coords.split(",")
        mark = f'<circle cx="{x}" cy="{y}" r="3" fill="#1f6feb"/>'
    else:
        mark = f'<polyline points="{coords}"/>'
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'role="img" aria-label="{label}"><title>{label}</title>{mark}</svg>'
    )


def _requests_table(stats: dict[str, Any]) -> str:
    cells = "".join(
        f"<tr><td class='l'>{escape(status)}</td><td>{n}</td></tr>"
        for status, n in stats["requests"].items()
    )
    return f"<table><tr><th>bulk requests by outcome</th><th>count</th></tr>{cells}</table>"


def render(store: Store) -> str:
    """The whole dashboard page as HTML."""
    stats = store.stats()
    all_series = store.series()
    points = store.downsampled(MAX_POINTS)
    summary = (
        f"<p>{stats['dots']} dots ({stats['unique_dots']} unique, "
        f"{stats['duplicates']} duplicates) on {stats['devices']} devices, "
        f"{len(all_series)} variables; {stats['bodies']} bodies stored, "
        f"largest body {stats['largest_body']} bytes.</p>"
    )
    sections = []
    for s in all_series:
        sections.append(
            f"<section><h2>{escape(s.device)} / {escape(s.variable)}</h2>"
            "<table><tr><th>dots</th><th>duplicates</th><th>first</th><th>last</th>"
            "<th>min</th><th>max</th></tr>"
            f"<tr><td>{s.dots}</td><td>{s.dots - s.unique_timestamps}</td>"
            f"<td>{_iso(s.first_ms)}</td><td>{_iso(s.last_ms)}</td>"
            f"<td>{s.min_value:g}</td><td>{s.max_value:g}</td></tr></table>"
            f"{_svg(s, points.get((s.device, s.variable), []))}</section>"
        )
    body = "".join(sections) or "<p>No dots stored yet.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>bulkdots emulator</title><style>{_CSS}</style></head><body>"
        f"<h1>bulkdots emulator</h1>{summary}{_requests_table(stats)}{body}</body></html>"
    )
