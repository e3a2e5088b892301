"""Test helpers for the core: decode bodies into dots and check them against the spec's schema."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

from airflow_provider_bulkdots.dots import Body

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


def dot_counter(dots: Iterable[Dot]) -> Counter[Dot]:
    """A multiset of dots; ints and floats of equal value compare equal, as in JSON."""
    return Counter(dots)


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
