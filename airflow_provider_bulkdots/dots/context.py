"""Dot context: strings and numbers carried beside each value, at most 1 KB encoded.

A ``Decimal`` (a SQL ``numeric`` column) is a number: it is written as one, never as text.
Keys are text without control or format characters (the rule of labels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal

import msgspec

from airflow_provider_bulkdots.dots.errors import RowRejected
from airflow_provider_bulkdots.dots.labels import unprintable
from airflow_provider_bulkdots.dots.numbers import MISSING, to_number
from airflow_provider_bulkdots.dots.options import MAX_CONTEXT_BYTES

_encode = msgspec.json.Encoder().encode


def context_from_row(
    row: Mapping[str, object],
    columns: Sequence[str],
    missing_text: frozenset[str] = frozenset({""}),
) -> dict[str, object]:
    """The row's context columns as a context object; missing cells (None, NaN, the missing
    text markers) are left out."""
    context: dict[str, object] = {}
    for column in columns:
        value = row.get(column)
        if value is None or (isinstance(value, str) and value in missing_text):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            continue
        if isinstance(value, Decimal):
            value = to_number(value, column, True)
            if value is MISSING:
                continue
        if not isinstance(value, str | int | float):
            raise RowRejected(column, value, "context values must be strings or numbers")
        context[column] = value
    check_context(context, ",".join(columns))
    return context


def context_numbers(context: object, field: str) -> object:
    """``context`` with every Decimal in it as a number (int or float); RowRejected for a
    Decimal that is not finite. Anything else is returned as it is, to be checked."""
    if isinstance(context, Decimal):
        return to_number(context, field, False)
    if isinstance(context, dict):
        if not any(isinstance(item, Decimal | dict | list) for item in context.values()):
            return context
        return {key: context_numbers(item, field) for key, item in context.items()}
    if isinstance(context, list):
        return [context_numbers(item, field) for item in context]
    return context


def check_context(context: object, field: str) -> None:
    """Raise RowRejected unless ``context`` is an object of at most 1 KB encoded, keyed by
    text without control or format characters."""
    if not isinstance(context, dict):
        raise RowRejected(field, context, "context must be an object")
    bad_key = _bad_key(context)
    if bad_key is not None:
        raise RowRejected(field, bad_key, "context keys must be text without " + _CONTROL_RULE)
    if not _json_safe(context):
        raise RowRejected(field, context, "context must not hold null, NaN or Infinity")
    try:
        size = len(_encode(context))
    except (TypeError, ValueError) as error:
        raise RowRejected(field, context, f"context must be JSON-encodable ({error})") from None
    if size > MAX_CONTEXT_BYTES:
        raise RowRejected(
            field, context, f"context must be at most {MAX_CONTEXT_BYTES} bytes encoded ({size})"
        )


_CONTROL_RULE = "control or format characters"


def _bad_key(value: object) -> object | None:
    """The first key, at any depth, that is not text or holds a control or format character."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str) or unprintable(key) is not None:
                return key
            found = _bad_key(item)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for item in value:
            found = _bad_key(item)
            if found is not None:
                return found
    return None


def _json_safe(value: object) -> bool:
    """Whether ``value`` encodes without null, NaN or Infinity anywhere."""
    if value is None:
        return False
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_json_safe(item) for item in value.values())
    if isinstance(value, list | tuple):
        return all(_json_safe(item) for item in value)
    return True
