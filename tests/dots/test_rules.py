"""One example per normalisation and error rule, with the exact messages the core gives."""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pendulum
import pytest

from airflow_provider_bulkdots.dots import (
    DotsOptionsError,
    InvalidRow,
    InvalidRowsError,
    Report,
    ReshapeOptions,
    build_bodies,
)
from tests.dots.helpers import assert_valid_bodies, decode_dots

UTC = dt.timezone.utc
JAN_1_2024_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
T = JAN_1_2024_MS  # epoch numbers before 1971 are refused as implausible
NOT_A_NUMBER = "must be a number (int, float, Decimal, numeric string or boolean)"
VALUES_RULE = "values must be a non-empty list of objects"
UNPARSEABLE = "must be a datetime, an ISO-8601 string or an epoch number (unit {unit})"


def reshape(rows: list[Any], **options: Any) -> tuple[list[tuple[Any, ...]], Report]:
    """The decoded dots and the report of a skip-mode reshape; bodies checked on the way."""
    options.setdefault("on_invalid", "skip")
    opts = ReshapeOptions(**options)
    report = Report()
    bodies = list(build_bodies(rows, opts, report))
    assert_valid_bodies(bodies, opts.max_body_bytes)
    return decode_dots(bodies), report


def rejected(rows: list[Any], **options: Any) -> list[InvalidRow]:
    seen: list[InvalidRow] = []
    options.setdefault("on_invalid", "skip")
    report = Report(on_invalid_row=seen.append)
    list(build_bodies(rows, ReshapeOptions(**options), report))
    return seen


def only_rejection(rows: list[Any], **options: Any) -> InvalidRow:
    found = rejected(rows, **options)
    assert len(found) == 1, found
    return found[0]


def wide_timestamp(value: Any, **options: Any) -> int:
    dots, report = reshape([{"device": "d", "timestamp": value, "t": 1}], **options)
    assert report.invalid_rows == 0, report.invalid_sample
    [(_, _, timestamp, _, _)] = dots
    return timestamp


def timestamp_rejection(value: Any, **options: Any) -> InvalidRow:
    return only_rejection([{"device": "d", "timestamp": value, "t": 1}], **options)


# ------------------------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 1, 1, tzinfo=UTC),
        dt.datetime(2024, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        dt.datetime(2023, 12, 31, 19, tzinfo=ZoneInfo("America/New_York")),
        pendulum.datetime(2024, 1, 1, 1, tz="Europe/Paris"),
        pendulum.datetime(2024, 1, 1, tz="UTC"),
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00z",
        "2024-01-01T00:00:00.000Z",
        "2024-01-01T01:00:00+01:00",
        "2023-12-31T19:00:00-05:00",
        "2024-01-01 00:00:00+00:00",
        "2024-01-01T00:00:00",  # naive: read in the default zone, UTC
        " 2024-01-01T00:00:00Z ",
        dt.datetime(2024, 1, 1),  # naive datetime: UTC by default
        JAN_1_2024_MS,
        float(JAN_1_2024_MS),
        str(JAN_1_2024_MS),
        Decimal(JAN_1_2024_MS),
        np.int64(JAN_1_2024_MS),
        np.float64(JAN_1_2024_MS),
        np.datetime64("2024-01-01T00:00:00"),
    ],
    ids=repr,
)
def test_timestamp_forms_to_epoch_ms(value: Any) -> None:
    assert wide_timestamp(value) == JAN_1_2024_MS


@pytest.mark.parametrize(
    ("naive", "zone"),
    [
        (dt.datetime(2024, 1, 1, 12), "Europe/Paris"),  # winter, UTC+1
        (dt.datetime(2024, 7, 1, 12), "Europe/Paris"),  # summer, UTC+2
        (dt.datetime(2024, 3, 10, 12, 30), "America/New_York"),
        (dt.datetime(2024, 1, 1, 12), "UTC"),
    ],
)
def test_naive_datetimes_and_strings_read_in_the_timezone_option(
    naive: dt.datetime, zone: str
) -> None:
    expected = int(naive.replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)
    assert wide_timestamp(naive, timezone=zone) == expected
    assert wide_timestamp(naive.isoformat(), timezone=zone) == expected
    # an explicit offset wins over the option
    assert wide_timestamp("2024-01-01T00:00:00Z", timezone=zone) == JAN_1_2024_MS


