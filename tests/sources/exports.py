"""The export corpus: each case writes one small, real-shaped export with the writer users
have, and says what must be stored from it (or how it must be refused).

Timestamps below are epoch milliseconds; JAN1 is 2024-01-01T00:00:00Z.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import json
import lzma
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

JAN1 = 1_704_067_200_000
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
UNPARSEABLE = "must be a datetime, an ISO-8601 string or an epoch number (unit ms)"

Dot = tuple[str, str, int, float]


@dataclass(frozen=True)
class Case:
    """One export: how to write it, how to read it, what must be stored or refused."""

    name: str
    write: Callable[[Path], Any]
    dots: list[Dot] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    reading: dict[str, Any] = field(default_factory=dict)
    refusal: tuple[str, str] | None = None  # (exception class name, exact message)


def frame(rows: int = 3, **columns: Any) -> pd.DataFrame:
    """A logger's frame: device, naive UTC minute timestamps, then the given columns."""
    base = {
        "device": ["logger-1"] * rows,
        "timestamp": pd.date_range("2024-01-01", periods=rows, freq="min"),
    }
    return pd.DataFrame({**base, **columns})


def dots(device: str, variable: str, values: list[Any], start: int = JAN1) -> list[Dot]:
    """The dots of one variable at one-minute steps; None values are not stored."""
    return [
        (device, variable, start + index * MIN, value)
        for index, value in enumerate(values)
        if value is not None
    ]


def to_csv(name: str, data: pd.DataFrame, **kwargs: Any) -> Callable[[Path], Any]:
    def write(directory: Path) -> str:
        path = directory / name
        data.to_csv(path, index=kwargs.pop("index", False), **kwargs)
        return str(path)

    return write


def text_file(name: str, content: str | bytes) -> Callable[[Path], Any]:
    def write(directory: Path) -> str:
        path = directory / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8", newline="")
        return str(path)

    return write


def csv_module(name: str, rows: list[list[Any]], **kwargs: Any) -> Callable[[Path], Any]:
    """Written by Python's csv module (``dialect`` and ``encoding`` as given)."""
    encoding = kwargs.pop("encoding", "utf-8")

    def write(directory: Path) -> str:
        path = directory / name
        with path.open("w", newline="", encoding=encoding) as handle:
            csv.writer(handle, **kwargs).writerows(rows)
        return str(path)

    return write


def compressed(name: str, opener: Callable[..., Any], content: str) -> Callable[[Path], Any]:
    def write(directory: Path) -> str:
        path = directory / name
        with opener(path, "wt", encoding="utf-8", newline="") as handle:
            handle.write(content)
        return str(path)

    return write


def in_memory(make: Callable[[], Any]) -> Callable[[Path], Any]:
    return lambda directory: make()


def parquet_table(name: str, table: pa.Table) -> Callable[[Path], Any]:
    def write(directory: Path) -> str:
        path = directory / name
        pq.write_table(table, path)
        return str(path)

    return write


def pandas_parquet(name: str, data: pd.DataFrame, **kwargs: Any) -> Callable[[Path], Any]:
    def write(directory: Path) -> str:
        path = directory / name
        data.to_parquet(path, **kwargs)
        return str(path)

    return write


def to_json(name: str, data: pd.DataFrame, **kwargs: Any) -> Callable[[Path], Any]:
    def write(directory: Path) -> str:
        path = directory / name
        data.to_json(path, **kwargs)
        return str(path)

    return write


def json_lines(name: str, rows: list[dict[str, Any]]) -> Callable[[Path], Any]:
    """Written by Python's json module, one object per line (NaN/Infinity as it writes them)."""

    def write(directory: Path) -> str:
        path = directory / name
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
        return str(path)

    return write


CO2_WITH_GAP = [410.0, np.nan, 415.0]  # pandas upcasts an int column with a gap to float
TEMPERATURES = [21.5, 21.7, 21.6]

