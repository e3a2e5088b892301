"""Shared by the benchmarks: realistic wide rows (data loggers read every second), and
measuring a process's peak memory."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


def peak_rss_mb() -> float:
    """This process's own peak RSS in MB (VmHWM; ru_maxrss would include a parent's)."""
    status = Path("/proc/self/status").read_text()
    hwm_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return hwm_kb / 1024


def last_line_of_child(script: str, *args: str) -> str:
    """Run ``script`` in a fresh Python with ``args``; its last line of output."""
    out = subprocess.run(
        [sys.executable, script, *args], check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]