def test_paris_example() -> None:
    # 12:00 in Paris in winter is 11:00 UTC
    assert wide_timestamp(dt.datetime(2024, 1, 1, 12), timezone="Europe/Paris") == (
        JAN_1_2024_MS + 11 * 3_600_000
    )


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("s", 1_704_067_200, JAN_1_2024_MS),
        ("s", "1704067200", JAN_1_2024_MS),
        ("s", 1_704_067_200.5, JAN_1_2024_MS + 500),
        ("s", "1704067200.25", JAN_1_2024_MS + 250),
        ("s", Decimal("1704067200.125"), JAN_1_2024_MS + 125),
        ("ms", 1_704_067_200_123, JAN_1_2024_MS + 123),
        ("ms", "1704067200123", JAN_1_2024_MS + 123),
        ("ms", 1_704_067_200_123.4, JAN_1_2024_MS + 123),
        ("us", 1_704_067_200_123_456, JAN_1_2024_MS + 123),
        ("us", "1704067200123456", JAN_1_2024_MS + 123),
        ("ns", 1_704_067_200_123_456_789, JAN_1_2024_MS + 123),
        ("ns", "1704067200123456789", JAN_1_2024_MS + 123),
        ("ns", np.int64(1_704_067_200_123_456_789), JAN_1_2024_MS + 123),
        ("s", 31_536_000, 31_536_000_000),  # 1971-01-01, the first plausible instant
        ("ms", 31_536_000_000, 31_536_000_000),
    ],
)
def test_epoch_numbers_in_each_unit(unit: str, value: Any, expected: int) -> None:
    assert wide_timestamp(value, timestamp_unit=unit) == expected


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (-1, "must not be negative (before 1970)"),
        (-1.5, "must not be negative (before 1970)"),
        (Decimal("-2"), "must not be negative (before 1970)"),
        (np.int64(-5), "must not be negative (before 1970)"),
        (dt.datetime(1969, 12, 31, 23, 59, tzinfo=UTC), "must not be negative (before 1970)"),
        ("1969-12-31T23:59:59Z", "must not be negative (before 1970)"),
        (math.nan, "must not be missing"),
        (math.inf, "must be finite"),
        (-math.inf, "must be finite"),
        (Decimal("NaN"), "must not be missing"),
        (np.float64("nan"), "must not be missing"),
        ("garbage", UNPARSEABLE.format(unit="ms")),
        ("2024-13-01T00:00:00Z", UNPARSEABLE.format(unit="ms")),
        ("12:00 yesterday", UNPARSEABLE.format(unit="ms")),
        (None, "must not be missing"),
        (True, UNPARSEABLE.format(unit="ms")),
        ([1], UNPARSEABLE.format(unit="ms")),
        ("", "must not be missing"),
        ("   ", "must not be missing"),
        (np.datetime64("NaT"), "must not be missing"),
    ],
    ids=repr,
)
def test_bad_timestamps(value: Any, rule: str) -> None:
    row = timestamp_rejection(value)
    assert (row.row_number, row.field, row.rule) == (1, "timestamp", rule)
    assert row.value is value or repr(row.value) == repr(value)


def test_unparseable_rule_names_the_unit() -> None:
    row = timestamp_rejection("soon", timestamp_unit="s")
    assert row.rule == UNPARSEABLE.format(unit="s")
    assert str(row) == (
        "row 1, field 'timestamp', value 'soon': must be a datetime, an ISO-8601 string "
        "or an epoch number (unit s)"
    )


def test_bool_timestamp_rejected_even_after_the_same_number() -> None:
    rows = [
        {"device": "d", "timestamp": T + 1, "t": 1},
        {"device": "d", "timestamp": True, "t": 2},
        {"device": "d", "timestamp": T + 0, "t": 3},
        {"device": "d", "timestamp": False, "t": 4},
    ]
    assert [(r.row_number, r.field) for r in rejected(rows)] == [
        (2, "timestamp"),
        (4, "timestamp"),
    ]


def test_missing_timestamp_column() -> None:
    row = only_rejection([{"device": "d", "t": 1}], variables=["t"])
    assert (row.field, row.value, row.rule) == ("timestamp", None, "column is missing from the row")


