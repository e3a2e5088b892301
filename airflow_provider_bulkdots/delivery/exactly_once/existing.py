"""``skip_existing``: send only the dots their series do not hold yet.

Before the first request, each series of the dataset is read back over the dataset's time span
for that series (paged, at the token's pace), and every dot whose series already holds a value
at its timestamp is left out of its body; a body left empty is not sent. The cost is one read
request per series plus one per further page of ``PAGE_SIZE`` dots it already holds in that
span. Pure of Airflow.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.payload import iter_dots, payload_without, series_spans

Series = tuple[str, str]


def collect_spans(bodies: Iterable[Body], spans: dict[Series, tuple[int, int]]) -> Iterator[Body]:
    """Pass bodies through, widening ``spans`` to cover every series' timestamps."""
    for body in bodies:
        for series, (low, high) in series_spans(body.payload).items():
            known = spans.get(series)
            spans[series] = (
                (low, high) if known is None else (min(known[0], low), max(known[1], high))
            )
        yield body


def read_existing(
    reader: SeriesReader, spans: dict[Series, tuple[int, int]]
) -> dict[Series, set[int]]:
    """The timestamps each series already holds within its span."""
    return {
        series: reader.timestamps(series[0], series[1], low, high)
        for series, (low, high) in sorted(spans.items())
    }


def drop_existing(
    bodies: Iterable[Body], existing: dict[Series, set[int]], skipped: list[int]
) -> Iterator[Body]:
    """Bodies without the dots already stored (``skipped[0]`` counts them); empty ones dropped."""

    def found(key: tuple[str, str, int]) -> bool:
        return key[2] in existing.get(key[:2], ())

    for body in bodies:
        keys = [dot.key for dot in iter_dots(body.payload)]
        hits = sum(1 for key in keys if found(key))
        if not hits:
            yield body
            continue
        skipped[0] += hits
        if hits < len(keys):
            yield Body(body.seq, payload_without(body.payload, found), len(keys) - hits)
