"""One backfill on one token across Celery workers that behave as separate machines.

    python bench/bench_celery_fleet.py [--machines 2] [--concurrency 2] [--days 8]
                                       [--dots-per-day 12000] [--rate 4]

A real CeleryExecutor deployment (tests/celery_fleet.py): api-server, scheduler,
dag-processor and ``--machines`` ``airflow celery worker`` processes of ``--concurrency`` slots,
each with its own machine-local state directory and hostname; the metadata DB and Celery's
result backend on a real PostgreSQL, the broker on a real ``redis-server`` (database 0), the
rate coordinator on the same Redis (database 1). Two emulators at ``--rate`` requests/s, one
token each, and two DAGs: the same backfill (``--days`` daily runs, one task each, all runs at
once) runs first through a ``bulkdots`` connection with ``rate_coordinator_conn_id`` (every
request of every machine takes its turn on the coordinator), then, on the same deployment,
through one without it (each machine paces from its own state file and adapts to 429s: AIMD),
the baseline of the same run.

Figures, measured at each emulator: ``held_ratio`` = (accepted requests - 1) / rate over the
time from the first request to the last; ``429s``; ``duplicates`` (dots stored more than
once); ``lost`` (dots not stored); ``machines`` that ran tasks. ``ratio`` = held_ratio with
the coordinator / without. Targets with the coordinator: 429s 0, duplicates 0, lost 0, every
machine used, held_ratio >= 0.95 of what the tasks can keep busy. The last line is one JSON
object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

from bench.bench_backfill import ArrivalLog  # noqa: E402
from tests.celery_fleet import CeleryAirflow, write_backfill  # noqa: E402

TOKEN = "BBFF-bench-celery-fleet-71c0d5e2"
RUNS = ("coordinator", "alone")


def run_backfill(fleet: CeleryAirflow, dag_id: str, days: int) -> dict[str, Any]:
    """Create the backfill, wait until every task ended; the machines that ran them."""
    fleet.create_backfill(dag_id, days)

    def finished() -> bool:
        states = list(fleet.task_states(dag_id).values())
        return len(states) == days and all(s in ("success", "failed") for s in states)

    fleet.wait_until(finished, timeout=1800, what=f"the backfill of {dag_id}", poll=1)
    states = Counter(fleet.task_states(dag_id).values())
    return {"states": dict(states), "machines": dict(Counter(fleet.hostnames(dag_id).values()))}


def figures(arrivals: ArrivalLog, stats: dict[str, Any], expected: int, rate: float) -> dict:
    """What the emulator saw of one backfill."""
    wall = arrivals.instants[-1] - arrivals.instants[0] if len(arrivals.instants) > 1 else 0.0
    held = (arrivals.accepted - 1) / rate / wall if wall else 0.0
    return {
        "held_ratio": round(held, 3),
        "429s": int(stats["requests"].get("429", 0)),
        "duplicates": int(stats["duplicates"]),
        "lost": expected - int(stats["unique_dots"]),
        "requests": arrivals.accepted,
        "wall_s": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="task slots per worker")
    parser.add_argument("--days", type=int, default=8, help="daily runs: one task each")
    parser.add_argument("--dots-per-day", type=int, default=12_000)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop Airflow on the way out

    from airflow_provider_bulkdots.emulator import start_emulator
    from tests.redis_server import running_redis
    from tests.sources.pg_server import running_postgres

    work = Path(tempfile.mkdtemp(prefix="bulkdots-bench-celery-fleet-"))
    dags, data = work / "dags", work / "data"
    dags.mkdir()
    data.mkdir()
    expected = {
        run: write_backfill(
            dags, data, f"fleet_{run}", f"bulkdots_{run}", args.days, args.dots_per_day
        )
        for run in RUNS
    }
    machines = tuple(f"machine-{chr(ord('a') + i)}" for i in range(args.machines))
    print(f"{args.days} daily files a run, {expected['alone']:,} dots, in {work}", flush=True)
    with (
        running_redis() as redis,
        running_postgres() as postgres,
        start_emulator(token=TOKEN, rate_limit=args.rate, db_path=str(work / "a.sqlite")) as a,
        start_emulator(token=TOKEN, rate_limit=args.rate, db_path=str(work / "b.sqlite")) as b,
    ):
        emulators = dict(zip(RUNS, (a, b), strict=True))
        arrivals = {run: ArrivalLog(emu.api.rate_limiter) for run, emu in emulators.items()}
        env = {
            "AIRFLOW_CONN_FLEET_REDIS": json.dumps(
                {"conn_type": "redis", "host": "127.0.0.1", "port": redis.port, "extra": {"db": 1}}
            )
        }
        for run, emu in emulators.items():
            extra: dict[str, Any] = {"rate_limit": args.rate}
            if run == "coordinator":
                extra["rate_coordinator_conn_id"] = "fleet_redis"
            connection = {"conn_type": "bulkdots", "host": emu.url, "password": TOKEN}
            env[f"AIRFLOW_CONN_BULKDOTS_{run.upper()}"] = json.dumps({**connection, "extra": extra})
        fleet = CeleryAirflow(
            dags, database_uri=postgres.uri, broker_url=redis.uri, machines=machines,
            concurrency=args.concurrency, env=env, home=work / "airflow",
        )  # fmt: skip
        started = time.monotonic()
        results: dict[str, dict[str, Any]] = {}
        with fleet:
            print(f"Airflow and {args.machines} workers up in {time.monotonic() - started:.0f} s")
            for run in RUNS:
                fleet.wait_parsed(f"fleet_{run}")
                done = run_backfill(fleet, f"fleet_{run}", args.days)
                stats = emulators[run].stats()
                results[run] = {**figures(arrivals[run], stats, expected[run], args.rate), **done}
                print(f"{run}: {results[run]}", flush=True)
    shared, alone = results["coordinator"], results["alone"]
    result = {
        "machines": len(shared["machines"]),
        "tasks": args.days,
        "held_ratio": shared["held_ratio"],
        "429s": shared["429s"],
        "duplicates": shared["duplicates"],
        "lost": shared["lost"],
        "alone_held_ratio": alone["held_ratio"],
        "alone_429s": alone["429s"],
        "alone_duplicates": alone["duplicates"],
        "alone_lost": alone["lost"],
        "ratio": round(shared["held_ratio"] / alone["held_ratio"], 2) if alone["held_ratio"] else 0,
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
