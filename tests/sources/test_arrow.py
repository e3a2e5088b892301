"""Arrow tables, record batch streams and Polars frames give the bodies their rows give."""

from __future__ import annotations

import datetime as dt
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

from airflow_provider_bulkdots.dots import InvalidRowsError, Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.sources import open_dataset
from airflow_provider_bulkdots.sources.arrow import ColumnConverter

UTC = dt.timezone.utc
START = dt.datetime(2024, 3, 30, 23, 0, tzinfo=UTC)
SCHEMA = pa.schema(
    [
        ("device", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("temperature", pa.float64()),
        ("count", pa.int64()),
        ("door_open", pa.bool_()),
        ("flow", pa.decimal128(10, 3)),
        ("site", pa.string()),
    ]
)


def mixed_rows(count: int) -> list[dict[str, Any]]:
    """Rows with every kind of cell: NULLs, integers, booleans, decimals, sub-ms instants."""
    rows = []
    for index in range(count):
        rows.append(
            {
                "device": f"pump-{index % 7}",
                "timestamp": START + dt.timedelta(seconds=index, microseconds=index * 1001),
                "temperature": None if index % 5 == 0 else round(15 + index * 0.37, 2),
                "count": None if index % 11 == 0 else index * 3,
                "door_open": index % 3 == 0,
                "flow": None if index % 13 == 0 else Decimal(index) / 8,
                "site": "north",
            }
        )
    return rows


def bodies_of(data: Any, options: ReshapeOptions) -> list[bytes]:
    dataset = open_dataset(data, options=options)
    return [body.payload for body in build_bodies(dataset.rows(), options)]


def table_of(rows: list[dict[str, Any]], schema: pa.Schema = SCHEMA) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


OPTIONS = ReshapeOptions(max_body_bytes=600, context_columns=("site",))


@pytest.mark.parametrize(
    "as_input",
    [
        pytest.param(lambda table: table, id="table"),
        pytest.param(lambda table: table.to_batches(max_chunksize=97)[0], id="record-batch"),
        pytest.param(
            lambda table: pa.RecordBatchReader.from_batches(
                table.schema, table.to_batches(max_chunksize=97)
            ),
            id="record-batch-reader",
        ),
        pytest.param(pl.from_arrow, id="polars-dataframe"),
        pytest.param(lambda table: pl.from_arrow(table).lazy(), id="polars-lazyframe"),
    ],
)
def test_arrow_and_polars_bodies_are_byte_identical_to_the_list_of_rows(as_input: Any) -> None:
    rows = mixed_rows(500)
    table = table_of(rows)
    expected = bodies_of(rows, OPTIONS)
    if type(as_input(table)).__name__ == "RecordBatch":
        expected = bodies_of(rows[:97], OPTIONS)

    assert bodies_of(as_input(table), OPTIONS) == expected
    assert len(expected) > 5


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
@pytest.mark.parametrize("arrow_unit", ["s", "ms", "us", "ns"])
def test_every_timestamp_unit_gives_the_same_bodies(unit: str, arrow_unit: str) -> None:
    rows = [
        {"device": "d", "timestamp": START + dt.timedelta(milliseconds=n * 1234), "v": n}
        for n in range(50)
    ]
    if arrow_unit == "s":
        rows = [{**row, "timestamp": row["timestamp"].replace(microsecond=0)} for row in rows]
    schema = pa.schema(
        [
            ("device", pa.string()),
            ("timestamp", pa.timestamp(arrow_unit, tz="UTC")),
            ("v", pa.int32()),
        ]
    )
    options = ReshapeOptions(timestamp_unit=unit)  # type: ignore[arg-type]

    assert bodies_of(table_of(rows, schema), options) == bodies_of(rows, options)


def test_naive_timestamps_are_read_in_the_timezone_like_naive_datetimes() -> None:
    # Europe/Berlin springs forward on 2024-03-31: 02:00-03:00 does not exist.
    naive = dt.datetime(2024, 3, 30, 22, 0)
    rows = [
        {"device": "d", "timestamp": naive + dt.timedelta(minutes=20 * n), "v": float(n)}
        for n in range(20)
    ]
    schema = pa.schema(
        [("device", pa.string()), ("timestamp", pa.timestamp("us")), ("v", pa.float64())]
    )
    for zone in ("UTC", "Europe/Berlin", "America/New_York"):
        options = ReshapeOptions(timezone=zone, on_invalid="skip")
        list_report, arrow_report = Report(), Report()
        from_list = [b.payload for b in build_bodies(rows, options, list_report)]
        dataset = open_dataset(table_of(rows, schema), options=options)
        from_arrow = [b.payload for b in build_bodies(dataset.rows(), options, arrow_report)]

        assert from_arrow == from_list
        assert arrow_report.invalid_sample == list_report.invalid_sample


def test_timestamps_are_converted_as_a_column_not_per_cell() -> None:
    table = table_of(mixed_rows(10))
    converter = ColumnConverter(ReshapeOptions())

    converted = converter.column("timestamp", table.column("timestamp").combine_chunks())
    assert all(type(value) is int for value in converted)
    assert converted[1] == int(
        (START + dt.timedelta(seconds=1, microseconds=1001)).timestamp() * 1000
    )
    door_open = converter.column("door_open", table.column("door_open").combine_chunks())
    assert door_open[:2] == [True, False]
    assert converter.column("count", table.column("count").combine_chunks())[:2] == [None, 3]


def test_a_null_or_early_timestamp_is_refused_by_row_as_in_a_list() -> None:
    rows = mixed_rows(20)
    rows[4]["timestamp"] = None
    rows[9]["timestamp"] = dt.datetime(1969, 12, 31, tzinfo=UTC)
    options = ReshapeOptions(on_invalid="fail", context_columns=("site",))

    with pytest.raises(InvalidRowsError) as from_list:
        list(build_bodies(rows, options))
    with pytest.raises(InvalidRowsError) as from_arrow:
        bodies_of(table_of(rows), options)

    assert [row.row_number for row in from_arrow.value.rows] == [5, 10]
    assert from_arrow.value.rows == from_list.value.rows


def test_float32_readings_keep_their_shortest_decimal() -> None:
    table = pa.table(
        {
            "device": ["d"],
            "timestamp": pa.array([START], pa.timestamp("ms", tz="UTC")),
            "v": pa.array([21.3], pa.float32()),
        }
    )

    assert bodies_of(table, ReshapeOptions()) == [
        b'[{"device":"d","timestamp":1711839600000,"values":[{"v":21.3}]}]'
    ]


def test_only_the_columns_the_reshape_reads_are_converted() -> None:
    table = pa.table(
        {
            "device": ["d"],
            "timestamp": pa.array([START], pa.timestamp("ms", tz="UTC")),
            "v": [1.5],
            "blob": pa.array([{"nested": [1, 2]}]),
        }
    )
    dataset = open_dataset(table, options=ReshapeOptions(variables=["v"]))

    assert list(dataset.rows()) == [{"device": "d", "timestamp": 1711839600000, "v": 1.5}]


def test_a_table_fingerprint_follows_its_content() -> None:
    rows = mixed_rows(30)
    first = open_dataset(table_of(rows), options=OPTIONS).fingerprint
    again = open_dataset(table_of(list(rows)), options=OPTIONS).fingerprint
    rows[3]["temperature"] = 99.0
    changed = open_dataset(table_of(rows), options=OPTIONS).fingerprint

    assert first == again != changed


def _stream(rows: int) -> pa.RecordBatchReader:
    schema = pa.schema(
        [
            ("device", pa.string()),
            ("timestamp", pa.timestamp("ms", tz="UTC")),
            ("a", pa.float64()),
            ("b", pa.float64()),
        ]
    )
    start_ms = int(START.timestamp() * 1000)

    def batches() -> Iterator[pa.RecordBatch]:
        for first in range(0, rows, 5000):
            count = min(5000, rows - first)
            numbers = list(range(first, first + count))
            yield pa.record_batch(
                [
                    pa.array([f"dev-{n % 20}" for n in numbers]),
                    pa.array([start_ms + n * 1000 for n in numbers], pa.timestamp("ms", tz="UTC")),
                    pa.array([n * 0.5 for n in numbers]),
                    pa.array([n * 0.25 for n in numbers]),
                ],
                schema=schema,
            )

    return pa.RecordBatchReader.from_batches(schema, batches())


def _peak_bytes(rows: int) -> tuple[int, int]:
    options = ReshapeOptions()
    tracemalloc.start()
    try:
        dots = sum(
            body.dot_count
            for body in build_bodies(open_dataset(_stream(rows), options=options).rows(), options)
        )
        return dots, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_with_ten_times_the_rows() -> None:
    dots, peak = _peak_bytes(20_000)
    dots_10x, peak_10x = _peak_bytes(200_000)

    assert (dots, dots_10x) == (40_000, 400_000)
    assert peak_10x < peak * 1.5, (peak, peak_10x)


def test_boolean_and_integer_context_cells_stay_what_they_are() -> None:
    rows = [
        {"device": "d", "timestamp": START, "v": 1.5, "calibrated": True, "batch": 7},
        {
            "device": "d",
            "timestamp": START + dt.timedelta(seconds=1),
            "v": 2.5,
            "calibrated": None,
            "batch": None,
        },
    ]
    options = ReshapeOptions(context_columns=("calibrated", "batch"))
    table = pa.Table.from_pylist(rows)

    assert bodies_of(table, options) == bodies_of(rows, options)
    assert b'"context":{"calibrated":true,"batch":7}' in bodies_of(table, options)[0]


def _frame_rows(frame: Any) -> list[dict[str, Any]]:
    return frame.to_dict("records")  # what pandas itself hands over, row by row


def test_a_dataframe_goes_through_arrow_with_the_bodies_of_its_own_rows(tmp_path: Any) -> None:
    import pandas as pd

    from airflow_provider_bulkdots.sources.arrow import dataframe_rows

    rows = mixed_rows(400)
    for row in rows:
        row.pop("site")
        row.pop("flow")  # Decimal: pandas keeps it as object, Arrow as decimal
    frame = pd.DataFrame(rows)
    frame["count"] = frame["count"].astype("Int64")  # nullable integers
    frame["local"] = frame["timestamp"].dt.tz_localize(None)
    options = ReshapeOptions(max_body_bytes=700, variables=["temperature", "count", "door_open"])
    naive = ReshapeOptions(
        max_body_bytes=700, timestamp_column="local", variables=["temperature", "count"]
    )

    assert dataframe_rows(frame, options) is not None
    assert bodies_of(frame, options) == bodies_of(_frame_rows(frame), options)
    assert bodies_of(frame, naive) == bodies_of(_frame_rows(frame), naive)
    path = tmp_path / "frame.parquet"
    frame.to_parquet(path, index=False)
    assert bodies_of(str(path), options) == bodies_of(_frame_rows(frame), options)


def test_a_dataframe_arrow_cannot_hold_faithfully_is_read_row_by_row() -> None:
    import pandas as pd

    from airflow_provider_bulkdots.sources.arrow import dataframe_rows

    good = pd.DataFrame({"device": ["d"], "timestamp": [START], "v": [1.0]})
    mixed = pd.DataFrame({"device": ["d", "d"], "timestamp": [START, START], "v": [1.0, "ERR"]})
    no_time = pd.DataFrame({"device": ["d"], "timestamp": [pd.NaT], "v": [1.0]})
    options = ReshapeOptions(on_invalid="skip")

    assert dataframe_rows(good, options) is not None
    assert dataframe_rows(mixed, options) is None
    assert dataframe_rows(no_time, options) is None
    assert dataframe_rows(good, ReshapeOptions(layout="long")) is None
    assert dataframe_rows(good, ReshapeOptions(context_columns=("v",))) is None
    assert bodies_of(mixed, options) == bodies_of(_frame_rows(mixed), options)
