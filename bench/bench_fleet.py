"""A fleet on one token: simulated machines with and without the rate coordinator.

    python bench/bench_fleet.py [--machines 3] [--tasks 3] [--bodies 30] [--rate 4]

Starts the emulator at ``--rate`` requests/s and a ``redis-server`` (Debian's; the
coordinator), then runs the same load twice: ``--machines`` separate processes, each with its
own machine-local state directory (as separate hosts), each running ``--tasks`` tasks at once
(threads, each with its own ``BulkDotsHook`` as a task has), all on one token whose
connection says the token's limit. Task 0 of machine 0 is a *live* load: it starts once the
backfills are under way, sends ``--live-bodies`` bodies one request at a time
(``max_in_flight=1``: an hourly load), with ``priority="live"``; every other task is a
backfill of ``--bodies`` bodies. First with ``rate_coordinator_conn_id`` (every request takes
its turn on the coordinator), then without (each machine paces from its own file and adapts
to 429s: AIMD), against a fresh emulator each time.

Figures, measured at the emulator: ``held_ratio`` = (accepted requests - 1) / rate over the
time from the first request to the last; ``429s``; ``duplicates`` (dots stored more than
once); ``lost`` (dots not stored); ``live_max_wait_s``, the longest time a request of the live
task waited for its turn on the coordinator. ``aimd_held_ratio``/``aimd_429s`` are the same
load without the coordinator (the baseline of the same run). Targets with the coordinator:
held_ratio >= 0.95, 429s 0, duplicates 0, lost 0, live_max_wait_s <= 1. The last line is one
JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

TOKEN = "BBFF-bench-fleet-5d02c7e1a9b3"
VARIABLES = ("temperature", "humidity", "pressure", "battery", "rssi")
DEVICES = 8
LIVE_START_S = 6.0


def task_rows(machine: int, task: int, bodies: int) -> list[dict[str, Any]]:
    """Wide rows of one task's own devices: about ``bodies`` bodies of 10,000 bytes."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    rows = []
    for index in range(bodies * 54):  # 54 rows (of 5 dots) fill about one body
        second, device = divmod(index, DEVICES)
        rows.append(
            {
                "device": f"m{machine}-t{task}-logger-{device}",
                "timestamp": start + dt.timedelta(seconds=second),
                **{
                    name: round(20 + (index * 7 + i) % 97 / 10, 2)
                    for i, name in enumerate(VARIABLES)
                },
            }
        )
    return rows


class RecordingPacer:
    """The task's pace, recording how long each request waited for its turn."""

    def __init__(self, pacer: Any) -> None:
        self.pacer = pacer
        self.waits: list[float] = []
        self._lock = threading.Lock()

    def wait_turn(self, wait: Any, defer_over: float | None = None, dots: int = 0) -> float:
        started = time.monotonic()
        self.pacer.wait_turn(wait, defer_over, dots)
        with self._lock:
            self.waits.append(time.monotonic() - started)
        return self.waits[-1]

    def throttled(self, retry_after: float) -> None:
        self.pacer.throttled(retry_after)

    @property
    def fallbacks(self) -> int:
        return int(getattr(self.pacer, "fallbacks", 0))

    @property
    def waiting_on(self) -> str | None:
        return getattr(self.pacer, "waiting_on", None)


def run_task(machine: int, task: int, args: argparse.Namespace, out: dict[str, Any]) -> None:
    """One task: its own hook, its bodies, its summary."""
    from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

    live = machine == 0 and task == 0
    if live:
        time.sleep(LIVE_START_S)  # an hourly load that starts while the backfills run
    hook = BulkDotsHook(priority="live" if live else "backfill", max_in_flight=1 if live else None)
    hook._limiter = RecordingPacer(hook.limiter)  # the bench's probe, before the sender exists
    options = ReshapeOptions(device_column="device", timestamp_column="timestamp")
    bodies = list(
        build_bodies(task_rows(machine, task, args.live_bodies if live else args.bodies), options)
    )
    summary = hook.get_sender().deliver(bodies)
    out[f"{machine}-{task}"] = {
        "live": live,
        "bodies": len(bodies),
        "dots": sum(body.dot_count for body in bodies),
        "fallbacks": summary.coordinator_fallbacks,
        "max_wait_s": max(hook._limiter.waits, default=0.0),
    }


