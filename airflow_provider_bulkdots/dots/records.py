"""The records layout: input already in the endpoint's own shape, checked and re-chunked.

Each value object is re-encoded with its effective ``"timestamp"`` (its own, else its
record's), so a device's objects can be spread over bodies without changing any dot's time.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

from airflow_provider_bulkdots.dots.context import check_context, context_numbers
from airflow_provider_bulkdots.dots.encoding import Piece, encode_value_object
from airflow_provider_bulkdots.dots.errors import InvalidRow, RowRejected, not_a_mapping
from airflow_provider_bulkdots.dots.labels import check_label
from airflow_provider_bulkdots.dots.numbers import to_number
from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.dots.packing import encode_label
from airflow_provider_bulkdots.dots.report import Report
from airflow_provider_bulkdots.dots.timestamps import normaliser_for

Batch = tuple[list[str], list[Piece]]
_DOT_KEYS = frozenset({"value", "timestamp", "context"})


class RecordsReshaper:
    """Checks endpoint-shaped records; rejects single value objects, keeps the rest."""

    def __init__(self, options: ReshapeOptions, report: Report) -> None:
        self.options = options
        self.report = report
        # the endpoint's own shape: epoch milliseconds, as the API reads them
        records_options = replace(options, timestamp_unit="ms", timestamp_format=None)
        self._timestamp = normaliser_for(records_options, "timestamp")
        self._text = options.text_conventions()

    def encoded(self, batches: Iterator[tuple[int, list[Any]]]) -> Iterator[Batch]:
        """For each batch of records (with the number of its first record), the objects."""
        for first_number, records in batches:
            devices: list[str] = []
            pieces: list[Piece] = []
            for offset, record in enumerate(records):
                self._one_record(first_number + offset, record, devices, pieces)
            yield devices, pieces

    def _one_record(
        self, number: int, record: Any, devices: list[str], pieces: list[Piece]
    ) -> None:
        try:
            if not isinstance(record, Mapping):
                raise not_a_mapping(record, "(record)", "record must be an object")
            device = check_label(
                _required(record, "device"), "device", self.options.max_label_length
            )
            timestamp = self._timestamp(_required(record, "timestamp"))
            values = _required(record, "values")
            if not isinstance(values, list) or not values:
                raise RowRejected("values", values, "values must be a non-empty list of objects")
        except RowRejected as error:
            self.report.count_invalid(InvalidRow(number, error.field, error.value, error.rule))
            return
        device_json = encode_label(device)
        for index, value_object in enumerate(values):
            prefix = f"values[{index}]"
            try:
                dots, object_timestamp = self._value_object(value_object, timestamp, prefix)
                encoded = encode_value_object(
                    dots, object_timestamp, device_json, self.options.max_body_bytes
                )
            except RowRejected as error:
                field = error.field if error.field.startswith(prefix) else f"{prefix}.{error.field}"
                self.report.count_invalid(InvalidRow(number, field, error.value, error.rule))
                continue
            devices.extend([device] * len(encoded))
            pieces.extend(encoded)

    def _value_object(
        self, value_object: Any, record_timestamp: int, prefix: str
    ) -> tuple[dict[str, object], int]:
        if not isinstance(value_object, Mapping) or not value_object:
            raise RowRejected(prefix, value_object, "value object must be a non-empty object")
        timestamp = record_timestamp
        if "timestamp" in value_object:
            timestamp = self._timestamp(value_object["timestamp"])
        dots: dict[str, object] = {}
        for variable, dot in value_object.items():
            if variable == "timestamp":
                continue
            field = f"{prefix}.{variable}"
            check_label(variable, field, self.options.max_label_length)
            dots[variable] = self._dot(dot, field)
        if not dots:
            raise RowRejected(prefix, value_object, "value object has no variables")
        return dots, timestamp

    def _dot(self, dot: Any, field: str) -> object:
        if not isinstance(dot, Mapping):
            return to_number(dot, field, False, self._text)
        unknown = set(dot) - _DOT_KEYS
        if unknown:
            raise RowRejected(field, dot, f"unknown dot keys {sorted(unknown)}")
        checked: dict[str, object] = {
            "value": to_number(_required(dot, "value"), f"{field}.value", False, self._text)
        }
        if "timestamp" in dot:
            try:
                checked["timestamp"] = self._timestamp(dot["timestamp"])
            except RowRejected as error:  # name the dot's timestamp, not the value object's
                raise RowRejected(f"{field}.timestamp", error.value, error.rule) from None
        if "context" in dot:
            context = context_numbers(dot["context"], f"{field}.context")
            check_context(context, f"{field}.context")
            checked["context"] = context
        return checked


def _required(mapping: Mapping[str, Any], key: str) -> Any:
    try:
        return mapping[key]
    except KeyError:
        raise RowRejected(key, None, "is required") from None
