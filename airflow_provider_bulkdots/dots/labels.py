"""Device and variable labels: the API's naming rules.

A label holds no whitespace and no control or format character (Unicode categories Cc, Cf,
Cs: NUL, escape, a byte-order mark, a zero-width space, a right-to-left override, a lone
surrogate): such a label is a damaged cell, not a name to create a device under.
"""

from __future__ import annotations

import re
import unicodedata

from airflow_provider_bulkdots.dots.errors import RowRejected

_WHITESPACE = re.compile(r"\s")
_UNPRINTABLE = frozenset({"Cc", "Cf", "Cs"})


def unprintable(text: str) -> str | None:
    """The first control or format character of ``text`` as ``U+XXXX``, None if it has none."""
    if text.isprintable():  # the common case: no Other (C*) or separator character at all
        return None
    for char in text:
        if unicodedata.category(char) in _UNPRINTABLE:
            return f"U+{ord(char):04X}"
    return None


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
    control = unprintable(value)
    if control is not None:
        raise RowRejected(
            field, value, f"label must not contain control or format characters ({control})"
        )
    if len(value) > max_length:
        raise RowRejected(field, value, f"label must be at most {max_length} characters")
    return value
