"""Test helpers for the core: decode bodies into dots and check them against the spec's schema."""

from __future__ import annotations

import copy
import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pytest

from airflow_provider_bulkdots.dots import (
    Body,
    InvalidRow,
    InvalidRowsError,
    Report,
    ReshapeOptions,
    build_bodies,
)

MAX_LABEL = 100
MAX_CONTEXT_BYTES = 1024

Dot = tuple[str, str, int, Any, str | None]
"""(device, variable, effective timestamp, value, context as canonical JSON or None)."""


def canonical_context(context: dict[str, Any] | None) -> str | None:
    """A hashable, order-independent form of a context object."""
    if not context:
        return None
    return json.dumps(context, sort_keys=True)


def _payload(body: Body | bytes) -> bytes:
    return body if isinstance(body, bytes) else body.payload


def decode_dots(bodies: Iterable[Body | bytes]) -> list[Dot]:
    """Every dot of the bodies with its EFFECTIVE timestamp.

    A dot's own timestamp wins over its value object's, which wins over its record's.
    """
    dots: list[Dot] = []
    for body in bodies:
        for record in json.loads(_payload(body)):
            device = record["device"]
            record_ts = record["timestamp"]
            for value_object in record["values"]:
                object_ts = value_object.get("timestamp", record_ts)
                for variable, dot in value_object.items():
                    if variable == "timestamp":
                        continue
                    if isinstance(dot, dict):
                        dots.append(
                            (
                                device,
                                variable,
                                dot.get("timestamp", object_ts),
                                dot["value"],
                                canonical_context(dot.get("context")),
                            )
                        )
                    else:
                        dots.append((device, variable, object_ts, dot, None))
    return dots


def _is_label(value: object) -> bool:
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_LABEL
        and not any(char.isspace() for char in value)
    )


def _is_timestamp(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def schema_errors(payload: bytes) -> list[str]:
    """Why ``payload`` is not a valid body of the bulk endpoint (empty when it is)."""
    errors: list[str] = []
    try:
        records = json.loads(payload)
    except ValueError as error:
        return [f"not JSON: {error}"]
    if not isinstance(records, list) or not records:
        return ["body must be a non-empty list"]
    for r, record in enumerate(records):
        if not isinstance(record, dict) or set(record) != {"device", "timestamp", "values"}:
            errors.append(f"record {r}: keys must be device, timestamp, values")
            continue
        if not _is_label(record["device"]):
            errors.append(f"record {r}: bad device {record['device']!r}")
        if not _is_timestamp(record["timestamp"]):
            errors.append(f"record {r}: bad timestamp {record['timestamp']!r}")
        values = record["values"]
        if not isinstance(values, list) or not values:
            errors.append(f"record {r}: values must be a non-empty list")
            continue
        for v, value_object in enumerate(values):
            where = f"record {r} values[{v}]"
            if not isinstance(value_object, dict):
                errors.append(f"{where}: not an object")
                continue
            if not set(value_object) - {"timestamp"}:
                errors.append(f"{where}: no variables")
            if "timestamp" in value_object and not _is_timestamp(value_object["timestamp"]):
                errors.append(f"{where}: bad timestamp")
            for variable, dot in value_object.items():
                if variable == "timestamp":
                    continue
                if not _is_label(variable):
                    errors.append(f"{where}: bad variable {variable!r}")
                if isinstance(dot, dict):
                    if not set(dot) <= {"value", "timestamp", "context"} or "value" not in dot:
                        errors.append(f"{where}.{variable}: bad dot keys {sorted(dot)}")
                        continue
                    if not _is_number(dot["value"]):
                        errors.append(f"{where}.{variable}: bad value {dot['value']!r}")
                    if "timestamp" in dot and not _is_timestamp(dot["timestamp"]):
                        errors.append(f"{where}.{variable}: bad timestamp")
                    if "context" in dot and (
                        not isinstance(dot["context"], dict)
                        or len(
                            json.dumps(
                                dot["context"], separators=(",", ":"), ensure_ascii=False
                            ).encode()
                        )
                        > MAX_CONTEXT_BYTES
                    ):
                        errors.append(f"{where}.{variable}: bad context")
                elif not _is_number(dot):
                    errors.append(f"{where}.{variable}: bad value {dot!r}")
    return errors


def assert_valid_bodies(bodies: list[Body], max_body_bytes: int) -> None:
    """Every body within the limit, valid per the schema, its dot_count and seq right."""
    for seq, body in enumerate(bodies):
        assert body.size == len(body.payload) <= max_body_bytes, (body.size, max_body_bytes)
        assert schema_errors(body.payload) == [], (schema_errors(body.payload), body.payload)
        assert body.seq == seq
        assert body.dot_count == len(decode_dots([body]))


@dataclass
class Expected:
    """What the reference model says build_bodies must produce."""

    dots: list[Dot] = field(default_factory=list)
    missing: int = 0
    # row number -> the fields that are wrong in it (any one of them may be reported)
    bad_rows: dict[int, set[str]] = field(default_factory=dict)


def run(rows: list[Any], options: ReshapeOptions) -> tuple[list[Any], Report, list[InvalidRow]]:
    """build_bodies with a Report collecting every rejection; also checks the input is kept."""
    before = copy.deepcopy(rows)
    before_repr = repr(rows)
    rejected: list[InvalidRow] = []
    report = Report(on_invalid_row=rejected.append)
    bodies = list(build_bodies(rows, options, report))
    assert repr(rows) == before_repr
    assert repr(before) == before_repr
    return bodies, report, rejected


def assert_every_property_holds(
    rows: list[Any],
    options: ReshapeOptions,
    expected: Expected,
) -> None:
    """Run skip, again for determinism, then fail; assert every property."""
    bodies, report, rejected = run(rows, options)

    assert_valid_bodies(bodies, options.max_body_bytes)
    assert Counter(decode_dots(bodies)) == Counter(expected.dots)

    # every invalid row reported exactly once, naming one of its bad fields
    reported = Counter(row.row_number for row in rejected)
    assert set(reported) == set(expected.bad_rows), (rejected, expected.bad_rows)
    assert all(count == 1 for count in reported.values()), reported
    for row in rejected:
        assert row.field in expected.bad_rows[row.row_number], (row, expected.bad_rows)
        assert row.rule
        assert str(row).startswith(f"row {row.row_number}, field {row.field!r}, value ")

    assert report.rows_read == len(rows)
    assert report.invalid_rows == len(expected.bad_rows)
    assert report.missing_readings == expected.missing
    assert report.dots == len(expected.dots) == sum(body.dot_count for body in bodies)
    assert report.bodies == len(bodies)
    assert report.bytes == sum(body.size for body in bodies)

    again, _, _ = run(rows, options)
    assert [body.payload for body in again] == [body.payload for body in bodies]
    assert [body.body_id for body in again] == [body.body_id for body in bodies]
    assert len({body.body_id for body in bodies}) == len(bodies)

    fail = ReshapeOptions(**{**_fields(options), "on_invalid": "fail"})
    if expected.bad_rows:
        with pytest.raises(InvalidRowsError) as caught:
            list(build_bodies(rows, fail))
        assert caught.value.total == len(expected.bad_rows)
        assert len(caught.value.rows) == min(20, len(expected.bad_rows))
        assert {row.row_number for row in caught.value.rows} <= set(expected.bad_rows)
        assert f"{len(expected.bad_rows)} invalid row(s); nothing was sent" in str(caught.value)
    else:
        assert [body.payload for body in build_bodies(rows, fail)] == [
            body.payload for body in bodies
        ]


def _fields(options: ReshapeOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in options.__dataclass_fields__}
