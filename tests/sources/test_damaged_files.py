"""Damaged and hostile files: refused as a whole naming the file and the exact line, or read
with the bad rows named; never a bare decompression error, never unbounded memory."""

from __future__ import annotations

import bz2
import gzip
import lzma
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.dots.errors import DatasetError, UnreadableRow
from airflow_provider_bulkdots.exceptions import BulkDotsError
from airflow_provider_bulkdots.sources import LineLimits, ReadOptions, open_dataset

T0 = 1_704_067_200_000
HEADER = "device,timestamp,temperature\n"


def csv_rows(count: int, first: int = 0) -> str:
    return "".join(f"boiler-1,{T0 + n * 1000},{20 + n % 10}.5\n" for n in range(first, count))


def jsonl_rows(count: int) -> bytes:
    return b"".join(
        b'{"device": "boiler-1", "timestamp": %d, "temperature": 20.5}\n' % (T0 + n)
        for n in range(count)
    )


def read(path: Path, limits: LineLimits | None = None) -> list[object]:
    reading = ReadOptions(limits=limits or LineLimits())
    return list(open_dataset(str(path), reading=reading).rows())


def _bad_crc(data: bytes) -> bytes:
    damaged = bytearray(data)
    damaged[-8] ^= 0xFF  # the CRC-32 in the gzip trailer
    return bytes(damaged)


