"""Properties of build_bodies over generated rows, in every layout.

For each input the expected dots, missing readings and rejections come from the cells' tags
(see ``strategies``), never from the core. Then: every valid dot is in exactly one body with
its value and effective timestamp, every body is within the limit and valid per the spec,
every invalid row is reported once, the output is deterministic and the input unchanged.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.dots import (
    InvalidRowsError,
    ReshapeOptions,
    build_bodies,
)
from tests.dots.helpers import (
    Dot,
    Expected,
    assert_every_property_holds,
    assert_valid_bodies,
    canonical_context,
    decode_dots,
    run,
)
from tests.dots.strategies import (
    VARIABLES,
    Cell,
    any_device,
    any_site,
    any_timestamp,
    any_variable,
    long_value,
    ok_device,
    ok_number,
    ok_timestamp,
    wide_reading,
)

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SMALL_AND_DEFAULT = st.sampled_from([200, 256, 333, 500, 777, 1000, 10_000])
WITH_CONTEXT = st.sampled_from([512, 700, 1000, 10_000])
# the fast path's input: plain dicts of int/float readings, int timestamps, text devices
CLEAN_READING = ok_number.filter(lambda cell: type(cell.raw) in (int, float))
CLEAN_TIMESTAMP = ok_timestamp().filter(lambda cell: type(cell.raw) is int)
# in records, a mapping is a dot object, so a dict "reading" is no invalid number there
RECORDS_VALUE = long_value.filter(lambda cell: not isinstance(cell.raw, dict))
RECORDS_DEVICE = st.one_of(ok_device.filter(lambda cell: isinstance(cell.raw, str)), any_device)


def _site_context(site: Cell | None) -> str | None:
    """The expected context of a row whose "site" column holds ``site``."""
    if site is None or site.expected is None:
        return None
    return canonical_context({"site": site.expected})


# ------------------------------------------------------------------------------------- wide


@st.composite
def wide_input(draw: st.DrawFn) -> tuple[list[dict[str, Any]], ReshapeOptions, Expected]:
    with_context = draw(st.booleans())
    explicit_variables = draw(st.booleans())
    options = ReshapeOptions(
        layout="wide",
        variables=VARIABLES if explicit_variables else None,
        context_columns=("site",) if with_context else (),
        max_body_bytes=draw(WITH_CONTEXT if with_context else SMALL_AND_DEFAULT),
        on_invalid="skip",
    )
    n_rows = draw(st.integers(0, 60))
    # a clean input (fast path) half of the time, a mixed one otherwise
    clean = draw(st.booleans())
    reading = CLEAN_READING if clean else wide_reading
    rows: list[dict[str, Any]] = []
    expected = Expected()
    for number in range(1, n_rows + 1):
        device = draw(ok_device if clean else any_device)
        timestamp = draw(CLEAN_TIMESTAMP if clean else any_timestamp)
        cells = {variable: draw(reading) for variable in VARIABLES}
        row: dict[str, Any] = {"device": device.raw, "timestamp": timestamp.raw}
        site = draw(any_site) if with_context else None
        if site is not None:
            row["site"] = site.raw
        row.update({variable: cell.raw for variable, cell in cells.items()})
        rows.append(row)

        bad = {"device"} if device.kind == "bad" else set()
        bad |= {"timestamp"} if timestamp.kind == "bad" else set()
        bad |= {"site"} if site is not None and site.kind == "bad" else set()
        bad |= {variable for variable, cell in cells.items() if cell.kind == "bad"}
        if bad:
            expected.bad_rows[number] = bad
            continue
        context = (
            canonical_context({"site": site.expected})
            if site and site.expected is not None
            else None
        )
        for variable, cell in cells.items():
            if cell.kind == "missing":
                expected.missing += 1
            else:
                expected.dots.append(
                    (device.expected, variable, timestamp.expected, cell.expected, context)
                )
    return rows, options, expected


@PROPERTY_SETTINGS
@given(wide_input())
def test_wide(case: tuple[list[dict[str, Any]], ReshapeOptions, Expected]) -> None:
    rows, options, expected = case
    assert_every_property_holds(rows, options, expected)


# ------------------------------------------------------------------------------------- long


@st.composite
def long_input(draw: st.DrawFn) -> tuple[list[dict[str, Any]], ReshapeOptions, Expected]:
    with_context = draw(st.booleans())
    options = ReshapeOptions(
        layout="long",
        context_columns=("site",) if with_context else (),
        max_body_bytes=draw(
            WITH_CONTEXT if with_context else st.sampled_from([256, 333, 500, 1000, 10_000])
        ),
        on_invalid="skip",
    )
    rows: list[dict[str, Any]] = []
    expected = Expected()
    # runs of rows of one device and instant, as a sorted long input has them
    for _ in range(draw(st.integers(0, 25))):
        device = draw(any_device)
        timestamp = draw(any_timestamp)
        for _ in range(draw(st.integers(1, 5))):
            variable = draw(any_variable)
            value = draw(long_value)
            site = draw(any_site) if with_context else None
            row = {
                "device": device.raw,
                "timestamp": timestamp.raw,
                "variable": variable.raw,
                "value": value.raw,
            }
            if site is not None:
                row["site"] = site.raw
            rows.append(row)
            number = len(rows)
            bad = {"device"} if device.kind == "bad" else set()
            bad |= {"timestamp"} if timestamp.kind == "bad" else set()
            bad |= {"variable"} if variable.kind == "bad" else set()
            bad |= {"value"} if value.kind == "bad" else set()
            bad |= {"site"} if site is not None and site.kind == "bad" else set()
            if bad:
                expected.bad_rows[number] = bad
                continue
            context = (
                canonical_context({"site": site.expected})
                if site and site.expected is not None
                else None
            )
            expected.dots.append(
                (device.expected, variable.expected, timestamp.expected, value.expected, context)
            )
    if draw(st.booleans()):  # unsorted input must give the same dots
        order = draw(st.permutations(range(len(rows))))
        rows = [rows[index] for index in order]
        expected.bad_rows = {
            position + 1: expected.bad_rows[index + 1]
            for position, index in enumerate(order)
            if index + 1 in expected.bad_rows
        }
    return rows, options, expected


@PROPERTY_SETTINGS
@given(long_input())
def test_long(case: tuple[list[dict[str, Any]], ReshapeOptions, Expected]) -> None:
    rows, options, expected = case
    assert_every_property_holds(rows, options, expected)


# ---------------------------------------------------------------------------------- records

_VALUE_OBJECT_FIELD = re.compile(r"^values\[(\d+)\]")


@st.composite
def records_input(draw: st.DrawFn) -> tuple[Any, ...]:
    options = ReshapeOptions(
        layout="records",
        max_body_bytes=draw(st.sampled_from([512, 700, 1000, 10_000])),
        on_invalid="skip",
    )
    records: list[Any] = []
    expected = Expected()
    # a bad record is rejected whole; a good record loses only its bad value objects
    per_object: dict[tuple[int, int], set[str]] = {}
    record_level: dict[int, set[str]] = {}
    for number in range(1, draw(st.integers(0, 12)) + 1):
        device = draw(RECORDS_DEVICE)
        timestamp = draw(any_timestamp)
        record_bad = {"device"} if device.kind == "bad" else set()
        record_bad |= {"timestamp"} if timestamp.kind == "bad" else set()
        n_objects = draw(st.integers(0, 4))
        if n_objects == 0:
            record_bad.add("values")
        values: list[Any] = []
        pending_dots: list[Dot] = []
        for index in range(n_objects):
            value_object, dots, bad_fields = draw(value_objects(index, device, timestamp))
            values.append(value_object)
            if bad_fields:
                per_object[(number, index)] = bad_fields
            else:
                pending_dots += dots
        record = {"device": device.raw, "timestamp": timestamp.raw, "values": values}
        if draw(st.integers(0, 20)) == 0:
            record = {"device": device.raw, "values": values}  # no timestamp
            record_bad.add("timestamp")
        records.append(record)
        if record_bad:
            record_level[number] = record_bad
            per_object = {key: bad for key, bad in per_object.items() if key[0] != number}
        else:
            expected.dots += pending_dots
    if draw(st.integers(0, 10)) == 0:
        records.append(["not", "a", "record"])
        record_level[len(records)] = {"(record)"}
    return records, options, expected, (record_level, per_object)


@st.composite
def value_objects(
    draw: st.DrawFn, index: int, device: Cell, record_ts: Cell
) -> tuple[Any, list[Dot], set[str]]:
    prefix = f"values[{index}]"
    if draw(st.integers(0, 15)) == 0:
        broken = draw(st.sampled_from([{}, [1, 2], "text", {"timestamp": 1_704_067_200_000}]))
        return broken, [], {prefix}
    value_object: dict[str, Any] = {}
    bad: set[str] = set()
    object_ts: Cell | None = None
    if draw(st.booleans()):
        object_ts = draw(any_timestamp)
        if object_ts.kind == "bad":
            bad.add(f"{prefix}.timestamp")
    effective_object_ts = object_ts if object_ts is not None else record_ts
    dots: list[Dot] = []
    for variable in draw(st.lists(any_variable, min_size=1, max_size=4, unique_by=repr)):
        if variable.raw in (None, "timestamp") or variable.raw in value_object:
            continue
        name = variable.raw
        field = f"{prefix}.{name}"
        if variable.kind == "bad":
            bad.add(field)
        value = draw(RECORDS_VALUE)
        if value.kind == "bad":
            bad.add(field)
            bad.add(f"{field}.value")
        if draw(st.booleans()):
            value_object[name] = value.raw
            dots.append((device.expected, name, effective_object_ts.expected, value.expected, None))
            continue
        dot: dict[str, Any] = {"value": value.raw}
        dot_ts = effective_object_ts
        if draw(st.booleans()):
            dot_ts = draw(any_timestamp)
            dot["timestamp"] = dot_ts.raw
            if dot_ts.kind == "bad":
                bad |= {f"{field}.timestamp", f"{prefix}.timestamp"}
        context: Any = None
        if draw(st.booleans()):
            context = draw(
                st.one_of(
                    st.dictionaries(st.sampled_from(["note", "unit"]), st.text(max_size=20)),
                    st.just({"big": "q" * 1100}),
                    st.just("not an object"),
                )
            )
            dot["context"] = context
            if not isinstance(context, dict) or len(repr(context)) > 1000:
                bad.add(f"{field}.context")
        if draw(st.integers(0, 20)) == 0:
            dot["unit"] = "kg"
            bad.add(field)
        value_object[name] = dot
        dots.append(
            (
                device.expected,
                name,
                dot_ts.expected,
                value.expected,
                canonical_context(context) if isinstance(context, dict) else None,
            )
        )
    if not value_object:
        bad.add(prefix)
    if object_ts is not None:
        value_object["timestamp"] = object_ts.raw
    return value_object, dots, bad


@PROPERTY_SETTINGS
@given(records_input())
def test_records(case: Any) -> None:
    records, options, expected, (record_level, per_object) = case
    bodies, report, rejected = run(records, options)

    assert_valid_bodies(bodies, options.max_body_bytes)
    assert Counter(decode_dots(bodies)) == Counter(expected.dots)

    # a bad record is reported once; a good record once per bad value object
    seen_records: Counter[int] = Counter()
    seen_objects: Counter[tuple[int, int]] = Counter()
    for row in rejected:
        match = _VALUE_OBJECT_FIELD.match(row.field)
        if match is None:
            seen_records[row.row_number] += 1
            assert row.field in record_level[row.row_number], row
        else:
            key = (row.row_number, int(match.group(1)))
            seen_objects[key] += 1
            assert key in per_object, (row, per_object)
            assert row.field in per_object[key], (row, per_object[key])
    assert seen_records == Counter(list(record_level))
    assert seen_objects == Counter(list(per_object))
    assert report.invalid_rows == len(record_level) + len(per_object)
    assert report.rows_read == len(records)
    assert report.dots == len(expected.dots)

    again, _, _ = run(records, options)
    assert [(b.payload, b.body_id) for b in again] == [(b.payload, b.body_id) for b in bodies]

    fail = ReshapeOptions(layout="records", max_body_bytes=options.max_body_bytes)
    if rejected:
        with pytest.raises(InvalidRowsError) as caught:
            list(build_bodies(records, fail))
        assert caught.value.total == len(rejected)
    else:
        assert [b.payload for b in build_bodies(records, fail)] == [b.payload for b in bodies]
