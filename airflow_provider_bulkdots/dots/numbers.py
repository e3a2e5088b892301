"""Readings of any accepted form to JSON numbers."""

from __future__ import annotations

import math
from decimal import Decimal

from airflow_provider_bulkdots.dots.errors import RowRejected

_FLOAT_MAX = 1.7976931348623157e308


class Missing:
    """Marker for a missing reading (empty cell, None or NaN in the wide layout)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()
_NOT_A_NUMBER = "must be a number (int, float, Decimal, numeric string or boolean)"


def to_number(value: object, field: str, missing_allowed: bool) -> int | float | Missing:
    """Return the reading as an int or float, MISSING, or raise RowRejected.

    Booleans become 1/0. ``missing_allowed`` (wide layout) turns None, empty strings and NaN
    into MISSING instead of an error.
    """
    kind = type(value)
    if kind is float:
        return _checked_float(value, field, missing_allowed)  # type: ignore[arg-type]
    if kind is int:
        return _checked_int(value, field)  # type: ignore[arg-type]
    if kind is bool:
        return 1 if value else 0
    if value is None:
        if missing_allowed:
            return MISSING
        raise RowRejected(field, value, "must not be empty")
    if isinstance(value, str):
        return _from_string(value, field, missing_allowed)
    if isinstance(value, Decimal):
        if value.is_nan() and missing_allowed:
            return MISSING
        if not value.is_finite() or value.copy_abs() > _FLOAT_MAX:  # beyond a double
            raise RowRejected(field, value, "must be finite")
        if value == value.to_integral_value():
            return _checked_int(int(value), field)
        return float(value)
    if isinstance(value, bool | int):  # int subclasses, e.g. IntEnum
        return int(value)
    if isinstance(value, float):
        return _checked_float(float(value), field, missing_allowed)
    if type(value).__module__ == "numpy":
        return _from_numpy(value, field, missing_allowed)
    raise RowRejected(field, value, _NOT_A_NUMBER)


def _checked_float(value: float, field: str, missing_allowed: bool) -> float | Missing:
    if value != value:
        if missing_allowed:
            return MISSING
        raise RowRejected(field, value, "must not be NaN")
    if value in (math.inf, -math.inf):
        raise RowRejected(field, value, "must be finite")
    return value


def _checked_int(value: int, field: str) -> int | float:
    if -(2**63) <= value < 2**63:
        return value
    if abs(value) > _FLOAT_MAX:
        raise RowRejected(field, value, "must be finite")
    return float(value)


def _from_string(value: str, field: str, missing_allowed: bool) -> int | float | Missing:
    text = value.strip()
    if not text:
        if missing_allowed:
            return MISSING
        raise RowRejected(field, value, "must not be empty")
    try:
        return _checked_int(int(text), field)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise RowRejected(field, value, _NOT_A_NUMBER) from None
    return _checked_float(number, field, missing_allowed)


def _from_numpy(value: object, field: str, missing_allowed: bool) -> int | float | Missing:
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if kind == "b":
        return 1 if value else 0
    if kind in "iu":
        return _checked_int(int(value), field)  # type: ignore[call-overload]
    if kind == "f":
        return _checked_float(float(value), field, missing_allowed)  # type: ignore[arg-type]
    raise RowRejected(field, value, _NOT_A_NUMBER)
