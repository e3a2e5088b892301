"""The options of a reshape, checked once, before any row is read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from airflow_provider_bulkdots.dots.errors import DotsOptionsError
from airflow_provider_bulkdots.dots.text import DECIMALS, TextConventions

Layout = Literal["wide", "long", "records"]
OnInvalid = Literal["fail", "skip"]
TimestampUnit = Literal["s", "ms", "us", "ns"]

LAYOUTS: tuple[str, ...] = ("wide", "long", "records")
TIMESTAMP_UNITS: tuple[str, ...] = ("s", "ms", "us", "ns")
DEFAULT_MAX_BODY_BYTES = 10_000
DEFAULT_MAX_LABEL_LENGTH = 100
MAX_CONTEXT_BYTES = 1024
# The smallest body that can hold one short dot; a lower limit is a configuration mistake.
MIN_BODY_BYTES = 128


@dataclass(frozen=True)
class ReshapeOptions:
    """How rows become dots, and how dots become request bodies.

    ``device`` is a constant device label; ``device_column`` names the column that holds it.
    ``variables`` defaults to every column that is not the device, timestamp or a context
    column (wide layout). ``timestamp_unit`` applies to epoch numbers; naive datetimes and
    ISO strings without an offset are read in ``timezone``; ``timestamp_format`` (strftime,
    as pandas' ``format=``) reads timestamp text with that pattern instead.

    Text cells follow pandas' ``read_csv``: ``na_values`` (added to pandas' default list
    unless ``keep_default_na=False``) are missing readings, ``true_values``/``false_values``
    (added to True/true/TRUE, False/false/FALSE) are 1/0, and ``decimal`` is the decimal mark.
    """

    layout: Layout = "wide"
    device_column: str | None = "device"
    device: str | None = None
    timestamp_column: str = "timestamp"
    timestamp_unit: TimestampUnit = "ms"
    timezone: str = "UTC"
    variables: Sequence[str] | None = None
    variable_column: str = "variable"
    value_column: str = "value"
    context_columns: Sequence[str] = field(default_factory=tuple)
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_label_length: int = DEFAULT_MAX_LABEL_LENGTH
    on_invalid: OnInvalid = "fail"
    timestamp_format: str | None = None
    na_values: Sequence[str] | None = None
    keep_default_na: bool = True
    true_values: Sequence[str] | None = None
    false_values: Sequence[str] | None = None
    decimal: str = "."

    def __post_init__(self) -> None:
        self._check_text_options()
        if self.layout not in LAYOUTS:
            raise DotsOptionsError(f"layout must be one of {LAYOUTS}, got {self.layout!r}")
        if self.timestamp_unit not in TIMESTAMP_UNITS:
            raise DotsOptionsError(
                f"timestamp_unit must be one of {TIMESTAMP_UNITS}, got {self.timestamp_unit!r}"
            )
        if self.on_invalid not in ("fail", "skip"):
            raise DotsOptionsError(f"on_invalid must be 'fail' or 'skip', got {self.on_invalid!r}")
        if self.max_body_bytes < MIN_BODY_BYTES:
            raise DotsOptionsError(
                f"max_body_bytes must be at least {MIN_BODY_BYTES}, got {self.max_body_bytes}"
            )
        if self.layout != "records" and self.device is None and not self.device_column:
            raise DotsOptionsError("give either device_column or a constant device label")
        if self.variables is not None:
            object.__setattr__(self, "variables", tuple(self.variables))
            if not self.variables:
                raise DotsOptionsError("variables must not be empty when given")
        object.__setattr__(self, "context_columns", tuple(self.context_columns))
        self.tzinfo()  # fail early on an unknown zone

    def _check_text_options(self) -> None:
        if self.decimal not in DECIMALS:
            raise DotsOptionsError(f"decimal must be one of {DECIMALS}, got {self.decimal!r}")
        if self.timestamp_format is not None and (
            not isinstance(self.timestamp_format, str) or "%" not in self.timestamp_format
        ):
            raise DotsOptionsError(
                "timestamp_format must be a strftime pattern such as '%Y%m%d', "
                f"got {self.timestamp_format!r}"
            )
        for name in ("na_values", "true_values", "false_values"):
            given = getattr(self, name)
            if given is None:
                continue
            values = (given,) if isinstance(given, str) else tuple(given)
            if not all(isinstance(value, str) for value in values):
                raise DotsOptionsError(f"{name} must be strings, got {given!r}")
            object.__setattr__(self, name, values)
        overlap = set(self.true_values or ()) & set(self.false_values or ())
        if overlap:
            raise DotsOptionsError(f"true_values and false_values share {sorted(overlap)}")

    def text_conventions(self) -> TextConventions:
        """How text cells are read (missing markers, booleans, decimal mark)."""
        return TextConventions.build(
            self.na_values,
            self.keep_default_na,
            self.true_values,
            self.false_values,
            self.decimal,
        )

    def tzinfo(self) -> dt.tzinfo:
        """The zone for naive datetimes and offset-less ISO strings."""
        import pendulum

        try:
            return pendulum.timezone(self.timezone)
        except Exception as error:
            raise DotsOptionsError(f"unknown timezone {self.timezone!r}") from error

    def reserved_columns(self) -> frozenset[str]:
        """Columns that are never variables in the wide layout."""
        reserved = {self.timestamp_column, *self.context_columns}
        if self.device is None and self.device_column:
            reserved.add(self.device_column)
        return frozenset(reserved)
