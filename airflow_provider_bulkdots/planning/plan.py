"""The plan of a load: what a real run would build and send, computed without a request.

The rows go through the very pipeline a real run uses (:func:`~..dots.build_bodies`), so the
plan's ``dots``, ``bodies`` and ``bytes`` are those of the real run's summary. ``requests`` is
the minimum a real run makes (one per body: no retry, no split), ``seconds_at_rate`` what
those take at the token's rate, and ``seconds_when_shared`` when ``shared_by`` tasks share
the token. Pure of Airflow.
"""

from __future__ import annotations

import builtins
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_bulkdots.delivery.exactly_once.existing import collect_spans
from airflow_provider_bulkdots.delivery.reporting.progress import format_duration
from airflow_provider_bulkdots.dots import Body, InvalidRowsError, Report, ReshapeOptions
from airflow_provider_bulkdots.dots.pipeline import build_bodies

Series = tuple[str, str]
#: How many invalid rows a plan names (the report counts them all).
REASONS_SHOWN = 10


@dataclass(frozen=True)
class Plan:
    """What a run would do with one input: counts, cost in time, and where the dots go."""

    rows: int
    dots: int
    bodies: int
    bytes: int
    requests: int
    invalid_rows: int
    invalid_reasons: list[str]
    would_fail: bool
    rate_limit: float
    seconds_at_rate: float | None
    shared_by: int
    seconds_when_shared: float | None
    devices: int
    variables: int
    series: dict[Series, tuple[int, int]] = field(repr=False)
    first_body: builtins.bytes | None = field(default=None, repr=False)

    @property
    def span(self) -> tuple[int, int] | None:
        """The first and last timestamp (ms) of all dots, or ``None`` without a dot."""
        if not self.series:
            return None
        return min(low for low, _ in self.series.values()), max(
            high for _, high in self.series.values()
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON-ready plan (the XCom ``plan``)."""
        span = self.span
        return {
            "rows": self.rows,
            "dots": self.dots,
            "bodies": self.bodies,
            "bytes": self.bytes,
            "requests": self.requests,
            "invalid_rows": self.invalid_rows,
            "invalid_reasons": list(self.invalid_reasons),
            "would_fail": self.would_fail,
            "rate_limit": self.rate_limit,
            "seconds_at_rate": self.seconds_at_rate,
            "shared_by": self.shared_by,
            "seconds_when_shared": self.seconds_when_shared,
            "devices": self.devices,
            "variables": self.variables,
            "series": len(self.series),
            "start": _iso(span[0]) if span else None,
            "end": _iso(span[1]) if span else None,
            "start_ms": span[0] if span else None,
            "end_ms": span[1] if span else None,
            # deprecated: the old names of invalid_rows and invalid_reasons (docs/glossary.md)
            "rejected_rows": self.invalid_rows,
            "rejected_reasons": list(self.invalid_reasons),
        }

    def describe(self) -> list[str]:
        """The plan as lines for a log or a terminal."""
        span = self.span
        lines = [
            f"{self.rows} rows -> {self.dots} dots in {self.bodies} bodies "
            f"({self.bytes} bytes), at least {self.requests} requests",
            f"{self.devices} devices, {self.variables} variables, {len(self.series)} series"
            + (f", from {_iso(span[0])} to {_iso(span[1])}" if span else ""),
        ]
        if self.seconds_at_rate is not None:
            lines.append(
                f"{_duration(self.seconds_at_rate)} at {self.rate_limit:g} requests/s"
                + (
                    f", {_duration(self.seconds_when_shared)} when {self.shared_by} tasks "
                    "share the token"
                    if self.seconds_when_shared is not None and self.shared_by > 1
                    else ""
                )
            )
        if self.invalid_rows:
            verdict = "the run would fail, sending nothing" if self.would_fail else "skipped"
            lines.append(f"{self.invalid_rows} invalid row(s) ({verdict}); the first:")
            lines += [f"  {reason}" for reason in self.invalid_reasons]
        return lines


def plan_as_dict(plan: Plan, *, reads_first: bool = False, replace: bool = False) -> dict[str, Any]:
    """The plan's dict (the operator's XCom ``plan``), with what it cannot know without
    reading the API said: ``reads_first`` (``skip_existing``, or ``incremental`` with a
    ``lag``: the run sends at most these dots); ``replace``: the deletes, and one delete and
    at least one read-back per series before the writes."""
    pushed = plan.as_dict()
    if reads_first:
        pushed["note"] = (
            "skip_existing or lag read the API before sending: the run sends at most these dots"
        )
    if replace:
        pushed["deletes"] = planned_deletes(plan)
        pushed["requests"] += 2 * len(plan.series)
        if plan.rate_limit > 0:
            seconds = pushed["requests"] / plan.rate_limit
            pushed["seconds_at_rate"] = round(seconds, 3)
            pushed["seconds_when_shared"] = round(seconds * plan.shared_by, 3)
    return pushed


def planned_deletes(plan: Plan) -> list[dict[str, Any]]:
    """What ``replace=True`` would delete first: each series' values in its own span."""
    return [
        {"device": device, "variable": variable, "start_ms": low, "end_ms": high}
        for (device, variable), (low, high) in sorted(plan.series.items())
    ]


def make_plan(
    rows: Iterable[Any],
    options: ReshapeOptions,
    *,
    rate_limit: float,
    shared_by: int = 1,
    report: Report | None = None,
) -> Plan:
    """Read and reshape ``rows`` as a run would, keep the counts, send nothing."""
    if shared_by < 1:
        raise ValueError(f"shared_by must be at least 1, got {shared_by!r}")
    report = report if report is not None else Report()
    spans: dict[Series, tuple[int, int]] = {}
    first: list[bytes] = []
    would_fail = False
    try:
        for body in collect_spans(_first_kept(build_bodies(rows, options, report), first), spans):
            del body  # counted by the report as it is built
    except InvalidRowsError:
        would_fail = True
    return _plan_of(report, spans, first, would_fail, rate_limit, shared_by)


def _first_kept(bodies: Iterator[Body], first: list[bytes]) -> Iterator[Body]:
    for body in bodies:
        if not first:
            first.append(body.payload)
        yield body


def _plan_of(
    report: Report,
    spans: dict[Series, tuple[int, int]],
    first: list[bytes],
    would_fail: bool,
    rate_limit: float,
    shared_by: int,
) -> Plan:
    requests = report.bodies
    seconds = requests / rate_limit if rate_limit > 0 else None
    return Plan(
        rows=report.rows_read,
        dots=report.dots,
        bodies=report.bodies,
        bytes=report.bytes,
        requests=requests,
        invalid_rows=report.invalid_rows,
        invalid_reasons=[str(row) for row in report.invalid_sample[:REASONS_SHOWN]],
        would_fail=would_fail,
        rate_limit=rate_limit,
        seconds_at_rate=None if seconds is None else round(seconds, 3),
        shared_by=shared_by,
        seconds_when_shared=None if seconds is None else round(seconds * shared_by, 3),
        devices=len({device for device, _ in spans}),
        variables=len({variable for _, variable in spans}),
        series=dict(sorted(spans.items())),
        first_body=first[0] if first else None,
    )


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 60 else format_duration(seconds)


def _iso(millis: int) -> str:
    moment = dt.datetime.fromtimestamp(millis / 1000, tz=dt.timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
