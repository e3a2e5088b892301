"""How close to the API's rate limit the Hook holds, without a 429 and without losing a dot.

Runs the emulator enforcing 20 requests/s on loopback, sends bodies through BulkDotsHook set
to 20 requests/s, then again with 10% of the requests answered 5xx. Prints each phase, and
last one JSON object: ``held_ratio``, ``429s``, ``lost``, ``duplicates``, ``held_ratio_faults``.

    python bench/bench_send.py              # 1,000 bodies per phase, about 50 s each
    python bench/bench_send.py --bodies 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bulkdots-bench-"))
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator, Faults, start_emulator
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

TOKEN = "BBFF-bench-token-0123456789"
RATE = 20.0
DOTS_PER_BODY = 100


def bodies(n: int, phase: str) -> Iterator[Body]:
    """``n`` bodies of unique dots, each close to what the core makes (a few kB)."""
    start = 1_700_000_000_000
    for seq in range(n):
        values = [
            {"temperature": 20 + i % 7, "humidity": 40 + i % 11, "timestamp": start + seq * 99 + i}
            for i in range(DOTS_PER_BODY // 2)
        ]
        record = {"device": f"{phase}-{seq % 50}", "timestamp": start, "values": values}
        yield Body(seq=seq, payload=msgspec.json.encode([record]), dot_count=DOTS_PER_BODY)


def phase(emu: Emulator, name: str, n: int, faults: Faults | None) -> dict[str, Any]:
    """Send ``n`` bodies; what the emulator saw and what the Hook counted."""
    emu.reset()
    emu.set_rate_limit(RATE)
    if faults is not None:
        emu.set_faults(faults)
    os.environ["AIRFLOW_CONN_BULKDOTS_BENCH"] = json.dumps(
        {
            "conn_type": "bulkdots",
            "host": emu.url,
            "password": TOKEN,
            "extra": {"rate_limit": RATE, "max_in_flight": 4, "max_retries": 10},
        }
    )
    hook = BulkDotsHook("bulkdots_bench", progress_interval=10)
    started = time.monotonic()
    summary = hook.send(bodies(n, name))
    seconds = time.monotonic() - started
    stats = emu.stats()
    sent = n * DOTS_PER_BODY
    result = {
        "phase": name,
        "bodies": n,
        "requests": summary.requests,
        "seconds": round(seconds, 2),
        "rate": round(summary.requests / seconds, 3),
        "held_ratio": round(summary.requests / seconds / RATE, 4),
        "statuses": stats["requests"],
        "429s": stats["requests"].get("429", 0),
        "lost": sent - stats["unique_dots"],
        "duplicates": stats["duplicates"],
        "retries": summary.retries,
    }
    hook.close()
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bodies", type=int, default=1000, help="bodies per phase")
    args = parser.parse_args()
    with start_emulator(token=TOKEN, rate_limit=RATE) as emu:
        clean = phase(emu, "clean", args.bodies, None)
        faulty = phase(emu, "faults", args.bodies, Faults(error_rate=0.10, seed=42))
    print(
        json.dumps(
            {
                "held_ratio": clean["held_ratio"],
                "429s": clean["429s"] + faulty["429s"],
                "lost": clean["lost"] + faulty["lost"],
                "duplicates": clean["duplicates"] + faulty["duplicates"],
                "held_ratio_faults": faulty["held_ratio"],
            }
        )
    )


if __name__ == "__main__":
    main()