def test_timestamp_column_option() -> None:
    dots, _ = reshape([{"device": "d", "time": T + 5, "t": 1}], timestamp_column="time")
    assert dots == [("d", "t", T + 5, 1, None)]


def test_timestamp_zero_kept_in_the_fast_and_slow_paths() -> None:
    # clean rows take the fast path; the Decimal sends the second input down the slow one
    for last in (3, Decimal(3)):
        rows = [
            {"device": "d", "timestamp": T + 0, "a": 1, "b": 2},
            {"device": "d", "timestamp": T + 7, "a": last},
            {"device": "d", "timestamp": T + 0, "a": 4},
        ]
        dots, report = reshape(rows)
        assert sorted(dots) == [
            ("d", "a", T + 0, 1, None),
            ("d", "a", T + 0, 4, None),
            ("d", "a", T + 7, 3, None),
            ("d", "b", T + 0, 2, None),
        ]
        assert (report.dots, report.missing_readings) == (4, 0)


# ----------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (-2.5, -2.5),
        (0.1, 0.1),
        (2**53 + 1, 2**53 + 1),
        (2**70, float(2**70)),
        (Decimal("1.5"), 1.5),
        (Decimal("2"), 2),
        (Decimal("1E+3"), 1000),
        ("12", 12),
        (" 12 ", 12),
        ("-3.25", -3.25),
        ("1e3", 1000),
        (True, 1),
        (False, 0),
        (np.float64(1.5), 1.5),
        (np.float32(0.25), 0.25),
        (np.int64(7), 7),
        (np.uint8(200), 200),
        (np.bool_(True), 1),
        (np.bool_(False), 0),
    ],
    ids=repr,
)
def test_readings_become_json_numbers(value: Any, expected: Any) -> None:
    for layout_rows, layout in (
        ([{"device": "d", "timestamp": T + 1, "t": value}], "wide"),
        ([{"device": "d", "timestamp": T + 1, "variable": "t", "value": value}], "long"),
        ([{"device": "d", "timestamp": T + 1, "values": [{"t": value}]}], "records"),
    ):
        dots, report = reshape(layout_rows, layout=layout)
        assert dots == [("d", "t", T + 1, expected, None)], layout
        if not isinstance(value, Decimal):  # msgspec reads Decimal("2") as 2.0: same number
            assert type(dots[0][3]) is type(expected), layout
        assert report.invalid_rows == 0


@pytest.mark.parametrize("value", [None, "", "  ", math.nan, Decimal("NaN"), np.float64("nan")])
def test_missing_cells_in_wide_are_counted_not_rejected(value: Any) -> None:
    dots, report = reshape(
        [
            {"device": "d", "timestamp": T + 1, "a": value, "b": 2},
            {"device": "d", "timestamp": T + 2, "a": value, "b": value},
        ]
    )
    assert dots == [("d", "b", T + 1, 2, None)]
    assert (report.missing_readings, report.invalid_rows, report.dots) == (3, 0, 1)


def test_missing_variable_column_in_wide_is_a_missing_reading() -> None:
    dots, report = reshape([{"device": "d", "timestamp": T + 1, "a": 1}], variables=["a", "b"])
    assert dots == [("d", "a", T + 1, 1, None)]
    assert report.missing_readings == 1


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("abc", NOT_A_NUMBER),
        ("1,5", NOT_A_NUMBER),
        ("1_000", NOT_A_NUMBER),
        ("0x10", NOT_A_NUMBER),
        ("\u0661\u0662", NOT_A_NUMBER),  # Arabic-Indic digits: Python's int() reads them
        ("yes", NOT_A_NUMBER),
        ([1], NOT_A_NUMBER),
        (dt.date(2024, 1, 1), NOT_A_NUMBER),
        (np.str_("x"), NOT_A_NUMBER),
        (math.inf, "must be finite"),
        (-math.inf, "must be finite"),
        ("inf", "must be finite"),
        ("-Infinity", "must be finite"),
        (Decimal("Infinity"), "must be finite"),
        (Decimal("1E+400"), "must be finite"),
        (10**400, "must be finite"),
        (np.float64("inf"), "must be finite"),
    ],
    ids=repr,
)
def test_bad_readings_in_wide(value: Any, rule: str) -> None:
    row = only_rejection([{"device": "d", "timestamp": T + 1, "t": 1, "humidity": value}])
    assert (row.row_number, row.field, row.rule) == (1, "humidity", rule)


