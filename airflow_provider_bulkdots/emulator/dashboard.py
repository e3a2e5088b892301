"""The page at ``GET /``: requests per second against the limit, then a grid of series charts.

Server-rendered HTML and SVG; a few lines of JavaScript poll ``GET /dashboard/revision``
(``{"revision": "..."}``, which changes with every logged request or reset) each
``data-refresh-ms`` and, when it changed, swap in the fresh ``#dashboard`` from ``GET /``.
Each series line is downsampled in SQL to at most ``MAX_POINTS`` points.

Stable hooks for tests and scripts:

- ``#dashboard``: the root; ``data-revision`` (the revision it shows) and ``data-refresh-ms``.
- ``#summary`` (a paragraph of totals) and ``#requests-table`` (bulk requests by outcome).
- ``#rps``: the requests-per-second timeline (bulk and reads together), with ``data-limit``
  (requests/s, 0 for none), ``data-requests`` and ``data-throttled`` (429s); inside it,
  ``svg#rps-chart`` with one ``rect.ok`` / ``rect.throttled`` per time bin, a
  ``line.limit`` and ``line.throttled-mark`` under each bin that had a 429.
- ``#series-grid``: one ``figure.series`` per device and variable, sorted, with
  ``data-device``, ``data-variable``, ``data-dots`` and ``data-duplicates``; inside it
  ``svg.chart`` with ``g.x-axis`` (time, UTC), ``g.y-axis`` (value), and a
  ``polyline.line`` (or one ``circle.point`` for a single dot).
- ``#empty``: shown instead of the grid while no dot is stored.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from html import escape
from typing import Any, NamedTuple

from airflow_provider_bulkdots.emulator.store import Series, Store

MAX_POINTS = 500
MIN_RPS_SPAN_MS = 60_000  # the timeline shows at least a minute, so one bar is one bar wide
REFRESH_MS = 1000
WIDTH, HEIGHT = 460, 210
RPS_WIDTH, RPS_HEIGHT = 1100, 190
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 10, 30
_MINUTE, _HOUR, _DAY = 60, 3600, 86400
_TIME_STEPS_S = (
    *(1, 2, 5, 10, 15, 30),
    *(m * _MINUTE for m in (1, 2, 5, 10, 15, 30)),
    *(h * _HOUR for h in (1, 2, 3, 6, 12)),
    *(d * _DAY for d in (1, 2, 7, 14)),
)

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.2rem;color:#222;background:#fff}
h1{margin:.2rem 0} h2{font-size:1rem;margin:.2rem 0}
table{border-collapse:collapse;margin:.4rem 0 1rem}
td,th{border:1px solid #ccc;padding:.15rem .5rem;text-align:right} th{background:#f4f4f4}
td.l{text-align:left}
#series-grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(420px,1fr));gap:14px}
figure.series{margin:0;border:1px solid #ddd;border-radius:6px;padding:6px 8px;background:#fcfcfc}
figcaption{font-size:.85rem;margin-bottom:2px} figcaption .n{color:#666}
svg.chart{width:100%;height:auto;display:block}
.axis line,.axis path{stroke:#999} .axis text{font-size:10px;fill:#555}
.grid line{stroke:#eee}
polyline.line{fill:none;stroke:#1f6feb;stroke-width:1.5} circle.point{fill:#1f6feb}
rect.ok{fill:#1f6feb} rect.throttled{fill:#d1242f}
line.limit{stroke:#bf8700;stroke-width:1.5;stroke-dasharray:6 4}
text.limit{fill:#bf8700;font-size:11px} line.throttled-mark{stroke:#d1242f;stroke-width:2}
.legend{font-size:.8rem;color:#555} .legend b.ok{color:#1f6feb} .legend b.t{color:#d1242f}
"""

_SCRIPT = """
(function () {
  var root = document.getElementById("dashboard");
  var every = Number(root.dataset.refreshMs) || 1000;
  function tick() {
    fetch("/dashboard/revision", {cache: "no-store"})
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.revision === root.dataset.revision) { return null; }
        return fetch("/", {cache: "no-store"}).then(function (r) { return r.text(); })
          .then(function (page) {
            var doc = new DOMParser().parseFromString(page, "text/html");
            var fresh = doc.getElementById("dashboard");
            if (fresh) {
              root.innerHTML = fresh.innerHTML;
              root.dataset.revision = fresh.dataset.revision;
            }
          });
      })
      .catch(function () {})
      .then(function () { setTimeout(tick, every); });
  }
  setTimeout(tick, every);
})();
"""


class Frame(NamedTuple):
    """A chart's drawing area in SVG units, and the data ranges it maps."""

    width: int
    height: int
    t0: float
    t1: float
    v0: float
    v1: float

    def x(self, t: float) -> float:
        span = (self.t1 - self.t0) or 1
        return LEFT + (t - self.t0) / span * (self.width - LEFT - RIGHT)

    def y(self, v: float) -> float:
        span = (self.v1 - self.v0) or 1
        return self.height - BOTTOM - (v - self.v0) / span * (self.height - TOP - BOTTOM)


