"""How the core reads what real exports hold: pandas' conventions for text, DST-safe local
times, plausible epochs, float32 and integral floats, and the final check on every body."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any
from unittest import mock

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.dots import (
    DotsOptionsError,
    InvalidRowsError,
    Report,
    ReshapeOptions,
    build_bodies,
    wide,
)
from airflow_provider_bulkdots.dots.encoding import check_body_payload
from airflow_provider_bulkdots.dots.errors import InvalidRow, UnsafeBodyError
from airflow_provider_bulkdots.dots.text import DEFAULT_NA_VALUES
from tests.dots.helpers import assert_valid_bodies, decode_dots

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")

T = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000


def reshape(rows: list[Any], **options: Any) -> tuple[list[tuple[Any, ...]], list[InvalidRow]]:
    options.setdefault("on_invalid", "skip")
    seen: list[InvalidRow] = []
    opts = ReshapeOptions(**options)
    bodies = list(build_bodies(rows, opts, Report(on_invalid_row=seen.append)))
    assert_valid_bodies(bodies, opts.max_body_bytes)
    return decode_dots(bodies), seen


def rules(rows: list[Any], **options: Any) -> list[tuple[int, str, str]]:
    return [(r.row_number, r.field, r.rule) for r in reshape(rows, **options)[1]]


@contextmanager
def slow_path_only() -> Iterator[None]:
    with mock.patch.object(wide._FastPath, "build", classmethod(lambda *args, **kw: None)):
        yield


# ------------------------------------------------------------------------------ timestamps


def test_a_compact_date_read_as_epoch_milliseconds_is_refused_with_a_hint() -> None:
    [(row, field, rule)] = rules([{"device": "d", "timestamp": "19580329", "t": 1}])
    assert (row, field) == (1, "timestamp")
    assert rule == (
        "as an epoch number in unit 'ms' this is 1970-01-01T05:26:20.329000+00:00, before "
        "1971: set timestamp_unit to the unit the numbers are in, or timestamp_format "
        "(e.g. '%Y%m%d') if they are dates"
    )
    # seconds read as milliseconds land in January 1970: refused the same way
    [(_, _, rule)] = rules([{"device": "d", "timestamp": 1_704_067_200, "t": 1}])
    assert "unit 'ms'" in rule


@pytest.mark.parametrize("value", ["20240329", 20240329, np.int64(20240329)], ids=repr)
def test_timestamp_format_reads_compact_dates_as_pandas_format_does(value: Any) -> None:
    dots, seen = reshape([{"device": "d", "timestamp": value, "t": 1}], timestamp_format="%Y%m%d")
    assert seen == []
    assert dots == [("d", "t", 1_711_670_400_000, 1, None)]
    # 1958 is before the epoch: refused, not stored as 1970
    [(_, _, rule)] = rules(
        [{"device": "d", "timestamp": "19580329", "t": 1}], timestamp_format="%Y%m%d"
    )
    assert rule == "must not be negative (before 1970)"


def test_timestamp_format_with_zone_and_mismatch() -> None:
    rows = [
        {"device": "d", "timestamp": "01/03/2024 10:00", "t": 1},
        {"device": "d", "timestamp": "2024-03-01 10:00", "t": 2},
    ]
    dots, seen = reshape(rows, timestamp_format="%d/%m/%Y %H:%M", timezone="Europe/Berlin")
    assert dots == [("d", "t", 1_709_283_600_000, 1, None)]  # 09:00Z, Berlin is UTC+1
    assert [(r.row_number, r.rule) for r in seen] == [
        (2, "does not match timestamp_format '%d/%m/%Y %H:%M'")
    ]
    with pytest.raises(DotsOptionsError, match="strftime pattern"):
        ReshapeOptions(timestamp_format="YYYYMMDD")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-03-01 00:00:00 UTC", 1_709_251_200_000),
        ("2024-03-01 00:00:00UTC", 1_709_251_200_000),
        ("2024-03-01T00:00:00 GMT", 1_709_251_200_000),
        ("2024-03-01", 1_709_251_200_000),
        (dt.date(2024, 3, 1), 1_709_251_200_000),
        (pd.Timestamp("2024-03-01 00:00:00.123456789"), 1_709_251_200_123),
        (pd.Timestamp("2024-03-01 01:00:00.5", tz="Europe/Berlin"), 1_709_251_200_500),
        (np.datetime64("2024-03-01T00:00:00.250", "ns"), 1_709_251_200_250),
    ],
    ids=repr,
)
def test_more_timestamp_forms_are_read(value: Any, expected: int) -> None:
    dots, seen = reshape([{"device": "d", "timestamp": value, "t": 1}])
    assert seen == []
    assert dots == [("d", "t", expected, 1, None)]


def test_dates_are_midnight_in_the_zone() -> None:
    dots, _ = reshape(
        [{"device": "d", "timestamp": dt.date(2024, 3, 1), "t": 1}], timezone="Asia/Tokyo"
    )
    assert dots == [("d", "t", 1_709_251_200_000 - 9 * HOUR, 1, None)]


@pytest.mark.parametrize(
    "value",
    [None, math.nan, pd.NaT, np.datetime64("NaT"), "NaT", "", "NA", "null", pd.NA],
    ids=repr,
)
def test_missing_timestamps_are_invalid_rows_never_null(value: Any) -> None:
    for layout_row, layout in (
        ({"device": "d", "timestamp": value, "t": 1}, "wide"),
        ({"device": "d", "timestamp": value, "variable": "t", "value": 1}, "long"),
    ):
        assert rules([layout_row], layout=layout) == [(1, "timestamp", "must not be missing")]
    frame = pd.DataFrame({"device": ["d", "d"], "timestamp": [pd.Timestamp("2024-01-01"), pd.NaT]})
    frame["t"] = [1.0, 2.0]
    assert rules(frame.to_dict("records")) == [(2, "timestamp", "must not be missing")]


@pytest.mark.parametrize(
    ("wall", "rule"),
    [
        ("2024-03-31 02:30:00", "does not exist in Europe/Berlin (skipped by a DST change)"),
        ("2024-10-27 02:30:00", "is ambiguous in Europe/Berlin (repeated by a DST change)"),
    ],
)
def test_local_times_in_a_dst_gap_or_fold_are_refused(wall: str, rule: str) -> None:
    forms = [
        wall,
        dt.datetime.fromisoformat(wall),
        pd.Timestamp(wall),
        np.datetime64(wall.replace(" ", "T")),
    ]
    for form in forms:
        found = rules([{"device": "d", "timestamp": form, "t": 1}], timezone="Europe/Berlin")
        assert found == [(1, "timestamp", rule)], form
    # the same instants with an offset are exact, and the hour around them is fine
    dots, seen = reshape(
        [
            {"device": "d", "timestamp": wall.replace(" ", "T") + "+01:00", "t": 1},
            {"device": "d", "timestamp": wall.replace("02:30", "03:30"), "t": 2},
        ],
        timezone="Europe/Berlin",
    )
    assert seen == [] and len(dots) == 2


# -------------------------------------------------------------------------------- readings


@pytest.mark.parametrize("marker", sorted(DEFAULT_NA_VALUES))
def test_pandas_default_na_values_are_missing_readings(marker: str) -> None:
    dots, seen = reshape([{"device": "d", "timestamp": T, "a": marker, "b": 1}])
    assert (dots, seen) == ([("d", "b", T, 1, None)], [])


def test_na_values_add_to_the_defaults_or_replace_them() -> None:
    rows = [{"device": "d", "timestamp": T, "a": "-999", "b": "NA", "c": 1}]
    dots, seen = reshape(rows, na_values=["-999"])
    assert (dots, seen) == ([("d", "c", T, 1, None)], [])
    dots, seen = reshape(rows, na_values=["-999"], keep_default_na=False)
    assert [(r.field, r.value) for r in seen] == [("b", "NA")]
    dots, seen = reshape(rows)
    assert ("d", "a", T, -999, None) in dots


@pytest.mark.parametrize(
    ("text", "value"),
    [("True", 1), ("true", 1), ("TRUE", 1), ("False", 0), ("false", 0), ("FALSE", 0)],
)
def test_boolean_text_is_one_or_zero(text: str, value: int) -> None:
    dots, seen = reshape([{"device": "d", "timestamp": T, "a": text}])
    assert (dots, seen) == ([("d", "a", T, value, None)], [])


def test_true_and_false_values_options() -> None:
    rows = [{"device": "d", "timestamp": T, "a": "yes", "b": "no", "c": "on"}]
    dots, seen = reshape(rows, true_values=["yes", "on"], false_values=["no"])
    assert seen == []
    assert sorted(dots) == [("d", "a", T, 1, None), ("d", "b", T, 0, None), ("d", "c", T, 1, None)]
    assert [(r.field, r.value) for r in reshape(rows)[1]] == [("a", "yes")]
    with pytest.raises(DotsOptionsError, match="share"):
        ReshapeOptions(true_values=["x"], false_values=["x"])


def test_decimal_comma() -> None:
    rows = [
        {"device": "d", "timestamp": T, "a": "21,5", "b": "-0,25", "c": "1,5e3", "d": "7"},
        {"device": "d", "timestamp": T + 1, "a": "21.5"},
    ]
    dots, seen = reshape(rows, decimal=",")
    assert sorted(dots) == sorted(
        [
            ("d", "a", T, 21.5, None),
            ("d", "b", T, -0.25, None),
            ("d", "c", T, 1500, None),
            ("d", "d", T, 7, None),
        ]
    )
    assert [(r.row_number, r.field, r.rule) for r in seen] == [
        (
            2,
            "a",
            "must be a number (int, float, Decimal, numeric string or boolean); "
            "decimal is ',' so '.' is not a decimal mark here",
        )
    ]
    assert rules([rows[0]]) and rules([rows[1]]) == []
    with pytest.raises(DotsOptionsError, match="decimal"):
        ReshapeOptions(decimal=";")


def test_float32_readings_are_the_shortest_decimal_of_their_precision() -> None:
    rows = [{"device": "d", "timestamp": T, "a": np.float32(21.3), "b": np.float16(0.1)}]
    [body] = build_bodies(rows, ReshapeOptions())
    assert b'"a":21.3' in body.payload and b'"b":0.1' in body.payload


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (40.0, b"40"),
        (-3.0, b"-3"),
        (-0.0, b"0"),
        (1234567890123.0, b"1234567890123"),
        (9_999_999_999_999_998.0, b"9999999999999998"),
        (1e16, b"1e16"),
        (2.5, b"2.5"),
        (np.float64(410.0), b"410"),
        (np.float32(7.0), b"7"),
        ("40.0", b"40"),
    ],
    ids=repr,
)
def test_integral_floats_are_written_as_the_shortest_number(value: Any, text: bytes) -> None:
    for force_slow in (False, True):
        rows = [{"device": "d", "timestamp": T + i, "a": value, "b": 1.5} for i in range(3)]
        with slow_path_only() if force_slow else nullcontext():
            [body] = build_bodies(rows, ReshapeOptions())
        assert body.payload.count(b'"a":' + text + b",") == 3, body.payload


# ------------------------------------------------------------- fast path == slow path

TEXT_CELLS = st.sampled_from(
    [
        "1",
        "-2",
        "3.5",
        "1e3",
        "40.0",
        "-0.0",
        "0012",
        "+5",
        " 7 ",
        "1_000",
        "NA",
        "null",
        "nan",
        "",
        "true",
        "FALSE",
        "yes",
        "21,5",
        "1.5e400",
        "inf",
        "99999999999999999999",
        "-999",
        ".5",
        "5.",
    ]
)
OPTION_SETS = st.sampled_from(
    [
        {},
        {"decimal": ","},
        {"na_values": ["-999"]},
        {"keep_default_na": False},
        {"true_values": ["yes"], "false_values": ["0012"]},
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    cells=st.lists(st.tuples(TEXT_CELLS, TEXT_CELLS), min_size=1, max_size=12),
    options=OPTION_SETS,
)
def test_the_fast_and_slow_paths_read_text_alike(
    cells: list[tuple[str, str]], options: dict[str, Any]
) -> None:
    rows = [
        {"device": "d", "timestamp": T + index, "a": a, "b": b}
        for index, (a, b) in enumerate(cells)
    ]
    results = []
    for force_slow in (False, True):
        seen: list[InvalidRow] = []
        opts = ReshapeOptions(on_invalid="skip", **options)
        report = Report(on_invalid_row=seen.append)
        with slow_path_only() if force_slow else nullcontext():
            payloads = [body.payload for body in build_bodies(rows, opts, report)]
        results.append((payloads, seen, report.missing_readings))
    assert results[0] == results[1]


# ------------------------------------------------------------------ nothing null is sent


def test_no_body_holds_null_nan_or_infinity() -> None:
    check_body_payload(b'[{"device":"null","timestamp":1,"values":[{"nullable":1}]}]', 0)
    for payload in (
        b'[{"device":"d","timestamp":null,"values":[{"a":1}]}]',
        b'[{"device":"d","timestamp":1,"values":[{"a":NaN}]}]',
        b'[{"device":"d","timestamp":1,"values":[{"a":-Infinity}]}]',
        b'[{"device":"d","timestamp":1,"values":[{"a":{"value":1,"context":{"k":null}}}]}]',
    ):
        with pytest.raises(UnsafeBodyError, match="body 3"):
            check_body_payload(payload, 3)


def test_context_with_null_or_nan_is_an_invalid_record() -> None:
    records = [
        {"device": "d", "timestamp": T, "values": [{"a": {"value": 1, "context": {"k": None}}}]},
        {
            "device": "d",
            "timestamp": T,
            "values": [{"a": {"value": 1, "context": {"k": math.nan}}}],
        },
    ]
    assert [rule for _, _, rule in rules(records, layout="records")] == [
        "context must not hold null, NaN or Infinity"
    ] * 2


def test_fail_mode_sends_nothing_whatever_the_reason() -> None:
    reasons: list[Any] = [
        {"timestamp": None},
        {"timestamp": "2024-03-31 02:30:00"},
        {"timestamp": 19580329},
        {"a": "ERR"},
        {"a": math.inf},
        {"device": "two words"},
    ]
    for reason in reasons:
        rows = [{"device": "d", "timestamp": T + i, "a": 1.5} for i in range(5000)]
        rows[4321] = {**rows[4321], **reason}
        bodies = build_bodies(rows, ReshapeOptions(timezone="Europe/Berlin"))
        with pytest.raises(InvalidRowsError) as caught:
            list(bodies)
        assert caught.value.total == 1 and caught.value.rows[0].row_number == 4322


def test_invalid_rows_carry_the_file_line_when_known() -> None:
    lines = {3: 7}
    report = Report(line_of=lines.get)
    list(
        build_bodies(
            [{"device": "d", "timestamp": T, "a": 1}] * 2 + [{"a": "x"}],
            ReshapeOptions(on_invalid="skip"),
            report,
        )
    )
    [row] = report.invalid_sample
    assert (row.row_number, row.line) == (3, 7)
    assert str(row).startswith("row 3 (line 7), field ")
    assert row.to_json_dict()["line"] == 7
    assert msgspec.json.encode(row.to_json_dict())
