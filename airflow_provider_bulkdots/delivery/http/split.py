"""Split one request payload into two valid payloads by dots, for a 413 or a 400 to isolate.

A payload is the JSON list the bulk endpoint takes: records ``{"device", "timestamp",
"values": [value object, ...]}`` where each value object maps variable labels to dots and may
carry its own ``"timestamp"``. Splitting keeps the order of the dots, sends each exactly once,
and copies the record's and the value object's timestamps into each half, so every dot keeps
its effective timestamp. Pure: no I/O, no Airflow; used by the sender only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

_TIMESTAMP = "timestamp"


class CannotSplitError(ValueError):
    """The payload holds fewer than two dots, or is not an endpoint payload."""


@dataclass(frozen=True, slots=True)
class DotRef:
    """One dot of a payload, where it was and when it applies."""

    record: int
    value_object: int
    device: str
    variable: str
    timestamp: int | float | None
    dot: Any


def _decode(payload: bytes) -> list[dict[str, Any]]:
    try:
        records = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise CannotSplitError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise CannotSplitError("payload is not a JSON list of records")
    for number, record in enumerate(records):
        values = record.get("values")
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise CannotSplitError(f"record {number} has no list of value objects")
    return records


def _variables(value_object: dict[str, Any]) -> list[str]:
    return [key for key in value_object if key != _TIMESTAMP]


def iter_dots(payload: bytes) -> Iterator[DotRef]:
    """Every dot of a payload in order, with its effective timestamp."""
    for r, record in enumerate(_decode(payload)):
        for v, value_object in enumerate(record["values"]):
            for variable in _variables(value_object):
                dot = value_object[variable]
                timestamp = record.get(_TIMESTAMP)
                if _TIMESTAMP in value_object:
                    timestamp = value_object[_TIMESTAMP]
                if isinstance(dot, dict) and _TIMESTAMP in dot:
                    timestamp = dot[_TIMESTAMP]
                yield DotRef(r, v, str(record.get("device", "")), variable, timestamp, dot)


def devices_of(payload: bytes) -> set[str]:
    """The device labels a payload holds dots of."""
    return {str(record.get("device", "")) for record in _decode(payload)}


def count_dots(payload: bytes) -> int:
    """How many dots a payload holds."""
    return sum(
        len(_variables(value_object))
        for record in _decode(payload)
        for value_object in record["values"]
    )


def split_payload(payload: bytes) -> tuple[bytes, bytes]:
    """Two payloads holding the first ``ceil(N/2)`` and the last ``floor(N/2)`` dots.

    Raises :class:`CannotSplitError` for a payload of fewer than two dots.
    """
    records = _decode(payload)
    total = sum(len(_variables(vo)) for record in records for vo in record["values"])
    if total < 2:
        raise CannotSplitError(f"a payload of {total} dot(s) cannot be split")
    cut = (total + 1) // 2
    halves: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    seen = 0
    for record in records:
        parts: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for value_object in record["values"]:
            variables = _variables(value_object)
            before = max(0, min(len(variables), cut - seen))
            seen += len(variables)
            for half, names in ((0, variables[:before]), (1, variables[before:])):
                if not names and variables:
                    continue
                if not variables and half != (0 if seen < cut else 1):
                    continue  # an empty value object stays on one side only
                keep = set(names)
                parts[half].append(
                    {k: dot for k, dot in value_object.items() if k in keep or k == _TIMESTAMP}
                )
        for half in (0, 1):
            if parts[half]:
                halves[half].append(
                    {k: parts[half] if k == "values" else value for k, value in record.items()}
                )
    return msgspec.json.encode(halves[0]), msgspec.json.encode(halves[1])