def nice_step(span: float, ticks: int = 4) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten giving about ``ticks`` intervals."""
    raw = span / ticks if span > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def value_range(low: float, high: float) -> tuple[float, float, float]:
    """The axis range rounded out to whole steps, and the step (a flat series gets ±1)."""
    if low == high:
        low, high = low - 1, high + 1
    step = nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step, step


def _utc(ms: float) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


def _time_format(step_s: int, t0_ms: float, t1_ms: float) -> str:
    if step_s < 60:
        return "%H:%M:%S"
    if step_s < _DAY:
        return "%H:%M" if _utc(t0_ms).date() == _utc(t1_ms).date() else "%m-%d %H:%M"
    return "%Y-%m-%d"


def _month_ticks(t0_ms: float, t1_ms: float) -> list[tuple[float, str]]:
    """First days of months, every 1, 3, 6, 12, 24, 60 or 120 months: at most 6 ticks."""
    start, end = _utc(t0_ms), _utc(t1_ms)
    months = (end.year - start.year) * 12 + end.month - start.month
    step = next((m for m in (1, 3, 6, 12, 24, 60, 120) if months / m <= 5), 240)
    index = math.ceil((start.year * 12 + start.month - 1) / step) * step
    ticks: list[tuple[float, str]] = []
    while len(ticks) < 7:
        moment = datetime(index // 12, index % 12 + 1, 1, tzinfo=timezone.utc)
        at = moment.timestamp() * 1000
        if at > t1_ms:
            break
        if at >= t0_ms:
            ticks.append((at, moment.strftime("%Y-%m-%d" if step < 12 else "%Y")))
        index += step
    return ticks


def time_ticks(t0_ms: float, t1_ms: float) -> list[tuple[float, str]]:
    """Tick instants (ms, on whole UTC steps: seconds to weeks, then months) and labels."""
    span_s = max((t1_ms - t0_ms) / 1000, 1)
    step_s = next((s for s in _TIME_STEPS_S if span_s / s <= 5), 0)
    if not step_s:
        return _month_ticks(t0_ms, t1_ms)
    first = math.ceil(t0_ms / 1000 / step_s) * step_s
    fmt = _time_format(step_s, t0_ms, t1_ms)
    ticks: list[tuple[float, str]] = []
    for k in range(7):
        at = (first + k * step_s) * 1000
        if at > t1_ms:
            break
        ticks.append((at, _utc(at).strftime(fmt)))
    return ticks


def _x_axis(frame: Frame, ticks: list[tuple[float, str]]) -> str:
    base = frame.height - BOTTOM
    parts = [f'<line x1="{LEFT}" y1="{base}" x2="{frame.width - RIGHT}" y2="{base}"/>']
    for at, label in ticks:
        x = frame.x(at)
        anchor = "end" if x > frame.width - RIGHT - 30 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}"/>'
            f'<text x="{x:.1f}" y="{base + 15}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    return f'<g class="axis x-axis">{"".join(parts)}</g>'


def _y_axis(frame: Frame, step: float) -> str:
    parts = [f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{frame.height - BOTTOM}"/>']
    grid = []
    count = round((frame.v1 - frame.v0) / step)
    for k in range(count + 1):
        value = frame.v0 + k * step
        y = frame.y(value)
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}"/>'
            f'<text x="{LEFT - 6}" y="{y + 3:.1f}" text-anchor="end">{value:g}</text>'
        )
        grid.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{frame.width - RIGHT}" y2="{y:.1f}"/>')
    return f'<g class="grid">{"".join(grid)}</g><g class="axis y-axis">{"".join(parts)}</g>'


def _series_chart(series: Series, points: list[tuple[float, float]]) -> str:
    v0, v1, step = value_range(series.min_value, series.max_value)
    t0, t1 = float(series.first_ms), float(series.last_ms)
    if t0 == t1:
        t0, t1 = t0 - 1000, t1 + 1000
    frame = Frame(WIDTH, HEIGHT, t0, t1, v0, v1)
    coords = [(frame.x(t), frame.y(v)) for t, v in points]
    if len(coords) == 1:
        mark = f'<circle class="point" cx="{coords[0][0]:.1f}" cy="{coords[0][1]:.1f}" r="3"/>'
    else:
        line = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        mark = f'<polyline class="line" points="{line}"/>'
    label = escape(f"{series.device}/{series.variable}")
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label}">'
        f"<title>{label}</title>{_y_axis(frame, step)}"
        f"{_x_axis(frame, time_ticks(t0, t1))}{mark}</svg>"
    )


def _short_time(ms: float) -> str:
    """UTC, without the parts that are zero: ``2024-01-01 00:00Z``, ``... 00:00:01.500Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
    return moment.strftime("%Y-%m-%d %H:%M:%S" if moment.second else "%Y-%m-%d %H:%M") + "Z"


