"""Hostile and damaged cells: control characters in labels and context keys are refused by
row, field and rule; a Decimal (a SQL ``numeric`` column) is a number wherever one is taken."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from airflow_provider_bulkdots.dots import DotsOptionsError, Report, ReshapeOptions, build_bodies

T = 1_704_067_200_000  # 2024-01-01T00:00:00Z
CONTROL = "label must not contain control or format characters ({})"


def reshape(rows: list[Any], **options: Any) -> tuple[list[Any], Report]:
    """The decoded records and the report of a skip-mode reshape."""
    report = Report()
    bodies = build_bodies(rows, ReshapeOptions(on_invalid="skip", **options), report)
    return [record for body in bodies for record in json.loads(body.payload)], report


def rejected(report: Report) -> list[tuple[int, str, str]]:
    return [(row.row_number, row.field, row.rule) for row in report.invalid_sample]


@pytest.mark.parametrize(
    ("label", "code"),
    [
        ("\x00\x00\x00\x00\x00", "U+0000"),
        ("boiler\x1b[2J", "U+001B"),
        ("pump\x7f", "U+007F"),
        ("\ufeffboiler", "U+FEFF"),  # a byte-order mark read as text
        ("line\u202e3", "U+202E"),  # a right-to-left override
        ("x\ud800", "U+D800"),  # a lone surrogate (bytes decoded with surrogateescape)
    ],
)
def test_a_device_label_with_a_control_character_is_refused_by_row_and_field(
    label: str, code: str
) -> None:
    records, report = reshape(
        [
            {"device": "boiler-1", "timestamp": T, "temperature": 20.5},
            {"device": label, "timestamp": T, "temperature": 21.5},
        ]
    )

    assert [record["device"] for record in records] == ["boiler-1"]
    assert rejected(report) == [(2, "device", CONTROL.format(code))]


def test_control_characters_in_variable_labels_are_refused_in_every_layout() -> None:
    _, long = reshape(
        [{"device": "d", "timestamp": T, "variable": "t\x00", "value": 1}], layout="long"
    )
    _, records = reshape(
        [{"device": "d", "timestamp": T, "values": [{"t\x07": 1}]}], layout="records"
    )
    _, wide = reshape([{"device": "d", "timestamp": T, "t\x00": 1, "u": 2}])

    assert rejected(long) == [(1, "variable", CONTROL.format("U+0000"))]
    assert rejected(records) == [(1, "values[0].t\x07", CONTROL.format("U+0007"))]
    assert rejected(wide) == [(1, "t\x00", CONTROL.format("U+0000"))]
    with pytest.raises(
        DotsOptionsError, match=r"variable 't\\x00': label must not contain control"
    ):
        reshape([], variables=["t\x00", "u"])  # named by the options: refused before any row


def test_a_context_key_with_a_control_character_is_refused() -> None:
    records, report = reshape(
        [
            {"device": "d", "timestamp": T, "values": [{"t": {"value": 1, "context": {"a": 1}}}]},
            {
                "device": "d",
                "timestamp": T,
                "values": [{"t": {"value": 2, "context": {"\x00": 1}}}],
            },
        ],
        layout="records",
    )

    assert len(records) == 1
    assert rejected(report) == [
        (2, "values[0].t.context", "context keys must be text without control or format characters")
    ]


@pytest.mark.parametrize("layout", ["wide", "long"])
def test_a_decimal_context_column_is_a_number(layout: str) -> None:
    row: dict[str, Any] = {"device": "d", "timestamp": T, "lot": Decimal("1.25")}
    row.update(
        {"variable": "t", "value": Decimal("20.5")} if layout == "long" else {"t": Decimal("20.5")}
    )
    records, report = reshape([row], layout=layout, context_columns=["lot"])

    assert rejected(report) == []
    [record] = records
    assert record["values"] == [
        {"timestamp": T, "t": {"value": 20.5, "context": {"lot": 1.25}}}
    ] or (record["values"] == [{"t": {"value": 20.5, "context": {"lot": 1.25}}}])


def test_a_decimal_in_a_records_context_is_written_as_a_number_not_text() -> None:
    records, report = reshape(
        [
            {
                "device": "d",
                "timestamp": T,
                "values": [{"t": {"value": Decimal("1.25"), "context": {"lot": Decimal("7")}}}],
            },
            {
                "device": "d",
                "timestamp": T,
                "values": [{"t": {"value": 1, "context": {"lot": Decimal("Infinity")}}}],
            },
        ],
        layout="records",
    )

    assert records[0]["values"] == [{"t": {"value": 1.25, "context": {"lot": 7}}}]
    assert [(row.row_number, row.rule) for row in report.invalid_sample] == [(2, "must be finite")]
