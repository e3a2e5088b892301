"""Parse and check a bulk body the way the endpoint does: JSON first, then the schema.

``parse_body`` raises :class:`JSONParseError` (answered 400 with ``detail``), ``validate``
raises :class:`SchemaError` (answered 400 with code 400001). Nothing else escapes either.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

MAX_LABEL_CHARS = 100
# Deeper JSON is a parse error, on every Python: 3.12+ parse far deeper than 3.11's
# RecursionError did, so the limit is explicit. A valid body nests 5 levels.
MAX_NESTING = 512
MAX_CONTEXT_BYTES = 1024
# 9999-12-31T23:59:59.999Z: keeps timestamps inside SQLite integers and datetime.
MAX_TIMESTAMP_MS = 253_402_300_799_999

_ITEM_KEYS = frozenset({"device", "timestamp", "values"})
_DOT_KEYS = frozenset({"value", "timestamp", "context"})


class JSONParseError(ValueError):
    """The body is not JSON; ``detail`` is the text the endpoint answers with."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.detail = f"JSON parse error - {message}"


class SchemaError(ValueError):
    """The body is JSON but breaks the schema; ``detail`` names the item and field."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Dot(NamedTuple):
    """One stored value with its effective timestamp."""

    device: str
    variable: str
    timestamp: int
    value: float
    context: dict[str, Any] | None


def _strict_constant(name: str) -> Any:
    raise ValueError(f"Out of range float values are not valid JSON: {name!r}")


_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def _too_deep(raw: bytes) -> bool:
    """Whether arrays and objects nest deeper than MAX_NESTING (brackets in strings skipped)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_NESTING:
        return False
    depth = 0
    for token in _STRUCTURE.finditer(raw):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > MAX_NESTING:
                return True
        elif bracket in (b"]", b"}"):
            depth -= 1
    return False


def parse_body(raw: bytes) -> Any:
    """Decode a request body as strict JSON (no NaN or Infinity), nested at most MAX_NESTING."""
    if _too_deep(raw):
        raise JSONParseError(f"maximum nesting depth exceeded ({MAX_NESTING} levels)")
    try:
        return json.loads(raw, parse_constant=_strict_constant)
    except RecursionError:
        raise JSONParseError("maximum nesting depth exceeded") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limit
        raise JSONParseError(str(exc)) from None


def _label_problem(label: object) -> str | None:
    if not isinstance(label, str):
        return "label must be a string"
    if not label or len(label) > MAX_LABEL_CHARS or any(c.isspace() for c in label):
        return f"label must be 1 to {MAX_LABEL_CHARS} characters without whitespace"
    try:
        label.encode("utf-8")
    except UnicodeEncodeError:
        return "label must be valid unicode"
    return None


def _is_timestamp(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TIMESTAMP_MS


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _context_size(context: dict[str, Any]) -> int:
    encoded = json.dumps(context, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return len(encoded.encode("utf-8", "surrogatepass"))


_TS_PROBLEM = "timestamp must be a non-negative integer of milliseconds"


def _dot(where: str, raw: object, timestamp: int) -> tuple[int, float, dict[str, Any] | None]:
    if not isinstance(raw, dict):
        number = _number(raw)
        if number is None:
            raise SchemaError(f"{where}: value must be a number")
        return timestamp, number, None
    unknown = sorted(set(raw) - _DOT_KEYS)
    if unknown:
        raise SchemaError(f"{where}: unknown key {unknown[0]!r}")
    if "value" not in raw:
        raise SchemaError(f"{where}: value is required")
    number = _number(raw["value"])
    if number is None:
        raise SchemaError(f"{where}: value must be a number")
    if "timestamp" in raw:
        if not _is_timestamp(raw["timestamp"]):
            raise SchemaError(f"{where}: {_TS_PROBLEM}")
        timestamp = raw["timestamp"]
    context = raw.get("context")
    if context is not None:
        if not isinstance(context, dict):
            raise SchemaError(f"{where}: context must be an object")
        try:
            size = _context_size(context)
        except (ValueError, RecursionError):
            raise SchemaError(f"{where}: context must be encodable JSON") from None
        if size > MAX_CONTEXT_BYTES:
            raise SchemaError(
                f"{where}: context is {size} bytes encoded, at most {MAX_CONTEXT_BYTES}"
            )
    return timestamp, number, context


def _item(index: int, item: object) -> list[Dot]:
    where = f"item {index}"
    if not isinstance(item, dict):
        raise SchemaError(f"{where}: must be an object")
    for key in ("device", "timestamp", "values"):
        if key not in item:
            raise SchemaError(f"{where}, {key}: this field is required")
    unknown = sorted(set(item) - _ITEM_KEYS)
    if unknown:
        raise SchemaError(f"{where}: unknown key {unknown[0]!r}")
    device = item["device"]
    problem = _label_problem(device)
    if problem:
        raise SchemaError(f"{where}, device: {problem}")
    if not _is_timestamp(item["timestamp"]):
        raise SchemaError(f"{where}, {_TS_PROBLEM}")
    values = item["values"]
    if not isinstance(values, list) or not values:
        raise SchemaError(f"{where}, values: must be a non-empty list of objects")
    dots: list[Dot] = []
    for j, group in enumerate(values):
        here = f"{where}, values[{j}]"
        if not isinstance(group, dict):
            raise SchemaError(f"{here}: must be an object")
        group_ts = item["timestamp"]
        if "timestamp" in group:
            if not _is_timestamp(group["timestamp"]):
                raise SchemaError(f"{here}, {_TS_PROBLEM}")
            group_ts = group["timestamp"]
        variables = [(k, v) for k, v in group.items() if k != "timestamp"]
        if not variables:
            raise SchemaError(f"{here}: must name at least one variable")
        for variable, raw in variables:
            spot = f"{here}, variable {variable!r}"
            problem = _label_problem(variable)
            if problem:
                raise SchemaError(f"{spot}: {problem}")
            timestamp, number, context = _dot(spot, raw, group_ts)
            dots.append(Dot(device, variable, timestamp, number, context))
    return dots


def validate(payload: object) -> list[Dot]:
    """Check a parsed body and return its dots, each with its effective timestamp."""
    if not isinstance(payload, list):
        raise SchemaError("body must be a JSON list of objects")
    if not payload:
        raise SchemaError("body must not be an empty list")
    dots: list[Dot] = []
    for index, item in enumerate(payload):
        dots.extend(_item(index, item))
    return dots