DAMAGE: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "truncated gzip": (".gz", lambda raw: gzip.compress(raw)[: len(gzip.compress(raw)) // 2]),
    "gzip with a bad CRC": (".gz", lambda raw: _bad_crc(gzip.compress(raw))),
    "truncated bz2": (".bz2", lambda raw: bz2.compress(raw)[: len(bz2.compress(raw)) // 2]),
    "truncated xz": (".xz", lambda raw: lzma.compress(raw)[: len(lzma.compress(raw)) // 2]),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_damaged_compressed_file_is_a_dataset_error_naming_it(
    tmp_path: Path, damage: str, kind: str
) -> None:
    suffix, damaged = DAMAGE[damage]
    content = (HEADER + csv_rows(5000)).encode() if kind == "csv" else jsonl_rows(5000)
    path = tmp_path / f"logger.{kind}{suffix}"
    path.write_bytes(damaged(content))

    with pytest.raises(DatasetError) as raised:
        read(path)

    assert isinstance(raised.value, BulkDotsError)
    assert str(raised.value).startswith(f"{path}: the file is damaged")


def test_a_latin1_byte_names_its_exact_line(tmp_path: Path) -> None:
    lines = (HEADER + csv_rows(5000)).splitlines(keepends=True)
    lines[3001] = lines[3001].replace("boiler-1", "chaudière")  # line 3,002
    path = tmp_path / "export.csv"
    path.write_bytes("".join(lines).encode("latin-1"))

    with pytest.raises(DatasetError, match=r"not UTF-8 text: line 3,002, column 7 holds byte"):
        read(path)


def test_a_json_line_nested_2000_deep_is_one_invalid_row(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    deep = b"[" * 2000 + b"]" * 2000 + b"\n"
    path.write_bytes(jsonl_rows(3) + deep + jsonl_rows(2))
    dataset = open_dataset(str(path))
    report = Report(line_of=dataset.line_of)

    bodies = list(build_bodies(dataset.rows(), ReshapeOptions(on_invalid="skip"), report))

    assert report.dots == 5 and len(bodies) == 1
    [rejected] = report.invalid_sample
    assert (rejected.row_number, rejected.line) == (4, 4)
    assert rejected.rule == "not readable: JSON nested too deeply to read"


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_line_longer_than_max_line_bytes_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    long_value = "9" * 100_000
    if kind == "csv":
        content = HEADER + csv_rows(3) + f"boiler-1,{T0},{long_value}\n"
    else:
        content = jsonl_rows(3).decode() + f'{{"device": "d", "t": {long_value}}}\n'
    path = tmp_path / f"data.{kind}"
    path.write_text(content)

    assert len(read(path, LineLimits(max_line_bytes=150_000))) == 4  # within the limit: read
    with pytest.raises(DatasetError) as raised:
        read(path, LineLimits(max_line_bytes=50_000))
    line = 5 if kind == "csv" else 4
    assert str(raised.value).startswith(
        f"{path}: line {line} is longer than max_line_bytes=50,000 bytes (decompressed)"
    )


def test_a_gzip_bomb_of_one_long_line_is_refused_within_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "bomb.csv.gz"
    with gzip.open(path, "wb") as handle:  # 256 MiB of one line, about 250 KB on disk
        handle.write(HEADER.encode())
        block = b"a" * (1 << 20)
        for _ in range(256):
            handle.write(block)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=r"line 2 is longer than max_line_bytes=1,048,576"):
            read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 8 << 20  # a line's limit and a chunk, not the line


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_long_run_of_blank_lines_is_skipped_and_counted(tmp_path: Path, kind: str) -> None:
    blank = "\n" * 3_000_000 + "\r\n" * 1000 + "\n"
    if kind == "csv":
        content = HEADER + csv_rows(2) + blank + csv_rows(3, first=2)
    else:
        content = jsonl_rows(2).decode() + blank + jsonl_rows(3).decode()[len(jsonl_rows(2)) :]
    path = tmp_path / f"data.{kind}.gz"
    path.write_bytes(gzip.compress(content.encode()))
    dataset = open_dataset(str(path))

    rows = list(dataset.rows())

    assert len(rows) == 3 and not any(isinstance(row, UnreadableRow) for row in rows)
    header = 1 if kind == "csv" else 0
    assert [dataset.line_of(n) for n in (1, 2, 3)] == [header + 1, header + 2, header + 3_001_004]


def test_a_stray_quote_is_refused_naming_its_line_not_swallowing_the_rows_after_it(
    tmp_path: Path,
) -> None:
    lines = (HEADER + csv_rows(20_000)).splitlines(keepends=True)
    lines[1001] = lines[1001].replace(",17", ',"17')  # line 1,002 opens a quote, never closed
    path = tmp_path / "export.csv"
    path.write_text("".join(lines))

    with pytest.raises(DatasetError) as raised:
        read(path)

    assert str(raised.value).startswith(
        f"{path}: a field of the row starting on line 1,002 is longer than 131,072 characters"
    )


def test_broken_quoting_stops_once_unreadable_rows_pass_the_limit(tmp_path: Path) -> None:
    good = csv_rows(49)
    # from line 51 on, a quote opened at the end of each line closes on the next one
    broken = "".join(f'boiler-1,{T0 + n},"x\ny",1,2\n' for n in range(100))
    path = tmp_path / "export.csv"
    path.write_text(HEADER + good + broken + csv_rows(10))

    rows = read(path, LineLimits(max_bad_lines=1000, max_bad_line_share=1))
    with pytest.raises(DatasetError) as by_count:
        read(path, LineLimits(max_bad_lines=10))
    with pytest.raises(DatasetError) as by_share:
        read(path, LineLimits(max_bad_line_share=0.5))

    assert len(rows) == 159 and sum(isinstance(row, UnreadableRow) for row in rows) == 100
    assert str(by_count.value).startswith(
        f"{path}: 11 of the first 60 rows cannot be read (over max_bad_lines=10); "
        "quoting broke on line 51: a quote opened there is not closed where its row ends"
    )
    assert "over max_bad_line_share=0.5); quoting broke on line 51" in str(by_share.value)
    first_bad = next(row for row in rows if isinstance(row, UnreadableRow))
    assert first_bad.error == (
        "5 fields, header has 3; read as one row from line 51 to line 52: a quote opened on "
        "line 51 closes only on line 52"
    )


def test_a_field_longer_than_max_field_chars_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text(HEADER + csv_rows(2) + f'boiler-1,{T0},"{"x" * 5000}"\n')

    with pytest.raises(DatasetError, match=r"row starting on line 4 is longer than 2,000 char"):
        read(path, LineLimits(max_field_chars=2000))
    assert len(read(path)) == 3


def test_limits_out_of_range_are_refused() -> None:
    with pytest.raises(DatasetError, match="max_line_bytes must be an integer of at least 1024"):
        LineLimits(max_line_bytes=10)
    with pytest.raises(DatasetError, match="max_bad_line_share must be within 0 and 1"):
        LineLimits(max_bad_line_share=2)
