"""Readings of any accepted form to JSON numbers.

Every number is written as the shortest JSON text that denotes its value: an integral float
becomes an int (``40.0`` -> ``40``, two bytes fewer per dot for the NaN-upcast integer columns
pandas makes), and a ``float32``/``float16`` reading becomes the shortest decimal that reads
back to the same value in its own precision (``21.3``, not ``21.299999237060547``).
"""

from __future__ import annotations

import math
from decimal import Decimal

from airflow_provider_bulkdots.dots.errors import RowRejected
from airflow_provider_bulkdots.dots.text import DEFAULT_TEXT, TextConventions

_FLOAT_MAX = 1.7976931348623157e308
# Below this, an integral float's int text is shorter than its float text ("1e16" is not).
_INTEGRAL_AS_INT_BELOW = 1e16


class Missing:
    """Marker for a missing reading (empty cell, None or NaN in the wide layout)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING = Missing()
_NOT_A_NUMBER = "must be a number (int, float, Decimal, numeric string or boolean)"


def to_number(
    value: object, field: str, missing_allowed: bool, text: TextConventions = DEFAULT_TEXT
) -> int | float | Missing:
    """Return the reading as an int or float, MISSING, or raise RowRejected.

    Booleans become 1/0. ``missing_allowed`` (wide layout) turns None, NaN and the missing
    text markers of ``text`` into MISSING instead of an error.
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
        return _from_string(value, field, missing_allowed, text)
    if isinstance(value, Decimal):
        return _from_decimal(value, field, missing_allowed)
    if isinstance(value, bool | int):  # int subclasses, e.g. IntEnum
        return int(value)
    if isinstance(value, float):
        return _checked_float(float(value), field, missing_allowed)
    if type(value).__module__ == "numpy":
        return _from_numpy(value, field, missing_allowed)
    if _is_pandas_missing(value):
        if missing_allowed:
            return MISSING
        raise RowRejected(field, value, "must not be missing")
    raise RowRejected(field, value, _NOT_A_NUMBER)


def _is_pandas_missing(value: object) -> bool:
    return type(value).__name__ in ("NAType", "NaTType")


def _from_decimal(value: Decimal, field: str, missing_allowed: bool) -> int | float | Missing:
    if value.is_nan() and missing_allowed:
        return MISSING
    if not value.is_finite() or value.copy_abs() > _FLOAT_MAX:  # beyond a double
        raise RowRejected(field, value, "must be finite")
    if value == value.to_integral_value():
        return _checked_int(int(value), field)
    return _shortest(float(value))


def _shortest(number: float) -> int | float:
    """An integral float as an int while that is the shorter text; otherwise the float."""
    if number.is_integer() and -_INTEGRAL_AS_INT_BELOW < number < _INTEGRAL_AS_INT_BELOW:
        return int(number)
    return number


def _checked_float(value: float, field: str, missing_allowed: bool) -> int | float | Missing:
    if value != value:
        if missing_allowed:
            return MISSING
        raise RowRejected(field, value, "must not be NaN")
    if value in (math.inf, -math.inf):
        raise RowRejected(field, value, "must be finite")
    return _shortest(value)


def _checked_int(value: int, field: str) -> int | float:
    if -(2**63) <= value < 2**63:
        return value
    if abs(value) > _FLOAT_MAX:
        raise RowRejected(field, value, "must be finite")
    return float(value)


def _from_string(
    value: str, field: str, missing_allowed: bool, text: TextConventions
) -> int | float | Missing:
    stripped = value.strip()
    if text.is_missing(stripped):
        if missing_allowed:
            return MISSING
        rule = "must not be empty" if not stripped else f"must not be missing ({stripped!r})"
        raise RowRejected(field, value, rule)
    if stripped in text.true_values:
        return 1
    if stripped in text.false_values:
        return 0
    number = text.number_text(stripped)
    if number is None:
        if stripped.lstrip("+-").lower() in ("inf", "infinity"):
            raise RowRejected(field, value, "must be finite")
        rule = _NOT_A_NUMBER
        if text.decimal == "," and text.number_text(stripped.replace(".", ",", 1)) is not None:
            rule += "; decimal is ',' so '.' is not a decimal mark here"
        raise RowRejected(field, value, rule)
    if text.is_integer_text(number):
        return _checked_int(int(number), field)
    floated = float(number)
    if floated in (math.inf, -math.inf):
        raise RowRejected(field, value, "must be finite")
    return _shortest(floated)


def _from_numpy(value: object, field: str, missing_allowed: bool) -> int | float | Missing:
    kind = getattr(getattr(value, "dtype", None), "kind", "")
    if kind == "b":
        return 1 if value else 0
    if kind in "iu":
        return _checked_int(int(value), field)  # type: ignore[call-overload]
    if kind == "f":
        if getattr(value, "itemsize", 8) < 8:  # float32/16: shortest text in that precision
            if value != value:
                return _checked_float(math.nan, field, missing_allowed)
            return _checked_float(float(str(value)), field, missing_allowed)
        return _checked_float(float(value), field, missing_allowed)  # type: ignore[arg-type]
    raise RowRejected(field, value, _NOT_A_NUMBER)


def float32_text_value(value: float) -> float:
    """The double nearest the shortest decimal that reads back as ``value`` in float32."""
    import numpy as np

    return float(str(np.float32(value)))
