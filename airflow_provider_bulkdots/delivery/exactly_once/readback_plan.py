"""Plan the read-back of many bodies at once: each series read once over the spans that need it.

A resumed try may find many bodies whose reply was lost (those in the killed try's window and
spool). Reading every series of every body back costs a request per series per body (18 bodies
of 6 series: 108 reads, at the token's pace). Bodies cut from one input share their series and
follow each other in time, so the spans of one series are merged: two neighbouring spans are
read as one when the gap between them, at the density of their own dots, holds less than a page
of dots (a separate read costs a request at least; reading through the gap costs at most one
page more). Overlapping spans always merge. Pure of Airflow.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from airflow_provider_bulkdots.dots.payload import iter_dots

Series = tuple[str, str]


@dataclass(frozen=True, slots=True)
class SeriesRead:
    """One read of a series over ``[start, end]`` (ms, both ends included)."""

    device: str
    variable: str
    start: int
    end: int


@dataclass(slots=True)
class _Span:
    start: int
    end: int
    dots: int

    def gap_dots(self, after: _Span) -> float:
        """About how many dots lie between this span and ``after`` (their own density)."""
        width = (self.end - self.start) + (after.end - after.start)
        if width <= 0:  # single instants: no density to go by
            return float("inf")
        density = max(1, self.dots + after.dots - 2) / width
        return (after.start - self.end) * density


def series_stamps(payload: bytes) -> dict[Series, list[int]]:
    """The timestamps (ms) of each series in one payload."""
    stamps: dict[Series, list[int]] = defaultdict(list)
    for dot in iter_dots(payload):
        timestamp = dot.timestamp if isinstance(dot.timestamp, int | float) else -1
        stamps[(dot.device, dot.variable)].append(int(timestamp))
    return stamps


def merge_spans(spans: Iterable[tuple[int, int, int]], page_size: int) -> list[tuple[int, int]]:
    """``(start, end, dots)`` spans of one series merged where one read costs less than two."""
    merged: list[_Span] = []
    for start, end, dots in sorted(spans):
        span = _Span(start, end, dots)
        last = merged[-1] if merged else None
        if last is not None and (span.start <= last.end or last.gap_dots(span) < page_size):
            last.end, last.dots = max(last.end, span.end), last.dots + span.dots
        else:
            merged.append(span)
    return [(span.start, span.end) for span in merged]


def plan_reads(payloads: Iterable[bytes], page_size: int) -> list[SeriesRead]:
    """The reads that cover every series of ``payloads`` over its spans, in series order."""
    spans: dict[Series, list[tuple[int, int, int]]] = defaultdict(list)
    for payload in payloads:
        for series, stamps in series_stamps(payload).items():
            spans[series].append((min(stamps), max(stamps), len(stamps)))
    return [
        SeriesRead(device, variable, start, end)
        for (device, variable) in sorted(spans)
        for start, end in merge_spans(spans[(device, variable)], page_size)
    ]


__all__ = ["SeriesRead", "merge_spans", "plan_reads", "series_stamps"]
