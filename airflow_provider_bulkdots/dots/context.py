"""Dot context: strings and numbers carried beside each value, at most 1 KB encoded."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import msgspec

from airflow_provider_bulkdots.dots.errors import RowRejected
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
        if not isinstance(value, str | int | float):
            raise RowRejected(column, value, "context values must be strings or numbers")
        context[column] = value
    check_context(context, ",".join(columns))
    return context


def check_context(context: object, field: str) -> None:
    """Raise RowRejected unless ``context`` is an object of at most 1 KB encoded."""
    if not isinstance(context, dict):
        raise RowRejected(field, context, "context must be an object")
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
