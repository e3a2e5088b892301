"""Reading text files of hostile shapes, each figure beside a baseline of the same run.

    python bench/bench_lines.py [--mb 32]

Figures: seconds per MB to read a JSON Lines file holding one line of N/4, N/2 and N MB
(``long_line_s_per_mb``), and ``long_line_growth``, the last over the first (1 when reading
is linear in the line's length; 4 when it is quadratic, as it was); ``short_lines_s_per_mb``,
the same bytes as ordinary rows (the baseline); for a gzip bomb (one 256 MiB line, about
250 KB compressed) the peak of traced memory before its error, beside the line limit; for
256 MiB of blank lines, the seconds to read them over the seconds to decompress them alone.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from airflow_provider_bulkdots.dots.errors import DatasetError
from airflow_provider_bulkdots.sources import LineLimits, ReadOptions, open_dataset

MB = 1 << 20


def _read_seconds(path: Path, limits: LineLimits) -> float:
    dataset = open_dataset(str(path), reading=ReadOptions(limits=limits))
    started = time.perf_counter()
    for _ in dataset.rows():
        pass
    return time.perf_counter() - started


def _long_line(directory: Path, megabytes: int) -> Path:
    path = directory / f"long_{megabytes}.jsonl"
    filler = b"a" * (megabytes * MB)
    path.write_bytes(b'{"device": "d", "timestamp": 1704067200000, "note": "' + filler + b'"}\n')
    return path


def _short_lines(directory: Path, megabytes: int) -> Path:
    path = directory / "short.jsonl"
    row = b'{"device": "boiler-1", "timestamp": 1704067200000, "temperature": 20.5}\n'
    path.write_bytes(row * (megabytes * MB // len(row)))
    return path


def line_figures(directory: Path, megabytes: int) -> dict[str, object]:
    limits = LineLimits(max_line_bytes=(megabytes + 1) * MB)
    sizes = [max(1, megabytes // 4), max(1, megabytes // 2), megabytes]
    per_mb = [_read_seconds(_long_line(directory, size), limits) / size for size in sizes]
    short = _read_seconds(_short_lines(directory, megabytes), limits) / megabytes
    return {
        "long_line_mb": sizes,
        "long_line_s_per_mb": [round(value, 4) for value in per_mb],
        "long_line_growth": round(per_mb[-1] / per_mb[0], 2),
        "short_lines_s_per_mb": round(short, 4),
    }


def bomb_figures(directory: Path) -> dict[str, object]:
    path = directory / "bomb.csv.gz"
    with gzip.open(path, "wb", compresslevel=9) as handle:
        handle.write(b"device,timestamp,temperature\n")
        block = b"a" * MB
        for _ in range(256):
            handle.write(block)
    tracemalloc.start()
    try:
        with contextlib.suppress(DatasetError):  # refused: the line is over the limit
            _read_seconds(path, LineLimits())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return {
        "bomb_compressed_kb": round(path.stat().st_size / 1024),
        "bomb_peak_traced_mb": round(peak / MB, 1),
        "line_limit_mb": LineLimits().max_line_bytes / MB,
    }


def blank_figures(directory: Path) -> dict[str, object]:
    path = directory / "blank.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        for _ in range(256):
            handle.write(b"\n" * MB)
        handle.write(b'{"device": "d", "timestamp": 1704067200000, "t": 1}\n')
    started = time.perf_counter()
    with gzip.open(path, "rb") as stream:
        while stream.read(1 << 16):
            pass
    decompress = time.perf_counter() - started
    read = _read_seconds(path, LineLimits())
    return {
        "blank_256mb_s": round(read, 2),
        "decompress_only_s": round(decompress, 2),
        "blank_ratio": round(read / decompress, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=32, help="the longest line, in MB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        figures = line_figures(directory, args.mb)
        print("long lines:", figures)
        figures |= bomb_figures(directory)
        figures |= blank_figures(directory)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
