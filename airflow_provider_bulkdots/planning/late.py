"""Late data: with ``incremental=True, lag=...``, readings up to ``lag`` behind their series'
watermark are sent only when the API does not hold them yet.

The watermarks let through every reading newer than ``watermark - lag``; of those, the ones
at or before the watermark (the *late window*) may already be stored. Every body is first
held on local disk (see :mod:`..dots.spool`) while the late window's span of each series is
collected; then each series with late readings is read back over that span only (paged, at
the token's pace) and the dots it holds are left out; a body left empty is not sent. Series
without late readings cost no read. Pure of Airflow.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Protocol

from airflow_provider_bulkdots.delivery.exactly_once.existing import drop_existing, read_existing
from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.dots import Body
from airflow_provider_bulkdots.dots.payload import iter_dots
from airflow_provider_bulkdots.dots.spool import spool_bodies
from airflow_provider_bulkdots.exceptions import ConfigurationError

Series = tuple[str, str]
log = logging.getLogger(__name__)


def lag_ms(lag: object) -> int:
    """A lag as milliseconds: a ``timedelta`` (pendulum's Duration too), seconds as a number,
    or an ISO 8601 duration text (``"PT2H"``); ``None`` is 0."""
    if lag is None:
        return 0
    if isinstance(lag, str):
        lag = _iso_duration(lag)
    if isinstance(lag, dt.timedelta):
        millis = round(lag.total_seconds() * 1000)
    elif isinstance(lag, int | float) and not isinstance(lag, bool):
        millis = round(lag * 1000)
    else:
        raise ConfigurationError(
            f"lag must be a timedelta, seconds or ISO 8601 duration, got {lag!r}", setting="lag"
        )
    if millis < 0:
        raise ConfigurationError(f"lag must not be negative, got {lag!r}", setting="lag")
    return millis


def _iso_duration(text: str) -> dt.timedelta:
    import pendulum

    try:
        parsed = pendulum.parse(text)
    except ValueError as exc:
        raise ConfigurationError(f"lag: cannot read {text!r}: {exc}", setting="lag") from None
    if not isinstance(parsed, dt.timedelta):
        raise ConfigurationError(f"lag must be a duration, got {text!r}", setting="lag")
    return parsed


class LateCounts(Protocol):
    """Where the late window's cost and savings are added (the delivery's counts)."""

    read_requests: int
    skipped_existing_dots: int


def late_spans(
    bodies: Iterable[Body], marks: Mapping[Series, int], spans: dict[Series, tuple[int, int]]
) -> Iterator[Body]:
    """Pass bodies through, widening ``spans`` over each series' dots at or before its mark."""
    for body in bodies:
        for dot in iter_dots(body.payload):
            series = (dot.device, dot.variable)
            mark = marks.get(series)
            if mark is None or not isinstance(dot.timestamp, int | float):
                continue
            millis = int(dot.timestamp)
            if millis <= mark:
                low, high = spans.get(series, (millis, millis))
                spans[series] = (min(low, millis), max(high, millis))
        yield body


def without_held_late(
    bodies: Iterable[Body],
    marks: Mapping[Series, int],
    reader_of: Callable[[], SeriesReader],
    counts: LateCounts,
) -> Iterator[Body]:
    """The bodies without the late dots the API already holds (read back in the window only)."""
    spans: dict[Series, tuple[int, int]] = {}
    held = spool_bodies(late_spans(bodies, marks, spans))
    if not spans:
        return held
    reader = reader_of()
    existing = read_existing(reader, spans)
    counts.read_requests += reader.requests
    log.info(
        "lag: read %d series back over their late window in %d requests; %d dots held there.",
        len(spans),
        reader.requests,
        sum(len(found) for found in existing.values()),
    )
    skipped = [0]

    def counted() -> Iterator[Body]:
        yield from drop_existing(held, existing, skipped)
        counts.skipped_existing_dots += skipped[0]

    return counted()