def test_text_null_is_missing_in_a_clean_batch_too_and_refused_without_default_na() -> None:
    # the msgspec fast path reads "null" as None; the result must not depend on the batch
    clean = [{"device": "d", "timestamp": T + 1, "t": "null", "h": 1}]
    mixed = [*clean, {"device": "d", "timestamp": T + 2, "t": "x", "h": 2}]
    assert rejected(clean) == []
    assert [(r.row_number, r.field) for r in rejected(mixed)] == [(2, "t")]
    assert reshape(clean)[0] == [("d", "h", T + 1, 1, None)]
    strict = {"keep_default_na": False}
    assert [(r.row_number, r.field) for r in rejected(clean, **strict)] == [(1, "t")]
    assert [(r.row_number, r.field) for r in rejected(mixed, **strict)] == [(1, "t"), (2, "t")]


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        (math.nan, "must not be NaN"),
        (np.float64("nan"), "must not be NaN"),
        (None, "must not be empty"),
        ("", "must not be empty"),
        ("nan", "must not be missing ('nan')"),
        ("NA", "must not be missing ('NA')"),
        ("abc", NOT_A_NUMBER),
        (math.inf, "must be finite"),
    ],
    ids=repr,
)
def test_bad_values_in_long(value: Any, rule: str) -> None:
    row = only_rejection(
        [
            {"device": "d", "timestamp": T + 1, "variable": "t", "value": 1},
            {"device": "d", "timestamp": T + 1, "variable": "h", "value": value},
        ],
        layout="long",
    )
    assert (row.row_number, row.field, row.rule) == (2, "value", rule)


def test_wide_row_missing_cells_are_not_counted_when_the_row_is_rejected() -> None:
    _, report = reshape([{"device": "d", "timestamp": T + 1, "a": None, "b": "x"}])
    assert (report.missing_readings, report.invalid_rows) == (0, 1)


# ----------------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("label", "rule"),
    [
        ("", "label must not be empty"),
        ("has space", "label must not contain whitespace"),
        ("tab\there", "label must not contain whitespace"),
        ("line\n", "label must not contain whitespace"),
        ("x" * 101, "label must be at most 100 characters"),
        (None, "label must be a string"),
        (1.5, "label must be a string"),
        (True, "label must be a string"),
    ],
    ids=repr,
)
def test_bad_device_labels(label: Any, rule: str) -> None:
    for layout, row in (
        ("wide", {"device": label, "timestamp": T + 1, "t": 1}),
        ("long", {"device": label, "timestamp": T + 1, "variable": "t", "value": 1}),
        ("records", {"device": label, "timestamp": T + 1, "values": [{"t": 1}]}),
    ):
        found = only_rejection([row], layout=layout)
        assert (found.row_number, found.field, found.rule) == (1, "device", rule), layout


@pytest.mark.parametrize(
    ("label", "rule"),
    [
        ("", "label must not be empty"),
        ("two words", "label must not contain whitespace"),
        ("y" * 101, "label must be at most 100 characters"),
        ("timestamp", "a variable cannot be labelled 'timestamp'"),
        (7, None),  # an int label is written as text
    ],
)
def test_variable_labels_in_long(label: Any, rule: str | None) -> None:
    rows = [{"device": "d", "timestamp": T + 1, "variable": label, "value": 1}]
    if rule is None:
        dots, _ = reshape(rows, layout="long")
        assert dots == [("d", "7", T + 1, 1, None)]
        return
    found = only_rejection(rows, layout="long")
    assert (found.field, found.rule) == ("variable", rule)


def test_labels_at_the_limit_and_mac_addresses_pass() -> None:
    dots, report = reshape(
        [{"device": "aa:bb:cc:dd:ee:ff", "timestamp": T + 1, "v" * 100: 1, "w-x_y.z": 2}]
    )
    assert sorted(dots) == [
        ("aa:bb:cc:dd:ee:ff", "v" * 100, T + 1, 1, None),
        ("aa:bb:cc:dd:ee:ff", "w-x_y.z", T + 1, 2, None),
    ]
    assert report.invalid_rows == 0


