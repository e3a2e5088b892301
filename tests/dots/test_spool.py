"""checked_bodies and its spool: on_invalid="fail" sends all or nothing, bodies unchanged."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_bulkdots.dots import (
    Body,
    InvalidRowsError,
    Report,
    ReshapeOptions,
    build_bodies,
    checked_bodies,
)
from airflow_provider_bulkdots.dots.spool import spool_bodies

OPTIONS = ReshapeOptions(max_body_bytes=1_000, on_invalid="fail")
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def rows(count: int, bad_at: int | None = None) -> list[dict[str, Any]]:
    made = [
        {
            "device": f"meter-{index % 4}",
            "timestamp": START + dt.timedelta(seconds=index),
            "power": index * 1.5,
            "voltage": 230 + index % 7,
        }
        for index in range(count)
    ]
    if bad_at is not None:
        made[bad_at]["power"] = "ERR"
    return made


def test_bodies_read_back_identical_and_in_order() -> None:
    direct = list(build_bodies(rows(500), OPTIONS))

    spooled = list(spool_bodies(build_bodies(rows(500), OPTIONS)))

    assert len(direct) > 5
    assert spooled == direct
    assert [body.body_id for body in spooled] == [body.body_id for body in direct]
    assert [body.seq for body in spooled] == list(range(len(direct)))


def test_invalid_rows_raise_before_a_single_body_is_returned() -> None:
    handed_out: list[Body] = []

    def watched(bodies: Iterator[Body]) -> Iterator[Body]:
        for body in bodies:
            handed_out.append(body)
            yield body

    report = Report()
    # The bad row is the last one: every valid body was built before the error is known.
    source = watched(build_bodies(rows(500, bad_at=499), OPTIONS, report))

    with pytest.raises(InvalidRowsError) as caught:
        spool_bodies(source)

    assert len(handed_out) > 5  # built and spooled, but never returned to the caller
    assert caught.value.total == 1
    (row,) = caught.value.rows
    assert (row.row_number, row.field, row.value) == (500, "power", "ERR")
    assert "1 invalid row(s); nothing was sent" in str(caught.value)


def test_an_empty_stream_spools_to_nothing() -> None:
    assert list(spool_bodies(iter(()))) == []


def test_large_payloads_survive_the_round_trip() -> None:
    bodies = [
        Body(seq=0, payload=b"[" + b"x" * 70_000 + b"]", dot_count=1),
        Body(seq=1, payload=b"[]", dot_count=0),
        Body(seq=7, payload=bytes(range(256)) * 40, dot_count=2**33),
    ]

    assert list(spool_bodies(bodies)) == bodies


def test_checked_bodies_in_fail_mode_raise_before_handing_out_one() -> None:
    """The one guarantee every caller (Hook and Operator) relies on."""
    report = Report()
    with pytest.raises(InvalidRowsError):
        checked_bodies(rows(500, bad_at=499), OPTIONS, report)
    assert report.bodies > 5, "every valid body was built before the error was known"


def test_checked_bodies_in_fail_mode_are_the_built_bodies() -> None:
    assert list(checked_bodies(rows(300), OPTIONS)) == list(build_bodies(rows(300), OPTIONS))


def test_checked_bodies_in_skip_mode_stream_and_leave_out_bad_rows() -> None:
    skip = ReshapeOptions(max_body_bytes=1_000, on_invalid="skip")
    report = Report()
    bodies = checked_bodies(rows(6000, bad_at=0), skip, report)
    first = next(bodies)
    assert report.rows_read < 6000, "skip mode streams: the input is not read ahead"
    rest = list(bodies)
    assert report.invalid_rows == 1
    assert sum(b.dot_count for b in [first, *rest]) == 2 * 5999
