"""A corpus of real-shaped exports, written by the writers users have (pandas ``to_csv`` /
``to_json`` / ``to_parquet``, pyarrow, Python's ``csv`` and ``json``, gzip/bz2/xz), each read,
reshaped and POSTed to the emulator: every case asserts the exact dots stored (values and
millisecond timestamps) or the exact refusal, with nothing stored.

The files are generated afresh in a temporary directory by the writers named in each case
(``tests/sources/exports.py``), so the corpus is reproducible from this repository alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.dots.errors import DatasetError, InvalidRowsError
from airflow_provider_bulkdots.sources import ReadOptions, open_dataset
from tests.sources import exports
from tests.sources.emulated import post_bodies, stored_dots
from tests.sources.exports import JAN1, MIN, Case

pytest.importorskip("pandas")
pytest.importorskip("pyarrow")


def store(emu: Any, data: Any, options: dict[str, Any], reading: dict[str, Any]) -> Report:
    """Read, reshape and POST everything (fail mode: nothing is sent if any row is invalid)."""
    opts = ReshapeOptions(**options)
    dataset = open_dataset(data, options=opts, reading=ReadOptions(**reading))
    report = Report(line_of=dataset.line_of)
    post_bodies(emu, list(build_bodies(dataset.rows(), opts, report)))
    return report


@pytest.mark.parametrize("case", exports.CASES, ids=lambda case: case.name)
def test_export_is_stored_exactly_or_refused_by_name(case: Case, emu: Any, tmp_path: Path) -> None:
    data = case.write(tmp_path)
    if case.refusal is None:
        store(emu, data, case.options, case.reading)
        assert stored_dots(emu) == sorted(case.dots)
        assert all(isinstance(dot[2], int) for dot in stored_dots(emu))  # milliseconds
        return
    kind, message = case.refusal
    with pytest.raises((InvalidRowsError, DatasetError)) as caught:
        store(emu, data, case.options, case.reading)
    assert type(caught.value).__name__ == kind
    text = str(caught.value).replace(str(tmp_path), "<tmp>")
    assert text == message
    assert emu.dots() == []  # fail mode: nothing was sent


def test_the_corpus_is_large_enough() -> None:
    assert len(exports.CASES) >= 30
    assert len({case.name for case in exports.CASES}) == len(exports.CASES)
    assert sum(case.refusal is None for case in exports.CASES) >= 15
    assert JAN1 % MIN == 0