def test_int_device_labels_are_text_across_batches() -> None:
    # the first batch goes the slow path (a bad row), the second the fast one
    rows = [{"device": 1, "timestamp": T + 1, "a": "x"}]
    rows += [{"device": 1, "timestamp": T + n, "a": 1.0} for n in range(2, 2 * 2048 + 10)]
    opts = ReshapeOptions(on_invalid="skip")
    bodies = list(build_bodies(rows, opts))
    assert_valid_bodies(bodies, opts.max_body_bytes)
    assert {device for device, *_ in decode_dots(bodies)} == {"1"}
    assert len(decode_dots(bodies)) == len(rows) - 1


def test_max_label_length_option() -> None:
    found = only_rejection([{"device": "d" * 11, "timestamp": T + 1, "t": 1}], max_label_length=10)
    assert (found.field, found.rule) == ("device", "label must be at most 10 characters")
    dots, _ = reshape([{"device": "d" * 10, "timestamp": T + 1, "t": 1}], max_label_length=10)
    assert dots == [("d" * 10, "t", T + 1, 1, None)]
    with pytest.raises(DotsOptionsError, match="label must be at most 3 characters"):
        list(
            build_bodies(
                [{"device": "d", "timestamp": T + 1, "long": 1}],
                ReshapeOptions(max_label_length=3, variables=["long"]),
            )
        )


def test_constant_device_option() -> None:
    dots, _ = reshape([{"timestamp": T + 1, "t": 1}], device="plant-1", device_column=None)
    assert dots == [("plant-1", "t", T + 1, 1, None)]
    found = only_rejection([{"timestamp": T + 1, "t": 1}], device="bad label", device_column=None)
    assert (found.field, found.rule) == ("device", "label must not contain whitespace")


# ---------------------------------------------------------------------------------- context


def test_context_columns_become_the_dot_context() -> None:
    dots, _ = reshape(
        [
            {"device": "d", "timestamp": T + 1, "site": "north", "batch": 7, "t": 1},
            {"device": "d", "timestamp": T + 2, "site": "", "batch": None, "t": 2},
        ],
        context_columns=["site", "batch"],
    )
    assert sorted(dots) == [
        ("d", "t", T + 1, 1, '{"batch": 7, "site": "north"}'),
        ("d", "t", T + 2, 2, None),
    ]


def test_context_over_1kb_is_invalid() -> None:
    row = {"device": "d", "timestamp": T + 1, "note": "x" * 1100, "t": 1}
    found = only_rejection([row], context_columns=["note"])
    assert found.field == "note"
    assert found.rule == "context must be at most 1024 bytes encoded (1111)"
    found = only_rejection(
        [{**row, "variable": "t", "value": 1}], layout="long", context_columns=["note"]
    )
    assert found.rule == "context must be at most 1024 bytes encoded (1111)"
    # exactly 1024 bytes is fine: {"note":"..."} has 11 bytes around the text
    dots, report = reshape(
        [{**row, "note": "x" * 1013}], context_columns=["note"], max_body_bytes=2000
    )
    assert report.invalid_rows == 0 and len(dots) == 1


def test_context_values_must_be_strings_or_numbers() -> None:
    found = only_rejection(
        [{"device": "d", "timestamp": T + 1, "note": ["a"], "t": 1}], context_columns=["note"]
    )
    assert (found.field, found.rule) == ("note", "context values must be strings or numbers")


# ------------------------------------------------------------------------ dots that never fit


def test_dot_that_cannot_fit_any_body_is_an_invalid_row() -> None:
    # wide: a 200-character variable with the smallest body
    label = "v" * 200
    found = only_rejection(
        [{"device": "d", "timestamp": T + 1, label: 1}], max_body_bytes=128, max_label_length=300
    )
    assert found.field == label
    assert found.rule.startswith("dot does not fit in a body of 128 bytes (")
    assert found.rule.endswith(" bytes encoded)")

    # long: a context near 1 KB in 500-byte bodies; the rest of the input is kept
    rows = [
        {"device": "d", "timestamp": T + 1, "variable": "a", "value": 1, "note": "n" * 1000},
        {"device": "d", "timestamp": T + 1, "variable": "b", "value": 2, "note": ""},
        {"device": "d", "timestamp": T + 2, "variable": "a", "value": 3, "note": ""},
    ]
    seen = rejected(rows, layout="long", context_columns=["note"], max_body_bytes=500)
    assert [(r.row_number, r.field) for r in seen] == [(1, "value")]
    assert seen[0].rule.startswith("dot does not fit in a body of 500 bytes (")
    dots, _ = reshape(rows, layout="long", context_columns=["note"], max_body_bytes=500)
    assert sorted(dots) == [("d", "a", T + 2, 3, None), ("d", "b", T + 1, 2, None)]

    # wide: a long device label in the smallest body
    found = only_rejection([{"device": "d" * 100, "timestamp": T + 1, "t": 1}], max_body_bytes=128)
    assert (found.field, found.row_number) == ("t", 1)
    assert found.rule.startswith("dot does not fit in a body of 128 bytes")


