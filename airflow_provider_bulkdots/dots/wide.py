"""The wide layout: one row per device and instant, one column per variable.

Rows are read in batches. A batch of plain dict rows with clean numbers takes the fast path:
msgspec converts and validates the whole batch in C and encodes each value object. Any batch
the fast path refuses is redone row by row, which finds and names every invalid row.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from operator import eq, itemgetter
from typing import Annotated, Any

import msgspec

from airflow_provider_bulkdots.dots.context import context_from_row
from airflow_provider_bulkdots.dots.encoding import Piece, encode_value_object
from airflow_provider_bulkdots.dots.errors import (
    DotsOptionsError,
    InvalidRow,
    RowRejected,
    not_a_mapping,
)
from airflow_provider_bulkdots.dots.labels import check_label
from airflow_provider_bulkdots.dots.numbers import MISSING, to_number
from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.dots.packing import encode_label
from airflow_provider_bulkdots.dots.report import Report
from airflow_provider_bulkdots.dots.text import DEFAULT_TEXT as DEFAULT_NUMBER_TEXT
from airflow_provider_bulkdots.dots.text import TextConventions
from airflow_provider_bulkdots.dots.timestamps import normaliser_for

Batch = tuple[list[str], list[Piece]]
_FLOAT_MAX = 1.7976931348623157e308
_FiniteFloat = Annotated[float, msgspec.Meta(ge=-_FLOAT_MAX, le=_FLOAT_MAX)]
# ints the slow path keeps as ints; larger ones go there to become floats or be rejected
_Int64 = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
# Labels the fast path can count dots in by counting commas of the encoded object.
_PLAIN_LABEL_FORBIDDEN = frozenset(',:"\\{}[]')
_encode = msgspec.json.Encoder().encode
# msgspec writes an integral float as "40.0"; the core writes the shortest number, "40"
# (numbers.py). Plain labels hold no ",", "}" or ":", so these only ever match numbers.
_NEGATIVE_ZERO = re.compile(rb":-0\.0(?=[,}])")
_INTEGRAL_FLOAT = re.compile(rb"([0-9])\.0(?=[,}])")


def _is_plain(label: str) -> bool:
    return label.isprintable() and not _PLAIN_LABEL_FORBIDDEN.intersection(label)


class WideReshaper:
    """Turns wide rows into encoded value objects, one per device and instant."""

    def __init__(self, options: ReshapeOptions, report: Report) -> None:
        self.options = options
        self.report = report
        self._timestamp = normaliser_for(options)
        self._text = options.text_conventions()
        self._reserved = options.reserved_columns()
        self._variables: tuple[str, ...] | None = (
            tuple(options.variables) if options.variables is not None else None
        )
        self._good_labels: dict[object, str] = {}
        self._fast: _FastPath | None = None
        if self._variables is not None:
            self._check_variables(self._variables)
            self._fast = _FastPath.build(self._variables, options, keys=None)

    def _check_variables(self, variables: Sequence[str]) -> None:
        for variable in variables:
            if variable == "timestamp":
                raise DotsOptionsError(
                    "a variable cannot be labelled 'timestamp' (the API reads it as the time); "
                    "set timestamp_column or list the variables"
                )
            try:
                check_label(variable, variable, self.options.max_label_length)
            except RowRejected as error:
                raise DotsOptionsError(f"variable {variable!r}: {error.rule}") from None

    def encoded(self, batches: Iterator[tuple[int, list[Any]]]) -> Iterator[Batch]:
        """For each batch of rows (with the number of its first row), the encoded objects."""
        for first_number, rows in batches:
            if self._variables is None and rows:
                self._infer_variables(rows[0])
            fast = self._fast.run(rows, self) if self._fast is not None else None
            yield fast if fast is not None else self._slow_batch(first_number, rows)

    def _infer_variables(self, row: object) -> None:
        """Adopt the first row's other columns as the variables, when they are usable.

        A first row that is not a mapping, has no variable column or has a column that is
        not a valid label leaves the variables open: each row is then read with its own
        columns, and the bad ones are rejected by name.
        """
        if not isinstance(row, Mapping):
            return
        keys = list(row.keys())
        variables = tuple(key for key in keys if key not in self._reserved)
        try:
            self._check_variables(variables)
        except DotsOptionsError:
            return
        if variables:
            self._variables = variables
            self._fast = _FastPath.build(variables, self.options, keys=keys)

    def device_label(self, label: object, field: str) -> str:
        """The checked device label, memoised for labels already seen."""
        try:
            return self._good_labels[label]
        except (KeyError, TypeError):
            pass
        checked = check_label(label, field, self.options.max_label_length)
        # only text is memoised: the fast path trusts memoised labels as they are, and a
        # number key would let True hit a memoised 1
        if type(label) is str and len(self._good_labels) < 100_000:
            self._good_labels[label] = checked
        return checked

    def _slow_batch(self, first_number: int, rows: list[Any]) -> Batch:
        devices: list[str] = []
        pieces: list[Piece] = []
        for offset, row in enumerate(rows):
            try:
                device, row_pieces = self._one_row(row)
            except RowRejected as error:
                self.report.count_invalid(
                    InvalidRow(first_number + offset, error.field, error.value, error.rule)
                )
                continue
            devices.extend([device] * len(row_pieces))
            pieces.extend(row_pieces)
        return devices, pieces

    def _one_row(self, row: Mapping[str, Any]) -> tuple[str, list[Piece]]:
        options = self.options
        if not isinstance(row, Mapping):
            raise not_a_mapping(row)
        if options.device is not None:
            device_field, device_value = "device", options.device
        else:
            device_field = options.device_column or "device"
            device_value = _required(row, device_field)
        device = self.device_label(device_value, device_field)
        timestamp = self._timestamp(_required(row, options.timestamp_column))
        context = (
            context_from_row(row, options.context_columns, self._text.na_values)
            if options.context_columns
            else {}
        )
        variables = self._row_variables(row)
        dots: dict[str, object] = {}
        missing = 0
        for variable in variables:
            value = to_number(row.get(variable), variable, True, self._text)
            if value is MISSING:
                missing += 1
                continue
            dots[variable] = {"value": value, "context": context} if context else value
        pieces = (
            encode_value_object(dots, timestamp, encode_label(device), options.max_body_bytes)
            if dots
            else []
        )
        self.report.missing_readings += missing  # only once the row is accepted
        return device, pieces

    def _row_variables(self, row: Mapping[str, Any]) -> Sequence[str]:
        if self.options.variables is not None:
            return self.options.variables
        if self._variables is not None and tuple(row.keys()) == self._fast_keys():
            return self._variables
        variables = tuple(key for key in row if key not in self._reserved)
        if not variables:
            raise RowRejected("(row)", dict(row), "row has no variable columns")
        self._check_row_variables(variables)
        return variables

    def _fast_keys(self) -> tuple[str, ...]:
        return self._fast.keys if self._fast is not None and self._fast.keys else ()

    def _check_row_variables(self, variables: Sequence[object]) -> None:
        for variable in variables:
            if not isinstance(variable, str):
                raise RowRejected(str(variable), variable, "column name must be a string")
            if variable == "timestamp":
                raise RowRejected(variable, variable, "a variable cannot be labelled 'timestamp'")
            check_label(variable, variable, self.options.max_label_length)


def _shortest_numbers(encoded: list[bytes]) -> list[bytes]:
    """The value objects with integral floats written as ints, as the slow path writes them."""
    joined = b"\n".join(encoded)  # encoded JSON holds no raw newline
    if b".0" not in joined:
        return encoded
    joined = _INTEGRAL_FLOAT.sub(rb"\1", _NEGATIVE_ZERO.sub(b":0", joined))
    return joined.split(b"\n")


def _fast_path_reads_text_alike(text: TextConventions) -> bool:
    """Whether msgspec's lax reading of numeric text agrees with these text conventions.

    msgspec reads JSON-number text and "null" on its own; a decimal comma, or a missing,
    true or false marker that looks like a number, must go through the slow path.
    """
    if text.decimal != ".":
        return False
    markers = text.na_values | text.true_values | text.false_values
    return not any(DEFAULT_NUMBER_TEXT.number_text(marker.strip()) for marker in markers)


def _required(row: Mapping[str, Any], column: str) -> Any:
    try:
        return row[column]
    except KeyError:
        raise RowRejected(column, None, "column is missing from the row") from None


class _FastPath:
    """Whole-batch conversion and encoding for clean rows; None means "use the slow path"."""

    def __init__(
        self,
        struct: type,
        variables: tuple[str, ...],
        options: ReshapeOptions,
        keys: tuple[str, ...] | None,
    ) -> None:
        self._list_type = list[struct]  # type: ignore[valid-type]
        self.variables = variables
        self.keys = keys
        self._key_set = frozenset(keys) if keys is not None else None
        self._options = options
        self._device = options.device
        self._get_device = itemgetter(options.device_column) if options.device_column else None
        self._get_timestamp = itemgetter(options.timestamp_column)
        # an object of every variable must leave room for the longest device label
        self._max_piece = options.max_body_bytes - 40 - options.max_label_length * 6 - 20

    @classmethod
    def build(
        cls, variables: tuple[str, ...], options: ReshapeOptions, keys: list[str] | None
    ) -> _FastPath | None:
        if options.context_columns or not all(_is_plain(v) for v in variables):
            return None
        if not _fast_path_reads_text_alike(options.text_conventions()):
            return None
        fields: list[tuple[str, Any, Any]] = [
            (f"v{index}", _Int64 | _FiniteFloat | None, None) for index in range(len(variables))
        ]
        # the default must never be a real timestamp: omit_defaults would drop it (epoch 0)
        fields.append(("ts", Any, -1))
        rename = {f"v{index}": name for index, name in enumerate(variables)}
        rename["ts"] = "timestamp"
        struct = msgspec.defstruct("ValueObject", fields, omit_defaults=True, rename=rename)
        return cls(struct, variables, options, tuple(keys) if keys is not None else None)

    def run(self, rows: list[Any], reshaper: WideReshaper) -> Batch | None:
        key_set = self._key_set
        try:
            if key_set is not None and not all(map(eq, map(dict.keys, rows), repeat(key_set))):
                return None
            objects = msgspec.convert(rows, self._list_type, strict=False)
            if self._device is not None:
                devices = [self._device] * len(rows)
            else:
                assert self._get_device is not None
                devices = list(map(self._get_device, rows))
            for label in set(devices).difference(reshaper._good_labels):
                if type(label) is not str:
                    return None
                reshaper.device_label(label, self._options.device_column or "device")
            timestamps = list(map(reshaper._timestamp, map(self._get_timestamp, rows)))
        except (msgspec.ValidationError, TypeError, KeyError, RowRejected):
            return None
        for obj, timestamp in zip(objects, timestamps, strict=True):
            obj.ts = timestamp  # type: ignore[attr-defined]
        encoded = _shortest_numbers(list(map(_encode, objects)))
        if encoded and max(map(len, encoded)) > self._max_piece:
            return None
        counts = [piece.count(b",") for piece in encoded]
        missing = len(self.variables) * len(encoded) - sum(counts)
        if missing and self._has_null_text(rows, counts):
            return None
        report = reshaper.report
        report.missing_readings += missing
        pieces = [piece for piece in zip(encoded, timestamps, counts, strict=True) if piece[2]]
        if len(pieces) != len(encoded):
            devices = [device for device, count in zip(devices, counts, strict=True) if count]
        return devices, pieces

    def _has_null_text(self, rows: list[Any], counts: list[int]) -> bool:
        """Whether a missing reading may come from text: in lax mode msgspec reads "null"
        as None, where the slow path rejects it."""
        full = len(self.variables)
        return any(
            isinstance(row.get(variable), str)
            for row, count in zip(rows, counts, strict=True)
            if count < full
            for variable in self.variables
        )
