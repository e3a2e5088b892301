"""A whole backfill at the token's rate, through a real scheduler.

    python bench/bench_backfill.py [--days 20] [--dots-per-day 18000] [--rate 4]

Starts the emulator at ``--rate`` requests/s (the API's default limit: 4) and a real Airflow
in a temporary home (scheduler with LocalExecutor, dag-processor, triggerer and api-server, on
SQLite), writes one CSV file per day, and runs ``airflow backfill create`` over ``--days``
daily runs with 3 runs at a time and no pool: 3 tasks send at once, each with the connection's
``rate_limit`` (the token's limit), sharing the token's pace on the machine.

Figures, measured at the emulator: ``wall_s`` from the first request to the last, against
``ideal_s`` = (accepted requests - 1) / rate, the time they take at exactly the limit;
``held_ratio`` = ideal_s / wall_s; ``429s``; ``duplicates`` (dots stored more than once);
``lost`` (dots of the input not stored); ``tightest_window_s``, the shortest span of
``rate + 1`` consecutive arrivals (the API refuses one when it is under 1 s). Targets:
held_ratio >= 0.95, no 429, no duplicate, nothing lost. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from tests.real_airflow import RealAirflow  # noqa: E402

TOKEN = "BBFF-bench-backfill-3c81f0a9d2e4"
DAG_ID = "bench_backfill"
START = dt.date(2024, 1, 1)
DEVICES = 10
VARIABLES = ("temperature", "humidity", "pressure", "battery", "rssi")

DAG_FILE = """
import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

with DAG(
    dag_id="{dag_id}",
    schedule="@daily",
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    end_date=pendulum.datetime({end.year}, {end.month}, {end.day}, tz="UTC"),
    catchup=False,
    max_active_runs=3,
):
    BulkDotsOperator(
        task_id="send_day",
        data="{data_dir}/day_{{{{ ds_nodash }}}}.csv",
        timestamp_column="time",
        retries=2,
        retry_delay=pendulum.duration(seconds=5),
    )
"""


def write_day(path: Path, day: dt.date, dots: int, seed: int) -> int:
    """One day of wide rows (``DEVICES`` loggers, one reading a step); returns its dots."""
    rng = random.Random(seed)
    rows = dots // len(VARIABLES) // DEVICES
    step = 86_400 // max(rows, 1)
    start = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "device", *VARIABLES])
        for index in range(rows):
            instant = (start + dt.timedelta(seconds=index * step)).isoformat()
            for device in range(DEVICES):
                writer.writerow(
                    [
                        instant,
                        f"station-{device:02d}",
                        round(rng.uniform(-10, 35), 2),
                        round(rng.uniform(20, 99), 1),
                        round(rng.uniform(990, 1030), 1),
                        round(rng.uniform(3.3, 4.2), 2),
                        rng.randint(-95, -40),
                    ]
                )
    return rows * DEVICES * len(VARIABLES)


class ArrivalLog:
    """Records when each authenticated bulk POST reached the emulator's rate limit check,
    and how many it let through."""

    def __init__(self, limiter: object) -> None:
        self.instants: list[float] = []
        self.accepted = 0
        self._lock = threading.Lock()
        acquire = limiter.acquire  # type: ignore[attr-defined]

        def recording(key: str) -> float | None:
            refused: float | None = acquire(key)
            with self._lock:
                self.instants.append(time.monotonic())
                self.accepted += refused is None
            return refused

        limiter.acquire = recording  # type: ignore[attr-defined]


def tightest_window(instants: list[float], count: int) -> float:
    """The shortest time spanned by ``count`` consecutive arrivals (0 when there are fewer)."""
    ordered = sorted(instants)
    spans = [ordered[i + count - 1] - ordered[i] for i in range(len(ordered) - count + 1)]
    return min(spans, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=20)
    parser.add_argument("--dots-per-day", type=int, default=18_000)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop Airflow on the way out

    from airflow_provider_bulkdots.emulator import start_emulator

    work = Path(tempfile.mkdtemp(prefix="bulkdots-bench-backfill-"))
    data_dir, dags = work / "data", work / "dags"
    data_dir.mkdir()
    dags.mkdir()
    expected = 0
    for offset in range(args.days):
        day = START + dt.timedelta(days=offset)
        expected += write_day(data_dir / f"day_{day:%Y%m%d}.csv", day, args.dots_per_day, offset)
    last = START + dt.timedelta(days=args.days - 1)
    dag_file = DAG_FILE.format(dag_id=DAG_ID, data_dir=data_dir, end=last)
    (dags / "bench_backfill.py").write_text(dag_file)
    print(f"{args.days} daily files, {expected:,} dots, in {work}", flush=True)

    with start_emulator(
        token=TOKEN, rate_limit=args.rate, db_path=str(work / "dots.sqlite")
    ) as emu:
        arrivals = ArrivalLog(emu.api.rate_limiter)
        connection = {"conn_type": "bulkdots", "host": emu.url, "password": TOKEN}
        env = {
            "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
            "AIRFLOW__BULKDOTS__RATE_STATE_DIR": str(work / "rate"),
        }
        airflow = RealAirflow(dags, env=env, home=work / "airflow")
        started = time.monotonic()
        airflow.migrate()  # the backfill's runs are created before the scheduler starts
        airflow.cli("dags", "reserialize")
        airflow.cli(
            "backfill", "create", "--dag-id", DAG_ID, "--from-date", START.isoformat(),
            "--to-date", last.isoformat(), "--max-active-runs", "3",
        )  # fmt: skip
        print(f"Backfill of {args.days} runs created in {time.monotonic() - started:.0f} s")
        with airflow:
            print(f"Airflow up in {time.monotonic() - started:.0f} s", flush=True)

            def finished() -> bool:
                states = list(airflow.task_states(DAG_ID).values())
                return len(states) >= args.days and all(
                    s in ("success", "failed", "upstream_failed") for s in states
                )

            airflow.wait_until(finished, timeout=120 + 4 * expected / 400, what="the backfill")
            states = airflow.task_states(DAG_ID)
        stats = emu.stats()

    requests = arrivals.accepted
    wall_s = arrivals.instants[-1] - arrivals.instants[0] if len(arrivals.instants) > 1 else 0.0
    tightest = tightest_window(arrivals.instants, int(args.rate) + 1)
    ideal_s = (requests - 1) / args.rate if requests > 1 else 0.0
    by_status = stats["requests"]
    succeeded = sum(1 for s in states.values() if s == "success")
    print(f"Task instances: {succeeded}/{len(states)} success; requests by status {by_status}")
    print(
        f"Requests: {len(arrivals.instants)} in {wall_s:.1f} s from the first to the last; "
        f"the {requests} accepted take {ideal_s:.1f} s at exactly {args.rate:g}/s"
    )
    print(f"Dots: {expected:,} in the input, {stats['unique_dots']:,} stored once or more")
    print(
        f"Tightest {int(args.rate) + 1} consecutive arrivals: {tightest:.4f} s apart "
        "(the API refuses one when they fall within 1 s: the margin left for timing jitter)"
    )
    result = {
        "held_ratio": round(ideal_s / wall_s, 3) if wall_s else 0.0,
        "429s": int(by_status.get("429", 0)),
        "duplicates": int(stats["duplicates"]),
        "lost": expected - int(stats["unique_dots"]),
        "wall_s": round(wall_s, 1),
        "ideal_s": round(ideal_s, 1),
        "tightest_window_s": round(tightest, 4),
    }
    if not args.keep:
        airflow.cleanup()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