def test_a_wide_row_too_big_for_one_body_is_split_not_rejected() -> None:
    row = {"device": "d", "timestamp": JAN_1_2024_MS}
    row.update({f"variable_{n:02d}": n * 1.25 for n in range(40)})
    dots, report = reshape([row], max_body_bytes=200)
    assert report.invalid_rows == 0
    assert sorted(dots) == sorted(
        ("d", f"variable_{n:02d}", JAN_1_2024_MS, n * 1.25, None) for n in range(40)
    )
    assert report.bodies > 5


# ---------------------------------------------------------------------------------- records


def test_records_reject_single_value_objects_with_field_paths() -> None:
    records = [
        {
            "device": "first-device",
            "timestamp": T + 1000,
            "values": [
                {"temperature": 24, "humidity": 88},
                {"temperature": 21, "humidity": "wet", "timestamp": T + 900},
                {"t": {"value": 1, "context": "not an object"}},
                {"t": {"value": 1, "timestamp": -5}},
                {"t": {"value": 1, "unit": "C"}},
                {"bad label": 1},
                {},
                {"timestamp": T + 5},
                {"t": {"value": 2, "context": {"k": "v"}, "timestamp": T + 800}},
            ],
        }
    ]
    seen = rejected(records, layout="records")
    assert [(r.row_number, r.field, r.rule) for r in seen] == [
        (1, "values[1].humidity", NOT_A_NUMBER),
        (1, "values[2].t.context", "context must be an object"),
        (1, "values[3].t.timestamp", "must not be negative (before 1970)"),
        (1, "values[4].t", "unknown dot keys ['unit']"),
        (1, "values[5].bad label", "label must not contain whitespace"),
        (1, "values[6]", "value object must be a non-empty object"),
        (1, "values[7]", "value object has no variables"),
    ]
    dots, _ = reshape(records, layout="records")
    assert sorted(dots) == [
        ("first-device", "humidity", T + 1000, 88, None),
        ("first-device", "t", T + 800, 2, '{"k": "v"}'),
        ("first-device", "temperature", T + 1000, 24, None),
    ]


@pytest.mark.parametrize(
    ("record", "field", "rule"),
    [
        ({"timestamp": T + 1, "values": [{"t": 1}]}, "device", "is required"),
        ({"device": "d", "values": [{"t": 1}]}, "timestamp", "is required"),
        ({"device": "d", "timestamp": T + 1}, "values", "is required"),
        ({"device": "d", "timestamp": T + 1, "values": []}, "values", VALUES_RULE),
        ({"device": "d", "timestamp": T + 1, "values": {"t": 1}}, "values", VALUES_RULE),
        (
            {"device": "d", "timestamp": "later", "values": [{"t": 1}]},
            "timestamp",
            UNPARSEABLE.format(unit="ms"),
        ),
        ("text", "(record)", "record must be an object"),
    ],
)
def test_bad_records(record: Any, field: str, rule: str) -> None:
    found = only_rejection(
        [{"device": "ok", "timestamp": T + 1, "values": [{"t": 1}]}, record], layout="records"
    )
    assert (found.row_number, found.field, found.rule) == (2, field, rule)


def test_records_timestamps_are_milliseconds_whatever_the_unit_option() -> None:
    dots, _ = reshape(
        [{"device": "d", "timestamp": T + 1000, "values": [{"t": 1}]}],
        layout="records",
        timestamp_unit="s",
    )
    assert dots == [("d", "t", T + 1000, 1, None)]


