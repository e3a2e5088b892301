"""The comparison of a check, pure: each kind of difference found and counted exactly."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec
import pytest

from airflow_provider_bulkdots.delivery.exactly_once.readback import StoredDot
from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.planning.check import (
    ExpectedDots,
    Window,
    compare_series,
    run_check,
    window_spans,
)
from airflow_provider_bulkdots.planning.differences import DifferencesFile

T0 = 1_704_067_200_000
SERIES = ("d1", "t")


def stored(*points: tuple[int, float]) -> list[StoredDot]:
    return [StoredDot(T0 + offset, value, None) for offset, value in points]


def kinds(expected: dict[int, float | None] | None, held: list[StoredDot]) -> list[tuple[str, int]]:
    return [(d.kind, d.timestamp - T0) for d in compare_series(SERIES, expected, held)]


def test_a_series_that_holds_exactly_the_source_has_no_difference() -> None:
    expected = {T0: 1.0, T0 + 1: 2.5, T0 + 2: -3.0}
    assert kinds(expected, stored((2, -3.0), (1, 2.5), (0, 1.0))) == []


def test_each_kind_is_found_at_its_timestamp() -> None:
    expected = {T0: 1.0, T0 + 1: 2.0, T0 + 2: 3.0, T0 + 3: 4.0}
    held = stored((0, 1.0), (0, 1.0), (2, 3.5), (3, 4.0), (7, 9.0))

    assert kinds(expected, held) == [
        ("duplicate_timestamp", 0),
        ("missing_dot", 1),
        ("value_mismatch", 2),
        ("unexpected_dot", 7),
    ]


def test_a_duplicate_with_one_right_value_is_a_duplicate_only() -> None:
    assert kinds({T0: 1.0}, stored((0, 1.0), (0, 5.0))) == [("duplicate_timestamp", 0)]


def test_without_a_source_only_duplicates_are_found() -> None:
    assert kinds(None, stored((0, 1.0), (0, 1.0), (4, 2.0))) == [("duplicate_timestamp", 0)]


class Reader:
    def __init__(self, held: dict[tuple[str, str], list[StoredDot]]) -> None:
        self.held = held
        self.requests = 0
        self.asked: list[tuple[str, str, int, int]] = []

    def dots(self, device: str, variable: str, start_ms: int, end_ms: int) -> list[StoredDot]:
        self.requests += 1
        self.asked.append((device, variable, start_ms, end_ms))
        return [
            d for d in self.held.get((device, variable), []) if start_ms <= d.timestamp <= end_ms
        ]


def test_a_check_reads_each_series_over_its_span_and_counts_every_dot() -> None:
    rows = [{"device": "d1", "timestamp": T0 + i, "t": i, "h": 2 * i} for i in range(10)]
    expected = ExpectedDots(Window(start_ms=T0 + 2))
    expected.add(build_bodies(rows, ReshapeOptions(max_body_bytes=200)))
    held = {
        ("d1", "t"): stored(*[(i, float(i)) for i in range(2, 10) if i != 5]),  # 5 missing
        ("d1", "h"): stored(*[(i, 2.0 * i) for i in range(2, 10)], (3, 6.0), (4, 6.0), (4, 8.0)),
    }
    reader = Reader(held)
    found: list[str] = []

    counts = run_check(reader, expected.spans(), expected.series, lambda d: found.append(d.kind))

    assert reader.asked == [("d1", "h", T0 + 2, T0 + 9), ("d1", "t", T0 + 2, T0 + 9)]
    assert counts.as_dict() == {
        "series": 2,
        "expected_dots": 16,
        "missing_dots": 1,
        "unexpected_dots": 0,
        "duplicate_timestamps": 2,
        "value_mismatches": 0,
        "differences": 3,
        "read_requests": 2,
        "dots_read": 18,
    }
    assert sorted(found) == ["duplicate_timestamp", "duplicate_timestamp", "missing_dot"]


def test_a_window_without_a_source_needs_every_bound() -> None:
    with pytest.raises(ValueError, match="window_devices"):
        window_spans(Window(start_ms=0, end_ms=1))
    spans = window_spans(Window(frozenset({"a", "b"}), frozenset({"t"}), 5, 9))
    assert spans == {("a", "t"): (5, 9), ("b", "t"): (5, 9)}


def test_the_differences_file_is_private_and_emptied_each_check(tmp_path: Path) -> None:
    path = tmp_path / "out" / "differences.jsonl"
    (difference,) = compare_series(SERIES, {T0: 1.0}, [])
    with DifferencesFile(str(path)) as out:
        out.write(difference)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    line = msgspec.json.decode(path.read_bytes().splitlines()[0])
    assert line == {
        "kind": "missing_dot",
        "device": "d1",
        "variable": "t",
        "timestamp": T0,
        "expected": 1.0,
        "stored": [],
    }
    os.chmod(path, 0o644)
    with DifferencesFile(f"file://{path}"):
        pass
    assert path.read_bytes() == b"" and stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_differences_file_is_never_written_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    link = tmp_path / "differences.jsonl"
    link.symlink_to(target)

    with pytest.raises(ConfigurationError, match="symbolic link"):
        DifferencesFile(str(link))
    assert target.read_text() == "keep me"
    with pytest.raises(ConfigurationError, match="local file"):
        DifferencesFile("s3://bucket/differences.jsonl")
