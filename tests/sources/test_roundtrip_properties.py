"""Property: any DataFrame of numbers, NaN/None and datetimes reaches the emulator exactly
(every present reading, at its exact millisecond) or is refused with nothing stored; never
altered. In memory, and through the files pandas writes (CSV, Parquet; pandas' JSON writer rounds
floats to 15 digits, so it cannot round-trip every double)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.dots import InvalidRowsError, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.sources import open_dataset
from tests.sources.emulated import post_bodies, stored_dots

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

ROUND_TRIP = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
MS_2001 = 978_307_200_000
MS_2100 = 4_102_444_800_000

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
reading = st.one_of(finite, finite, st.integers(-(2**53), 2**53).map(float), st.just(math.nan))
instant = st.one_of(
    st.integers(MS_2001, MS_2100).map(lambda ms: pd.Timestamp(ms, unit="ms")),
    st.integers(MS_2001 * 1000, MS_2100 * 1000).map(lambda us: pd.Timestamp(us, unit="us")),
)


@st.composite
def frames(draw: st.DrawFn) -> tuple[Any, bool]:
    """A DataFrame, and whether one of its timestamps is missing (NaT)."""
    rows = draw(st.integers(1, 12))
    times = draw(st.lists(instant, min_size=rows, max_size=rows, unique=True))
    has_nat = draw(st.booleans()) and draw(st.booleans())
    if has_nat:
        times[draw(st.integers(0, rows - 1))] = pd.NaT
    columns: dict[str, Any] = {
        "device": draw(
            st.lists(st.sampled_from(["a", "b-2", "c:3"]), min_size=rows, max_size=rows)
        ),
        "timestamp": pd.to_datetime(times, utc=draw(st.booleans())),
    }
    kinds = draw(
        st.lists(st.sampled_from(["float64", "float32", "Int64", "object"]), min_size=1, max_size=4)
    )
    for index, kind in enumerate(kinds):
        values = draw(st.lists(reading, min_size=rows, max_size=rows))
        name = f"v{index}"
        if kind == "float32":
            columns[name] = np.array(values, dtype=np.float32)
        elif kind == "Int64":
            columns[name] = pd.array(
                [None if v != v else int(np.clip(v, -(2**53), 2**53)) for v in values],
                dtype="Int64",
            )
        elif kind == "object":
            columns[name] = pd.array([None if v != v else v for v in values], dtype=object)
        else:
            columns[name] = np.array(values, dtype=np.float64)
    frame = pd.DataFrame(columns)
    if any(np.isinf(frame[c].astype("float64")).any() for c in frame.columns if c.startswith("v")):
        frame = frame.assign(
            **{
                c: frame[c].where(~np.isinf(frame[c].astype("float64")))
                for c in frame.columns
                if c.startswith("v")
            }
        )
    return frame, has_nat


def expected_dots(frame: Any) -> list[tuple[str, str, int, float]]:
    """What must be stored: every present reading at its instant, as the value it denotes."""
    dots = []
    for _, row in frame.iterrows():
        millis = row["timestamp"].value // 1_000_000
        for column in frame.columns[2:]:
            value = row[column]
            if value is None or value is pd.NA or (isinstance(value, float) and value != value):
                continue
            if frame[column].dtype == np.float32:
                value = float(str(np.float32(value)))
            dots.append((row["device"], column, millis, float(value)))
    return sorted(dots)


def send(emulator: Any, data: Any) -> None:
    dataset = open_dataset(data, options=ReshapeOptions())
    post_bodies(emulator, list(build_bodies(dataset.rows(), ReshapeOptions())))


def as_written(frame: Any, form: str, directory: Path) -> Any:
    if form == "dataframe":
        return frame
    path = directory / f"frame.{form}"
    if form == "csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return str(path)


@ROUND_TRIP
@given(case=frames(), form=st.sampled_from(["dataframe", "csv", "parquet"]))
def test_any_frame_is_stored_exactly_or_refused(
    bulkdots_emulator: Any, tmp_path_factory: Any, case: tuple[Any, bool], form: str
) -> None:
    frame, has_nat = case
    bulkdots_emulator.reset()
    data = as_written(frame, form, tmp_path_factory.mktemp("roundtrip"))
    if has_nat:
        with pytest.raises(InvalidRowsError, match=r"field 'timestamp'.*must not be missing"):
            send(bulkdots_emulator, data)
        assert bulkdots_emulator.dots() == []
        return
    send(bulkdots_emulator, data)
    assert stored_dots(bulkdots_emulator) == expected_dots(frame)
