"""A bench_core input: a DataFrame whose integer columns pandas upcast to float because one
value is missing, and the core as it wrote such numbers before (``40.0``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from _common import START


def upcast_frame(dots: int) -> Any:
    """Counters and CO2 ppm as pandas holds them once a value is missing: float64."""
    import numpy as np
    import pandas as pd

    rows = dots // 4
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "device": [f"weather-station-{i % 50:03d}" for i in range(rows)],
            "timestamp": pd.date_range(START, periods=rows, freq="s"),
            "co2": rng.integers(380, 2000, rows),
            "people": rng.integers(0, 40, rows),
            "energy_wh": rng.integers(0, 10**7, rows),
            "door_open": rng.integers(0, 2, rows),
        }
    )
    for column in ("co2", "people", "energy_wh", "door_open"):
        frame.loc[frame.index[::97], column] = np.nan  # one gap: the column becomes float64
    return frame


@contextmanager
def integral_floats_written_as_floats() -> Iterator[None]:
    """The core as it was before issue 12.5: integral floats keep their ``.0``."""
    from airflow_provider_bulkdots.dots import numbers, wide

    with (
        mock.patch.object(numbers, "_INTEGRAL_AS_INT_BELOW", 0.0),
        mock.patch.object(wide, "_shortest_numbers", lambda encoded: encoded),
    ):
        yield
