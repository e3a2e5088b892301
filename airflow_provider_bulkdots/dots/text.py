"""How text cells are read: pandas' ``read_csv`` conventions for missing values, booleans
and numbers, applied to every string the core meets (CSV cells, JSON strings, list rows)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

# pandas' default ``na_values`` (pandas._libs.parsers.STR_NA_VALUES), as of pandas 2.x.
DEFAULT_NA_VALUES: frozenset[str] = frozenset(
    {
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    }
)
# pandas reads these as booleans by default; ``true_values``/``false_values`` add to them.
DEFAULT_TRUE_VALUES: frozenset[str] = frozenset({"True", "true", "TRUE"})
DEFAULT_FALSE_VALUES: frozenset[str] = frozenset({"False", "false", "FALSE"})
DECIMALS = (".", ",")

_NUMBER = {
    ".": re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"),
    ",": re.compile(r"[+-]?(?:[0-9]+(?:,[0-9]*)?|,[0-9]+)(?:[eE][+-]?[0-9]+)?"),
}
_INTEGER = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class TextConventions:
    """The text that means "missing", true, false, and the decimal mark of numbers."""

    na_values: frozenset[str] = DEFAULT_NA_VALUES
    true_values: frozenset[str] = DEFAULT_TRUE_VALUES
    false_values: frozenset[str] = DEFAULT_FALSE_VALUES
    decimal: str = "."

    @classmethod
    def build(
        cls,
        na_values: Iterable[str] | None = None,
        keep_default_na: bool = True,
        true_values: Iterable[str] | None = None,
        false_values: Iterable[str] | None = None,
        decimal: str = ".",
    ) -> TextConventions:
        """As pandas: given values add to the defaults (``keep_default_na=False``: replace)."""
        na = frozenset(na_values or ())
        return cls(
            na_values=na | DEFAULT_NA_VALUES if keep_default_na else na,
            true_values=DEFAULT_TRUE_VALUES | frozenset(true_values or ()),
            false_values=DEFAULT_FALSE_VALUES | frozenset(false_values or ()),
            decimal=decimal,
        )

    def is_missing(self, text: str) -> bool:
        """Whether the (stripped) text is one of the missing-value markers."""
        return text in self.na_values

    def number_text(self, text: str) -> str | None:
        """The text as Python reads numbers (``.`` as decimal mark), None when not a number.

        Only ASCII digits, an optional sign, one decimal mark and an exponent are numbers:
        no digit-group underscores, no other scripts' digits, no ``inf``/``nan`` words.
        """
        if _NUMBER[self.decimal].fullmatch(text) is None:
            return None
        return text.replace(",", ".") if self.decimal == "," else text

    @staticmethod
    def is_integer_text(text: str) -> bool:
        """Whether the number text has no decimal mark and no exponent."""
        return _INTEGER.fullmatch(text) is not None


DEFAULT_TEXT = TextConventions()