def _series_card(series: Series, points: list[tuple[float, float]]) -> str:
    duplicates = series.dots - series.unique_timestamps
    return (
        f'<figure class="series" data-device="{escape(series.device)}" '
        f'data-variable="{escape(series.variable)}" data-dots="{series.dots}" '
        f'data-duplicates="{duplicates}"><figcaption><b>{escape(series.device)}</b> / '
        f"{escape(series.variable)}<br><span class='n'>{series.dots} dots, {duplicates} "
        f"duplicates; {_short_time(series.first_ms)} to {_short_time(series.last_ms)}; "
        f"values {series.min_value:g} to {series.max_value:g}</span></figcaption>"
        f"{_series_chart(series, points)}</figure>"
    )


def _rps_bars(frame: Frame, width_ms: int, bins: list[tuple[int, int, int]]) -> str:
    seconds = width_ms / 1000
    bar = max(frame.x(width_ms) - frame.x(0) - 1, 1.0)
    parts = []
    for start, total, throttled in bins:
        if not total:
            continue
        x = frame.x(start)
        ok_top, all_top = frame.y((total - throttled) / seconds), frame.y(total / seconds)
        base = frame.height - BOTTOM
        parts.append(f'<rect class="ok" x="{x:.1f}" y="{ok_top:.1f}" width="{bar:.1f}" '
                     f'height="{base - ok_top:.1f}"/>')  # fmt: skip
        if throttled:
            parts.append(
                f'<rect class="throttled" x="{x:.1f}" y="{all_top:.1f}" width="{bar:.1f}" '
                f'height="{ok_top - all_top:.1f}"><title>{throttled} answered 429</title></rect>'
                f'<line class="throttled-mark" x1="{x:.1f}" y1="{base + 1}" '
                f'x2="{x + bar:.1f}" y2="{base + 1}"/>'
            )
    return "".join(parts)


def _rps_section(store: Store, limit: float) -> str:
    width_ms, bins = store.request_timeline()
    total = sum(b[1] for b in bins)
    throttled = sum(b[2] for b in bins)
    seconds = width_ms / 1000
    peak = max([b[1] / seconds for b in bins] + [limit, 1.0])
    v0, v1, step = value_range(0, peak * 1.1)
    t0 = bins[0][0] if bins else 0
    t1 = max(bins[-1][0] + width_ms if bins else 0, t0 + MIN_RPS_SPAN_MS)
    frame = Frame(RPS_WIDTH, RPS_HEIGHT, t0, t1, v0, v1)
    limit_mark = ""
    if limit:
        y = frame.y(limit)
        limit_mark = (
            f'<line class="limit" x1="{LEFT}" y1="{y:.1f}" x2="{RPS_WIDTH - RIGHT}" '
            f'y2="{y:.1f}"/><text class="limit" x="{RPS_WIDTH - RIGHT - 4}" y="{y - 4:.1f}" '
            f'text-anchor="end">limit {limit:g}/s</text>'
        )
    per = "second" if width_ms == 1000 else f"{width_ms // 1000} s bin (average per second)"
    return (
        f'<section id="rps" data-limit="{limit:g}" data-requests="{total}" '
        f'data-throttled="{throttled}"><h2>Requests per second</h2><div class="legend">'
        f"{total} requests (bulk and reads), <b class='t'>{throttled} answered 429</b> in red, "
        f"<b class='ok'>the others</b> in blue; one bar per {per}; limit "
        f"{f'{limit:g}/s' if limit else 'none'}.</div>"
        f'<svg id="rps-chart" class="chart" viewBox="0 0 {RPS_WIDTH} {RPS_HEIGHT}" '
        f'role="img" aria-label="requests per second">{_y_axis(frame, step)}'
        f"{_x_axis(frame, time_ticks(t0, t1))}{_rps_bars(frame, width_ms, bins)}"
        f"{limit_mark}</svg></section>"
    )


def _summary(stats: dict[str, Any], variables: int) -> str:
    rows = "".join(
        f"<tr><td class='l'>{escape(status)}</td><td>{n}</td></tr>"
        for status, n in stats["requests"].items()
    )
    return (
        f"<p id='summary'>{stats['dots']} dots ({stats['unique_dots']} unique, "
        f"{stats['duplicates']} duplicates) on {stats['devices']} devices, "
        f"{variables} variables; {stats['bodies']} bodies stored, "
        f"largest body {stats['largest_body']} bytes.</p>"
        "<table id='requests-table'><tr><th>bulk requests by outcome</th><th>count</th></tr>"
        f"{rows}</table>"
    )


def render(store: Store, rate_limit: float) -> str:
    """The whole dashboard page as HTML."""
    revision = store.revision()
    stats = store.stats()
    all_series = store.series()
    points = store.downsampled(MAX_POINTS)
    cards = "".join(_series_card(s, points.get((s.device, s.variable), [])) for s in all_series)
    grid = (
        f'<div id="series-grid">{cards}</div>' if cards else '<p id="empty">No dots stored yet.</p>'
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>bulkdots emulator</title><style>{_CSS}</style></head><body>"
        f'<div id="dashboard" data-revision="{revision}" data-refresh-ms="{REFRESH_MS}">'
        f"<h1>bulkdots emulator</h1>{_summary(stats, len(all_series))}"
        f"{_rps_section(store, rate_limit)}<h2>Series</h2>{grid}</div>"
        f"<script>{_SCRIPT}</script></body></html>"
    )