CASES: list[Case] = [
    # -- pandas to_csv --------------------------------------------------------------------
    Case(
        "pandas_to_csv_naive_utc",
        to_csv("plain.csv", frame(temperature=TEMPERATURES, co2=[410, 412, 415])),
        dots("logger-1", "temperature", TEMPERATURES) + dots("logger-1", "co2", [410, 412, 415]),
    ),
    Case(
        "pandas_to_csv_nan_upcast_int",
        to_csv("gap.csv", frame(co2=CO2_WITH_GAP)),
        dots("logger-1", "co2", [410, None, 415]),
    ),
    Case(
        "pandas_to_csv_datetime_index",
        to_csv(
            "indexed.csv",
            frame(temperature=TEMPERATURES).set_index("timestamp"),
            index=True,
        ),
        dots("logger-1", "temperature", TEMPERATURES),
    ),
    Case(
        "pandas_to_csv_na_rep_NA_like_R",
        to_csv("r_style.csv", frame(humidity=[40.0, np.nan, 42.5]), na_rep="NA"),
        dots("logger-1", "humidity", [40, None, 42.5]),
    ),
    Case(
        "pandas_to_csv_booleans",
        to_csv("flags.csv", frame(door_open=[True, False, True])),
        dots("logger-1", "door_open", [1, 0, 1]),
    ),
    Case(
        "pandas_to_csv_tz_aware_berlin",
        to_csv(
            "aware.csv",
            frame(t=TEMPERATURES).assign(
                timestamp=pd.date_range(
                    "2024-01-01 01:00", periods=3, freq="min", tz="Europe/Berlin"
                )
            ),
        ),
        dots("logger-1", "t", TEMPERATURES),
    ),
    Case(
        "pandas_to_csv_nat_timestamp",
        to_csv(
            "nat.csv",
            frame(t=TEMPERATURES).assign(
                timestamp=[pd.Timestamp("2024-01-01"), pd.NaT, pd.Timestamp("2024-01-01 00:02")]
            ),
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2 (line 3), field 'timestamp', value '': must not be missing",
        ),
    ),
    Case(
        "pandas_to_csv_gzip",
        to_csv("logger.csv.gz", frame(t=TEMPERATURES), compression="gzip"),
        dots("logger-1", "t", TEMPERATURES),
    ),
    Case(
        "pandas_to_csv_bz2",
        to_csv("logger.csv.bz2", frame(t=TEMPERATURES), compression="bz2"),
        dots("logger-1", "t", TEMPERATURES),
    ),
    Case(
        "pandas_to_csv_semicolon_decimal_comma",
        to_csv("europe.csv", frame(t=TEMPERATURES), sep=";", decimal=","),
        dots("logger-1", "t", TEMPERATURES),
        reading={"delimiter": ";"},
        options={"decimal": ","},
    ),
    Case(
        "pandas_to_csv_semicolon_without_delimiter",
        to_csv("europe_default.csv", frame(t=TEMPERATURES), sep=";", decimal=","),
        refusal=(
            "DatasetError",
            "<tmp>/europe_default.csv: the header is one name holding ';': set delimiter=';'; "
            "the header as read with delimiter ',': ['device;timestamp;t']",
        ),
    ),
    Case(
        "pandas_to_csv_compact_dates_as_ms",
        to_csv(
            "compact.csv", frame(t=TEMPERATURES).assign(timestamp=[19580329, 19580330, 19580331])
        ),
        refusal=(
            "InvalidRowsError",
            "3 invalid row(s); nothing was sent:\n"
            "  row 1 (line 2), field 'timestamp', value '19580329': as an epoch number in "
            "unit 'ms' this is 1970-01-01T05:26:20.329000+00:00, before 1971: set "
            "timestamp_unit to the unit the numbers are in, or timestamp_format (e.g. "
            "'%Y%m%d') if they are dates\n"
            "  row 2 (line 3), field 'timestamp', value '19580330': as an epoch number in "
            "unit 'ms' this is 1970-01-01T05:26:20.330000+00:00, before 1971: set "
            "timestamp_unit to the unit the numbers are in, or timestamp_format (e.g. "
            "'%Y%m%d') if they are dates\n"
            "  row 3 (line 4), field 'timestamp', value '19580331': as an epoch number in "
            "unit 'ms' this is 1970-01-01T05:26:20.331000+00:00, before 1971: set "
            "timestamp_unit to the unit the numbers are in, or timestamp_format (e.g. "
            "'%Y%m%d') if they are dates",
        ),
    ),
    Case(
        "pandas_to_csv_compact_dates_with_format",
        to_csv("daily.csv", frame(t=TEMPERATURES).assign(timestamp=[20240101, 20240102, 20240103])),
        [
            ("logger-1", "t", JAN1 + day * DAY - HOUR, value)
            for day, value in enumerate(TEMPERATURES)
        ],
        options={"timestamp_format": "%Y%m%d", "timezone": "Europe/Berlin"},
    ),
    Case(
        "pandas_to_csv_epoch_seconds",
        to_csv(
            "seconds.csv",
            frame(t=TEMPERATURES).assign(timestamp=[1_704_067_200 + 60 * n for n in range(3)]),
        ),
        dots("logger-1", "t", TEMPERATURES),
        options={"timestamp_unit": "s"},
    ),
    Case(
        "pandas_to_csv_epoch_seconds_read_as_ms",
        to_csv("seconds_as_ms.csv", frame(rows=1, t=[21.5]).assign(timestamp=[1_704_067_200])),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 1 (line 2), field 'timestamp', value '1704067200': as an epoch number in "
            "unit 'ms' this is 1970-01-20T17:21:07.200000+00:00, before 1971: set "
            "timestamp_unit to the unit the numbers are in, or timestamp_format (e.g. "
            "'%Y%m%d') if they are dates",
        ),
    ),
    Case(
        "pandas_to_csv_long_layout_with_NA",
        to_csv(
            "long.csv",
            frame(t=[21.5, np.nan, 21.6]).melt(id_vars=["device", "timestamp"]),
            na_rep="NA",
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2 (line 3), field 'value', value 'NA': must not be missing ('NA')",
        ),
        options={"layout": "long"},
    ),
    Case(
        "pandas_to_csv_local_times_dst_fold",
        to_csv(
            "autumn.csv",
            pd.DataFrame(
                {
                    "device": ["logger-1"] * 2,
                    "timestamp": ["2024-10-27 01:30:00", "2024-10-27 02:30:00"],
                    "t": [10.5, 10.4],
                }
            ),
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2 (line 3), field 'timestamp', value '2024-10-27 02:30:00': is ambiguous "
            "in Europe/Berlin (repeated by a DST change)",
        ),
        options={"timezone": "Europe/Berlin"},
    ),
    # -- Python's csv module, spreadsheets, R ----------------------------------------------
    Case(
        "csv_excel_dialect_with_bom",
        csv_module(
            "excel.csv",
            [["device", "timestamp", "t"], ["logger-1", "2024-01-01T00:00:00Z", "21.5"]],
            dialect="excel",
            encoding="utf-8-sig",
        ),
        [("logger-1", "t", JAN1, 21.5)],
    ),
    Case(
        "csv_excel_blank_trailing_column",
        text_file(
            "trailing.csv",
            "device,timestamp,t,\r\nlogger-1,2024-01-01 00:00:00,21.5,\r\n"
            "logger-1,2024-01-01 00:01:00,21.7,\r\n",
        ),
        dots("logger-1", "t", [21.5, 21.7]),
    ),
    Case(
        "csv_blank_named_column_with_values",
        text_file("rownames.csv", '"","device","timestamp","t"\n"1","logger-1",2024-01-01,21.5\n'),
        refusal=(
            "DatasetError",
            "<tmp>/rownames.csv: column 1 has no name but holds '1' (line 2); the header as "
            "read with delimiter ',': ['', 'device', 'timestamp', 't']",
        ),
    ),
    Case(
        "csv_R_write_csv_row_names_false",
        csv_module(
            "r_export.csv",
            [
                ["device", "timestamp", "t", "rh"],
                ["logger-1", "2024-01-01 00:00:00 UTC", 21.5, "NA"],
            ],
            quoting=csv.QUOTE_NONNUMERIC,
        ),
        [("logger-1", "t", JAN1, 21.5)],
    ),
    Case(
        "csv_row_with_extra_field",
        text_file(
            "ragged.csv",
            "device,timestamp,t\nlogger-1,2024-01-01T00:00:00Z,21.5\n"
            "logger-1,2024-01-01T00:01:00Z,21,7\n",
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2 (line 3), field '(line)', value 'logger-1,2024-01-01T00:01:00Z,21,7': "
            "not readable: 4 fields, header has 3",
        ),
    ),
    Case(
        "csv_blank_lines_and_multiline_cell_keep_line_numbers",
        text_file(
            "notes.csv",
            'device,timestamp,t,note\nlogger-1,2024-01-01T00:00:00Z,21.5,"two\nlines"\n\n\n'
            "logger-1,2024-01-01T00:01:00Z,ERR,ok\n",
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2 (line 6), field 't', value 'ERR': must be a number (int, float, "
            "Decimal, numeric string or boolean)",
        ),
        options={"variables": ["t"], "context_columns": ["note"]},
    ),
    Case(
        "csv_repeated_column_name",
        text_file("repeated.csv", "device,timestamp,t,t\nlogger-1,2024-01-01,1,2\n"),
        refusal=(
            "DatasetError",
            "<tmp>/repeated.csv: repeated column names: ['t']; the header as read with "
            "delimiter ',': ['device', 'timestamp', 't', 't']",
        ),
    ),
    Case(
        "csv_space_padded_names",
        text_file("padded.csv", "device, timestamp, t\nlogger-1,2024-01-01,1\n"),
        refusal=(
            "DatasetError",
            "<tmp>/padded.csv: column names with surrounding spaces: [' timestamp', ' t']; "
            "the header as read with delimiter ',': ['device', ' timestamp', ' t']",
        ),
    ),
    Case(
        "csv_missing_timestamp_column",
        text_file("no_time.csv", "device,time,t\nlogger-1,2024-01-01,1\n"),
        refusal=(
            "DatasetError",
            "<tmp>/no_time.csv: columns not in the header: ['timestamp']; the header as read "
            "with delimiter ',': ['device', 'time', 't']",
        ),
        options={"variables": ["t"]},
    ),
    Case(
        "csv_xz_compressed",
        compressed("logger.csv.xz", lzma.open, "device,timestamp,t\nlogger-1,2024-01-01,21.5\n"),
        [("logger-1", "t", JAN1, 21.5)],
    ),
    # -- JSON --------------------------------------------------------------------------------
    Case(
        "pandas_to_json_lines_epoch_ms_with_nan",
        to_json("lines.jsonl", frame(co2=CO2_WITH_GAP), orient="records", lines=True),
        dots("logger-1", "co2", [410, None, 415]),
    ),
    Case(
        "pandas_to_json_records_array",
        to_json("records.json", frame(t=TEMPERATURES), orient="records", date_format="iso"),
        dots("logger-1", "t", TEMPERATURES),
    ),
    Case(
        "python_json_nan_is_missing",
        json_lines(
            "python.jsonl",
            [
                {"device": "logger-1", "timestamp": JAN1, "t": 21.5, "rh": float("nan")},
                {"device": "logger-1", "timestamp": JAN1 + MIN, "t": float("nan"), "rh": 40.0},
            ],
        ),
        [("logger-1", "t", JAN1, 21.5), ("logger-1", "rh", JAN1 + MIN, 40)],
    ),
    Case(
        "python_json_infinity_is_refused",
        json_lines(
            "inf.jsonl",
            [
                {"device": "logger-1", "timestamp": JAN1, "t": 21.5},
                {"device": "logger-1", "timestamp": JAN1 + MIN, "t": float("inf")},
            ],
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2 (line 2), field 't', value inf: must be finite",
        ),
    ),
    Case(
        "jsonl_gzip_with_blank_lines",
        compressed(
            "blank.jsonl.gz",
            gzip.open,
            '{"device":"logger-1","timestamp":1704067200000,"t":1}\n\n'
            '{"device":"logger-1","timestamp":"soon","t":2}\n',
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            f"  row 2 (line 3), field 'timestamp', value 'soon': {UNPARSEABLE}",
        ),
    ),
    # -- Parquet and DataFrames ---------------------------------------------------------------
    Case(
        "pandas_to_parquet_nullable_and_float32",
        pandas_parquet(
            "frame.parquet",
            frame(
                t=np.array(TEMPERATURES, dtype=np.float32),
                co2=pd.array([410, None, 415], dtype="Int64"),
            ),
        ),
        dots("logger-1", "t", TEMPERATURES) + dots("logger-1", "co2", [410, None, 415]),
    ),
    Case(
        "pyarrow_date32_and_utc_timestamps",
        parquet_table(
            "arrow.parquet",
            pa.table(
                {
                    "device": ["a", "b"],
                    "timestamp": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2)], pa.date32()),
                    "t": pa.array([21.3, 19.9], pa.float32()),
                }
            ),
        ),
        [("a", "t", JAN1, 21.3), ("b", "t", JAN1 + DAY, 19.9)],
    ),
    Case(
        "pyarrow_timestamp_ms_utc_with_null_reading",
        parquet_table(
            "utc.parquet",
            pa.table(
                {
                    "device": ["a", "a"],
                    "timestamp": pa.array([JAN1, JAN1 + MIN], pa.timestamp("ms", tz="UTC")),
                    "t": pa.array([None, 7], pa.int64()),
                }
            ),
        ),
        [("a", "t", JAN1 + MIN, 7)],
    ),
    Case(
        "pyarrow_unused_columns_untouched",
        parquet_table(
            "wide.parquet",
            pa.table(
                {
                    "device": ["a"],
                    "timestamp": pa.array([JAN1 * 1_000_000], pa.timestamp("ns")),
                    "t": [1.5],
                    "raw": pa.array([[1, 2, 3]], pa.list_(pa.int64())),
                    "blob": pa.array([b"\x00\xff"], pa.binary()),
                }
            ),
        ),
        [("a", "t", JAN1, 1.5)],
        options={"variables": ["t"]},
    ),
    Case(
        "dataframe_datetime_index",
        in_memory(lambda: frame(t=TEMPERATURES).set_index("timestamp")),
        dots("logger-1", "t", TEMPERATURES),
    ),
    Case(
        "dataframe_unnamed_datetime_index_float32",
        in_memory(
            lambda: pd.DataFrame(
                {"device": ["logger-1"] * 3, "t": np.array(TEMPERATURES, dtype=np.float32)},
                index=pd.date_range("2024-01-01", periods=3, freq="min"),
            )
        ),
        dots("logger-1", "t", TEMPERATURES),
    ),
    Case(
        "dataframe_unused_unhashable_column",
        in_memory(lambda: frame(t=TEMPERATURES, raw=[[1], {"a": 1}, None])),
        dots("logger-1", "t", TEMPERATURES),
        options={"variables": ["t"]},
    ),
    Case(
        "dataframe_naive_local_times_in_dst_gap",
        in_memory(
            lambda: pd.DataFrame(
                {
                    "device": ["logger-1"] * 2,
                    "timestamp": pd.to_datetime(["2024-03-31 01:30", "2024-03-31 02:30"]),
                    "t": [5.0, 5.5],
                }
            )
        ),
        refusal=(
            "InvalidRowsError",
            "1 invalid row(s); nothing was sent:\n"
            "  row 2, field 'timestamp', value datetime.datetime(2024, 3, 31, 2, 30): does "
            "not exist in Europe/Berlin (skipped by a DST change)",
        ),
        options={"timezone": "Europe/Berlin"},
    ),
    Case(
        "dataframe_repeated_column",
        in_memory(
            lambda: pd.DataFrame([[1, 2]], columns=["t", "t"]).assign(device="a", timestamp=JAN1)
        ),
        refusal=(
            "DatasetError",
            "DataFrame: repeated column names: ['t']; its columns: ['t', 't', 'device', "
            "'timestamp']",
        ),
    ),
]