def test_docs_example_round_trips_byte_for_byte() -> None:
    docs = (
        b'[{"device":"first-device","timestamp":1588864653968,"values":[{"temperature":24,'
        b'"humidity":88},{"temperature":21,"humidity":86,"timestamp":1588864653900}]},'
        b'{"device":"second-device","timestamp":1588864653968,"values":[{"temperature":45,'
        b'"humidity":{"value":2,"timestamp":1588864653900}}]}]'
    )
    bodies = list(build_bodies(json.loads(docs), ReshapeOptions(layout="records")))
    assert [body.payload for body in bodies] == [docs]
    assert bodies[0].dot_count == 6


# ---------------------------------------------------------------------------------- options


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"layout": "tall"}, "layout must be one of ('wide', 'long', 'records'), got 'tall'"),
        (
            {"timestamp_unit": "min"},
            "timestamp_unit must be one of ('s', 'ms', 'us', 'ns'), got 'min'",
        ),
        ({"on_invalid": "ignore"}, "on_invalid must be 'fail' or 'skip', got 'ignore'"),
        ({"max_body_bytes": 127}, "max_body_bytes must be at least 128, got 127"),
        ({"timezone": "Mars/Olympus_Mons"}, "unknown timezone 'Mars/Olympus_Mons'"),
        ({"variables": []}, "variables must not be empty when given"),
        ({"device_column": None}, "give either device_column or a constant device label"),
    ],
)
def test_options_errors(options: dict[str, Any], message: str) -> None:
    with pytest.raises(DotsOptionsError) as caught:
        ReshapeOptions(**options)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        (["t", "timestamp"], "a variable cannot be labelled 'timestamp'"),
        (["two words"], "variable 'two words': label must not contain whitespace"),
        ([""], "variable '': label must not be empty"),
    ],
)
def test_variable_options_errors(variables: list[str], message: str) -> None:
    rows = [{"device": "d", "time": T + 1, "t": 1}]
    options = ReshapeOptions(variables=variables, timestamp_column="time")
    with pytest.raises(DotsOptionsError, match=message):
        next(build_bodies(rows, options))


def test_max_body_bytes_minimum_is_usable() -> None:
    dots, _ = reshape([{"device": "d", "timestamp": JAN_1_2024_MS, "t": 1.5}], max_body_bytes=128)
    assert dots == [("d", "t", JAN_1_2024_MS, 1.5, None)]


# --------------------------------------------------------------------------- fail and report


def test_fail_mode_raises_after_reading_everything_listing_rows() -> None:
    rows = [{"device": "d", "timestamp": T + n, "t": 1} for n in range(1, 51)]
    for number in range(5, 51, 2):  # 23 bad rows
        rows[number - 1] = {**rows[number - 1], "t": "abc"}
    report = Report()
    with pytest.raises(InvalidRowsError) as caught:
        list(build_bodies(rows, ReshapeOptions(), report))
    error = caught.value
    assert error.total == 23 == report.invalid_rows
    assert [row.row_number for row in error.rows] == list(range(5, 45, 2))  # first 20
    assert report.rows_read == 50
    text = str(error)
    assert text.startswith("23 invalid row(s); nothing was sent:\n")
    assert "  row 5, field 't', value 'abc': " + NOT_A_NUMBER in text
    assert text.endswith("\n  ... and 3 more")


def test_invalid_row_json_and_long_values_shortened() -> None:
    row = InvalidRow(3, "note", "x" * 200, "rule text")
    assert row.to_json_dict() == {
        "row": 3,
        "field": "note",
        "value": "'" + "x" * 76 + "...",
        "rule": "rule text",
    }
    assert str(row) == "row 3, field 'note', value '" + "x" * 76 + "...: rule text"


def test_report_counts() -> None:
    rows = [
        {"device": "a", "timestamp": T + 1, "x": 1, "y": None},
        {"device": "b", "timestamp": T + 1, "x": "bad", "y": 2},
        {"device": "a", "timestamp": T + 2, "x": 3, "y": 4},
    ]
    report = Report()
    bodies = list(build_bodies(rows, ReshapeOptions(on_invalid="skip"), report))
    assert report.as_dict() == {
        "rows_read": 3,
        "dots": 3,
        "missing_readings": 1,
        "invalid_rows": 1,
        "bodies": 1,
        "bytes": bodies[0].size,
    }
    assert [str(r) for r in report.invalid_sample] == [
        "row 2, field 'x', value 'bad': " + NOT_A_NUMBER
    ]
