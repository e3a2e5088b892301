"""Device and variable labels: the API's naming rules."""

from __future__ import annotations

import re

from airflow_provider_bulkdots.dots.errors import RowRejected

_WHITESPACE = re.compile(r"\s")


def check_label(value: object, field: str, max_length: int) -> str:
    """Return the label as a string or raise RowRejected naming the broken rule.

    Integers are accepted and written as their decimal text (device ids from databases).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise RowRejected(field, value, "label must be a string")
    if not value:
        raise RowRejected(field, value, "label must not be empty")
    if _WHITESPACE.search(value):
        raise RowRejected(field, value, "label must not contain whitespace")
    if len(value) > max_length:
        raise RowRejected(field, value, f"label must be at most {max_length} characters")
    return value
