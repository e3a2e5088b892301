"""The long layout: one row per dot (device, timestamp, variable, value).

Consecutive rows of one device and instant are merged into one value object, so a long
input encodes as densely as a wide one when it is sorted by device and time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from airflow_provider_bulkdots.dots.context import context_from_row
from airflow_provider_bulkdots.dots.encoding import Piece, encode_value_object
from airflow_provider_bulkdots.dots.errors import InvalidRow, RowRejected, not_a_mapping
from airflow_provider_bulkdots.dots.labels import check_label
from airflow_provider_bulkdots.dots.numbers import to_number
from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.dots.packing import encode_label
from airflow_provider_bulkdots.dots.report import Report
from airflow_provider_bulkdots.dots.timestamps import normaliser_for

Batch = tuple[list[str], list[Piece]]


class LongReshaper:
    """Turns long rows into encoded value objects, merging a device's dots of one instant."""

    def __init__(self, options: ReshapeOptions, report: Report) -> None:
        self.options = options
        self.report = report
        self._timestamp = normaliser_for(options)
        self._text = options.text_conventions()
        self._labels: dict[object, str] = {}
        self._group_key: tuple[str, int] | None = None
        self._group: dict[str, object] = {}
        self._group_rows: dict[str, int] = {}

    def encoded(self, batches: Iterator[tuple[int, list[Any]]]) -> Iterator[Batch]:
        """For each batch of rows (with the number of its first row), the encoded objects."""
        for first_number, rows in batches:
            devices: list[str] = []
            pieces: list[Piece] = []
            for offset, row in enumerate(rows):
                number = first_number + offset
                try:
                    device, timestamp, variable, dot = self._one_row(row)
                except RowRejected as error:
                    self.report.count_invalid(
                        InvalidRow(number, error.field, error.value, error.rule)
                    )
                    continue
                key = (device, timestamp)
                if key != self._group_key or variable in self._group:
                    self._close_group(devices, pieces)
                    self._group_key = key
                self._group[variable] = dot
                self._group_rows[variable] = number
            yield devices, pieces
        devices, pieces = [], []
        self._close_group(devices, pieces)
        yield devices, pieces

    def _close_group(self, devices: list[str], pieces: list[Piece]) -> None:
        if self._group_key is None or not self._group:
            return
        device, timestamp = self._group_key
        group, rows = self._group, self._group_rows
        self._group, self._group_rows, self._group_key = {}, {}, None
        device_json = encode_label(device)
        while group:
            try:
                encoded = encode_value_object(
                    group, timestamp, device_json, self.options.max_body_bytes
                )
            except RowRejected as error:
                self.report.count_invalid(
                    InvalidRow(
                        rows[error.field], self.options.value_column, error.value, error.rule
                    )
                )
                del group[error.field]
                continue
            devices.extend([device] * len(encoded))
            pieces.extend(encoded)
            return

    def _label(self, value: object, field: str) -> str:
        try:
            return self._labels[value]
        except (KeyError, TypeError):
            pass
        label = check_label(value, field, self.options.max_label_length)
        if type(value) is str and len(self._labels) < 100_000:  # True == 1: memoise text only
            self._labels[value] = label
        return label

    def _one_row(self, row: Mapping[str, Any]) -> tuple[str, int, str, object]:
        options = self.options
        if not isinstance(row, Mapping):
            raise not_a_mapping(row)
        if options.device is not None:
            device = self._label(options.device, "device")
        else:
            column = options.device_column or "device"
            device = self._label(_required(row, column), column)
        timestamp = self._timestamp(_required(row, options.timestamp_column))
        variable = self._label(_required(row, options.variable_column), options.variable_column)
        if variable == "timestamp":
            raise RowRejected(
                options.variable_column, variable, "a variable cannot be labelled 'timestamp'"
            )
        value = to_number(
            _required(row, options.value_column), options.value_column, False, self._text
        )
        if options.context_columns:
            context = context_from_row(row, options.context_columns, self._text.na_values)
            if context:
                return device, timestamp, variable, {"value": value, "context": context}
        return device, timestamp, variable, value


def _required(row: Mapping[str, Any], column: str) -> Any:
    try:
        return row[column]
    except KeyError:
        raise RowRejected(column, None, "column is missing from the row") from None