def machine_main(args: argparse.Namespace) -> None:
    """One simulated machine: ``--tasks`` tasks at once; its report as JSON on stdout."""
    out: dict[str, Any] = {}
    threads = [
        threading.Thread(target=run_task, args=(args.machine, task, args, out))
        for task in range(args.tasks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps(out))


def run_fleet(args: argparse.Namespace, work: Path, redis_port: int | None) -> dict[str, Any]:
    """The whole load against a fresh emulator; the figures measured there."""
    from airflow_provider_bulkdots.emulator import start_emulator
    from bench.bench_backfill import ArrivalLog

    name = "coordinator" if redis_port else "aimd"
    with start_emulator(
        token=TOKEN, rate_limit=args.rate, db_path=str(work / f"{name}.sqlite")
    ) as emu:
        arrivals = ArrivalLog(emu.api.rate_limiter)
        extra: dict[str, Any] = {"rate_limit": args.rate}
        env = dict(os.environ)
        if redis_port:
            extra["rate_coordinator_conn_id"] = "fleet_redis"
            redis = {"conn_type": "redis", "host": "127.0.0.1", "port": redis_port}
            env["AIRFLOW_CONN_FLEET_REDIS"] = json.dumps(redis)
        connection = {"conn_type": "bulkdots", "host": emu.url, "password": TOKEN, "extra": extra}
        env["AIRFLOW_CONN_BULKDOTS_DEFAULT"] = json.dumps(connection)
        machines = []
        for machine in range(args.machines):
            env["AIRFLOW__BULKDOTS__RATE_STATE_DIR"] = str(work / f"{name}-machine-{machine}")
            machines.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--machine",
                        str(machine),
                        "--tasks",
                        str(args.tasks),
                        "--bodies",
                        str(args.bodies),
                        "--live-bodies",
                        str(args.live_bodies),
                    ],
                    env=dict(env),
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        tasks: dict[str, Any] = {}
        for process in machines:
            stdout, _ = process.communicate(timeout=3600)
            if process.returncode:
                raise SystemExit(f"a machine failed ({process.returncode})")
            tasks.update(json.loads(stdout.strip().splitlines()[-1]))
        stats = emu.stats()
    expected = sum(task["dots"] for task in tasks.values())
    accepted = arrivals.accepted
    wall = arrivals.instants[-1] - arrivals.instants[0]
    live = [task for task in tasks.values() if task["live"]]
    figures = {
        "held_ratio": round((accepted - 1) / args.rate / wall, 3),
        "429s": int(stats["requests"].get("429", 0)),
        "duplicates": int(stats["duplicates"]),
        "lost": expected - int(stats["unique_dots"]),
        "live_max_wait_s": round(max(t["max_wait_s"] for t in live), 3),
        "fallbacks": sum(t["fallbacks"] for t in tasks.values()),
    }
    print(
        f"{name}: {len(tasks)} tasks on {args.machines} machines, {accepted} requests "
        f"accepted in {wall:.1f} s, {expected:,} dots; {figures}",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--bodies", type=int, default=30, help="bodies of each backfill task")
    parser.add_argument("--live-bodies", type=int, default=8)
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--machine", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.machine is not None:
        machine_main(args)
        return

    from tests.redis_server import running_redis

    work = Path(tempfile.mkdtemp(prefix="bulkdots-bench-fleet-"))
    with running_redis() as redis:
        shared = run_fleet(args, work, redis.port)
    alone = run_fleet(args, work, None)
    result = {
        "machines": args.machines,
        "held_ratio": shared["held_ratio"],
        "429s": shared["429s"],
        "duplicates": shared["duplicates"],
        "lost": shared["lost"],
        "aimd_held_ratio": alone["held_ratio"],
        "aimd_429s": alone["429s"],
        "live_max_wait_s": shared["live_max_wait_s"],
    }
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
