"""Fuzzing the parsers of untrusted data: whatever the bytes, the core answers with bodies
and invalid rows, never with an unexpected exception, and every body stays within the limit."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import msgspec
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.dots.errors import DatasetError, RowRejected
from airflow_provider_bulkdots.dots.numbers import to_number
from airflow_provider_bulkdots.dots.timestamps import TimestampNormaliser
from airflow_provider_bulkdots.sources import ReadOptions, open_dataset

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
    assert report.rows_read >= report.invalid_rows
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
    for rejected in report.invalid_sample:
        assert 1 <= rejected.row_number <= len(rows)
        assert rejected.rule


@FUZZ
@given(content=st.binary(max_size=2000), kind=st.sampled_from(["csv", "jsonl"]))
@example(content=b'"\x80"', kind="jsonl")  # not UTF-8 inside a JSON string (msgspec raised)
@example(content=b'{"a": 1}\n{"a": "\x80"}\n', kind="jsonl")
def test_arbitrary_files_give_valid_bodies_or_named_rejections(
    tmp_path_factory: object, content: bytes, kind: str
) -> None:
    directory: Path = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    path = directory / f"data.{kind}"
    path.write_bytes(content)
    try:
        dataset = open_dataset(str(path))
        rows = list(dataset.rows())
    except DatasetError as error:
        assert str(error).startswith(str(path))  # refused as a whole, naming the file
        return
    _assert_valid_bodies(rows, "wide" if kind == "csv" else "records", 1000)


CSV_PIECES = [*'abc019.,;"\t\r\n -:TZ', "NA", "true", "\ufeff", "é"]
CSV_ALPHABET = st.sampled_from(CSV_PIECES)


@FUZZ
@given(
    content=st.lists(CSV_ALPHABET, max_size=300).map("".join),
    name=st.sampled_from(["data.csv", "data.csv.gz", "data.jsonl", "data.json", "data.jsonl.bz2"]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    decimal=st.sampled_from([".", ","]),
)
def test_text_like_files_in_every_container_give_bodies_rows_or_one_named_error(
    tmp_path_factory: object, content: str, name: str, delimiter: str, decimal: str
) -> None:
    """CSV-ish and JSON-ish text, plain or compressed, with any delimiter and decimal mark:
    bodies within the limit and invalid rows numbered inside the file, or one error naming
    the file. Never a crash, never a row number or line outside the file."""
    import bz2
    import gzip

    directory: Path = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    path = directory / name
    raw = content.encode()
    if name.endswith(".gz"):
        raw = gzip.compress(raw)
    elif name.endswith(".bz2"):
        raw = bz2.compress(raw)
    path.write_bytes(raw)
    if delimiter == decimal:
        return
    options = ReshapeOptions(on_invalid="skip", decimal=decimal, max_body_bytes=1000)
    try:
        dataset = open_dataset(str(path), options=options, reading=ReadOptions(delimiter=delimiter))
        rows = list(dataset.rows())
    except DatasetError as error:
        assert str(error).startswith(str(path))
        return
    report = Report(line_of=dataset.line_of)
    for body in build_bodies(rows, options, report):
        assert body.size <= 1000
        assert msgspec.json.decode(body.payload)
    lines = content.count("\n") + content.count("\r") + 1
    for rejected in report.invalid_sample:
        assert 1 <= rejected.row_number <= len(rows)
        assert rejected.line is None or 1 <= rejected.line <= lines


HOSTILE_PIECES = st.sampled_from(
    [
        *CSV_PIECES,
        "\n" * 70,  # a run of blank lines, skipped whole
        "\r\n" * 40,
        " \n" * 40,
        "9" * 700,  # long lines against a limit of 1,024 bytes
        "[" * 1100,  # nesting deeper than the parser reads
        "\x00",
        "\xe9",
    ]
)


@FUZZ
@given(
    content=st.lists(HOSTILE_PIECES, max_size=60).map("".join),
    name=st.sampled_from(["data.csv", "data.csv.gz", "data.jsonl", "data.jsonl.xz"]),
    encoding=st.sampled_from(["utf-8", "latin-1"]),
    cut=st.none() | st.integers(min_value=0, max_value=400),
)
def test_hostile_files_within_small_limits_give_rows_or_one_named_error(
    tmp_path_factory: object, content: str, name: str, encoding: str, cut: int | None
) -> None:
    """Long lines, blank runs, deep nesting, bytes that are not UTF-8 and compressed files cut
    short, read within a line limit of 1 KiB: rows numbered inside the file, or one error
    naming the file. Never a crash, a bare decompression error or a RecursionError."""
    import gzip
    import lzma

    from airflow_provider_bulkdots.sources import LineLimits

    directory: Path = tmp_path_factory.mktemp("fuzz")  # type: ignore[attr-defined]
    path = directory / name
    raw = content.encode(encoding, "replace")
    if name.endswith(".gz"):
        raw = gzip.compress(raw)
    elif name.endswith(".xz"):
        raw = lzma.compress(raw)
    if cut is not None and name.endswith((".gz", ".xz")):
        raw = raw[:cut]
    path.write_bytes(raw)
    limits = LineLimits(max_line_bytes=1024, max_field_chars=1024, max_bad_lines=5)
    options = ReshapeOptions(on_invalid="skip", max_body_bytes=1000)
    try:
        dataset = open_dataset(str(path), options=options, reading=ReadOptions(limits=limits))
        rows = list(dataset.rows())
    except DatasetError as error:
        assert str(error).startswith(str(path))
        return
    report = Report(line_of=dataset.line_of)
    for body in build_bodies(rows, options, report):
        assert body.size <= 1000
    lines = content.count("\n") + content.count("\r") + 1
    for rejected in report.invalid_sample:
        assert 1 <= rejected.row_number <= len(rows)
        assert rejected.line is None or 1 <= rejected.line <= lines


def test_a_json_line_that_is_not_utf8_is_rejected_by_its_line_and_the_rest_kept(
    tmp_path: Path,
) -> None:
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"device": "d", "t": 1}\n{"device": "d", "t": "\x80"}\n{"device": "d"}\n')
    rows = list(open_dataset(str(path)).rows())
    assert rows[0] == {"device": "d", "t": 1} and rows[2] == {"device": "d"}
    assert "not UTF-8 text at byte" in rows[1].error
