"""Realistic wide rows for the benchmarks: data loggers read every second."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

DEVICES = 50
VARIABLES = ("temperature", "humidity", "pressure", "battery", "rssi")
START = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)


def wide_rows(dots: int, seed: int = 7) -> Iterator[dict[str, object]]:
    """Rows as a warehouse query returns them: aware datetimes and floats, devices interleaved."""
    rng = random.Random(seed)
    rows = dots // len(VARIABLES)
    for index in range(rows):
        second, device = divmod(index, DEVICES)
        yield {
            "device": f"weather-station-{device:03d}",
            "timestamp": START + dt.timedelta(seconds=second),
            "temperature": round(rng.uniform(-10.0, 35.0), 2),
            "humidity": round(rng.uniform(20.0, 99.0), 1),
            "pressure": round(rng.uniform(990.0, 1030.0), 1),
            "battery": round(rng.uniform(3.3, 4.2), 2),
            "rssi": rng.randint(-95, -40),
        }
