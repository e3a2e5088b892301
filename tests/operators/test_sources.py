"""Upstream datasets as the operator reads them: rows back unchanged, and a fingerprint that
changes exactly when the input does. (The operator's only input path, so tested with it.)"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.sources import UnreadableLine, open_dataset

ROWS: list[dict[str, Any]] = [
    {"device": "press-1", "timestamp": "2024-01-01T00:00:00Z", "temperature": 21.5, "co2": 410},
    {"device": "press-2", "timestamp": "2024-01-01T00:00:01Z", "temperature": 19.0, "co2": 395},
    {"device": "press-1", "timestamp": "2024-01-01T00:00:02Z", "temperature": 21.7, "co2": 412},
]


def as_text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{key: str(value) for key, value in row.items()} for row in rows]


def write_csv(path: Path, rows: list[dict[str, Any]], bom: bool = False) -> Path:
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


# -- in-memory data -----------------------------------------------------------------------


def test_a_list_of_rows_is_read_back_unchanged_and_again() -> None:
    rows = [dict(row) for row in ROWS]
    dataset = open_dataset(rows)

    assert list(dataset.rows()) == ROWS
    assert list(dataset.rows()) == ROWS  # re-readable, from the start
    assert rows == ROWS  # the input is left as it was
    assert dataset.description == "3 rows"
    assert list(open_dataset(tuple(ROWS)).rows()) == ROWS


def test_a_list_fingerprint_follows_its_content() -> None:
    same = open_dataset([dict(row) for row in ROWS]).fingerprint
    changed = [dict(row) for row in ROWS]
    changed[1]["co2"] = 396

    assert open_dataset(ROWS).fingerprint == same
    assert open_dataset(changed).fingerprint != same
    assert open_dataset(ROWS[:2]).fingerprint != same
    assert open_dataset(list(reversed(ROWS))).fingerprint != same


def test_a_dataframe_is_read_as_row_mappings() -> None:
    frame = pd.DataFrame(ROWS)
    dataset = open_dataset(frame)

    assert list(dataset.rows()) == ROWS
    assert dataset.description == "DataFrame of 3 rows"
    changed = frame.copy()
    changed.loc[1, "co2"] = 396
    assert open_dataset(pd.DataFrame(ROWS)).fingerprint == dataset.fingerprint
    assert open_dataset(changed).fingerprint != dataset.fingerprint
    renamed = frame.rename(columns={"co2": "co2_ppm"})
    assert open_dataset(renamed).fingerprint != dataset.fingerprint


def test_a_long_dataframe_is_read_in_chunks_without_losing_a_row() -> None:
    frame = pd.DataFrame({"device": "d", "timestamp": range(20_000), "value": range(20_000)})

    rows = list(open_dataset(frame).rows())

    assert [row["value"] for row in rows] == list(range(20_000))


def test_anything_else_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="got dict"):
        open_dataset({"device": "d"})
    with pytest.raises(TypeError, match="got int"):
        open_dataset(42)


# -- files --------------------------------------------------------------------------------


def test_csv_rows_come_back_as_text_bom_or_not(tmp_path: Path) -> None:
    plain = write_csv(tmp_path / "plain.csv", ROWS)
    with_bom = write_csv(tmp_path / "bom.csv", ROWS, bom=True)

    assert list(open_dataset(str(plain)).rows()) == as_text(ROWS)
    assert list(open_dataset(str(with_bom)).rows()) == as_text(ROWS)
    assert list(open_dataset(plain).rows()) == as_text(ROWS)  # a pathlib.Path
    assert list(open_dataset(f"file://{plain}").rows()) == as_text(ROWS)  # a URI
    assert open_dataset(str(plain)).description.startswith("csv file ")


def test_jsonl_rows_and_an_unreadable_line(tmp_path: Path) -> None:
    lines = [json.dumps(ROWS[0]), "", '{"device": "press-2", "timest', json.dumps(ROWS[2])]
    path = write_jsonl(tmp_path / "rows.jsonl", lines)

    rows = list(open_dataset(str(path)).rows())

    assert rows[0] == ROWS[0] and rows[2] == ROWS[2]
    assert isinstance(rows[1], UnreadableLine)
    assert rows[1].text == '{"device": "press-2", "timest'
    assert rows[1].error


def test_an_unreadable_jsonl_line_becomes_a_rejected_row(tmp_path: Path) -> None:
    lines = [json.dumps(ROWS[0]), "{not json", json.dumps(ROWS[2])]
    path = write_jsonl(tmp_path / "rows.ndjson", lines)
    report = Report()

    bodies = list(
        build_bodies(open_dataset(str(path)).rows(), ReshapeOptions(on_invalid="skip"), report)
    )

    assert report.rows_read == 3
    assert report.invalid_rows == 1
    (rejected,) = report.invalid_sample
    assert rejected.row_number == 2
    assert sum(body.dot_count for body in bodies) == 4  # the other two rows, two readings each


def test_parquet_rows_come_back_typed_across_batches(tmp_path: Path) -> None:
    count = 10_000  # more than one reader batch
    table = pa.table(
        {
            "device": [f"press-{index % 3}" for index in range(count)],
            "timestamp": list(range(count)),
            "temperature": [index / 10 for index in range(count)],
        }
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=3_000)

    rows = list(open_dataset(str(path)).rows())

    assert rows == table.to_pylist()
    assert open_dataset(str(tmp_path / "rows.parquet")).description.startswith("parquet file")


def test_the_format_comes_from_the_suffix_or_the_argument(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export.txt", ROWS)

    with pytest.raises(ValueError, match=r"cannot tell the format .*file_format"):
        open_dataset(str(path))
    assert list(open_dataset(str(path), file_format="csv").rows()) == as_text(ROWS)
    with pytest.raises(ValueError, match="cannot tell the format"):
        open_dataset(str(path), file_format="xlsx")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.csv"

    with pytest.raises(FileNotFoundError, match=r"missing\.csv does not exist"):
        open_dataset(str(missing))


def test_a_file_fingerprint_is_its_content_not_its_path_or_mtime(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "rows.csv", ROWS)
    before = open_dataset(str(path)).fingerprint

    assert open_dataset(str(path)).fingerprint == before  # unchanged: the same
    changed = [dict(row) for row in ROWS]
    changed[0]["temperature"] = 22.5  # same size, new content
    write_csv(path, changed)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))

    after = open_dataset(str(path)).fingerprint
    assert after != before
    write_csv(path, ROWS + ROWS[:1])
    assert open_dataset(str(path)).fingerprint not in (before, after)
    copy = write_csv(tmp_path / "copy.csv", ROWS)
    assert open_dataset(str(copy)).fingerprint == before  # the same bytes elsewhere
    write_csv(path, ROWS)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    assert open_dataset(str(path)).fingerprint == before  # rewritten, same bytes, new mtime


def test_an_unreadable_jsonl_line_is_rejected_with_the_parsers_reason(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "rows.jsonl", [json.dumps(ROWS[0]), "{not json"])
    report = Report()

    list(build_bodies(open_dataset(str(path)).rows(), ReshapeOptions(on_invalid="skip"), report))

    (rejected,) = report.invalid_sample
    assert rejected.field == "(line)"
    assert rejected.value == "{not json"
    assert rejected.rule.startswith("not readable: JSON is malformed")
