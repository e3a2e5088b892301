"""Fuzzing the parsers of untrusted data: whatever the bytes, the core answers with bodies
and invalid rows, never with an unexpected exception, and every body stays within the limit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.dots.errors import RowRejected
from airflow_provider_bulkdots.dots.numbers import to_number
from airflow_provider_bulkdots.dots.timestamps import TimestampNormaliser
from airflow_provider_bulkdots.sources import open_dataset

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ANY_CELL = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.datetimes(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@FUZZ
@given(value=ANY_CELL, unit=st.sampled_from(["s", "ms", "us", "ns"]))
def test_timestamps_parse_or_reject(value: object, unit: str) -> None:
    normalise = TimestampNormaliser("timestamp", unit, dt.timezone.utc)
    try:
        millis = normalise(value)
    except RowRejected as error:
        assert error.field == "timestamp"
        assert error.rule
    else:
        assert isinstance(millis, int)
        assert millis >= 0


@FUZZ
@given(value=ANY_CELL, missing_allowed=st.booleans())
def test_numbers_parse_or_reject(value: object, missing_allowed: bool) -> None:
    try:
        number = to_number(value, "temperature", missing_allowed)
    except RowRejected as error:
        assert error.field == "temperature"
    else:
        if number.__class__.__name__ != "Missing":
            assert isinstance(number, int | float)
            assert number == number  # not NaN
            assert number not in (float("inf"), float("-inf"))


def _assert_valid_bodies(rows: object, layout: str, max_body: int) -> Report:
    report = Report()
    options = ReshapeOptions(layout=layout, max_body_bytes=max_body, on_invalid="skip")  # type: ignore[arg-type]
    for body in build_bodies(rows, options, report):  # type: ignore[arg-type]
        assert body.size <= max_body
        decoded = msgspec.json.decode(body.payload)
        assert isinstance(decoded, list)
        assert decoded
    assert report.rows_read >= report.rejected_rows
    return report


@FUZZ
@given(
    rows=st.lists(st.dictionaries(st.text(max_size=12), ANY_CELL, max_size=6), max_size=20),
    layout=st.sampled_from(["wide", "long", "records"]),
)
def test_arbitrary_rows_give_valid_bodies_or_named_rejections(
    rows: list[dict[str, object]], layout: str
) -> None:
    report = _assert_valid_bodies(rows, layout, 400)
    for rejected in report.rejected_sample:
        assert 1 <= rejected.row_number <= len(rows)
        assert rejected.rule


@FUZZ
@given(content=st.binary(max_size=2000), kind=st.sampled_from(["csv", "jsonl"]))
def test_arbitrary_files_give_valid_bodies_or_named_rejections(
    tmp_path_factory: object, content: bytes, kind: str
) -> None:
    directory: Path = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    path = directory / f"data.{kind}"
    path.write_bytes(content)
    dataset = open_dataset(str(path))
    try:
        rows = list(dataset.rows())
    except UnicodeDecodeError:
        return  # not text: the CSV reader refuses the file as a whole, with Python's message
    _assert_valid_bodies(rows, "wide" if kind == "csv" else "records", 1000)
