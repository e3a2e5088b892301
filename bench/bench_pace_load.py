"""One token's pace on a loaded machine: 429s and the tightest window of arrivals.

    python bench/bench_pace_load.py [--tasks 4] [--bodies 40] [--hogs 4] [--rate 4]

The load of a backfill on one machine, without Airflow's own processes: ``--tasks`` writing
tasks (separate processes, each its own ``BulkDotsHook``, reshaping its rows while it sends,
as a task does), one task reading series back beside them (reads take turns like writes),
and one task killed with ``SIGKILL`` while it sends, then retried in a new process (its
first turn), all on one token against the emulator at ``--rate`` requests/s, sharing the
machine's pace state. The same load runs three times in one run: on the idle machine (the
baseline), then with ``--hogs`` busy loops (at ``--hog-nice``, 0 by default: other users'
work) on the cores, first with the tasks' departures *not* told to the pace
(``TokenPacer.leaving`` switched off in the task processes: the pace as it was before it held
the window on departures, ``before_*``), then as shipped. The emulator runs in this process
at ``--api-nice`` (by default -5 when allowed, tasks at 0): the API does not share the
machine's cores, and an emulator starved of CPU would time its own arrivals late, in bunches
(``--api-nice 0`` shows that too).

Figures, measured at the emulator (the instant each request reached its rate check):
``429s``; ``min_window_s``, the shortest span of ``rate + 1`` consecutive arrivals (the
emulator, like the API, refuses one when it is under 1 s); ``held_ratio`` = (accepted
requests - 1) / rate over the time from the first to the last; and, measured in the tasks,
``late_ms_p99``/``late_ms_max``: how long after its turn was taken a request reached the
session (the lateness the departure corrects); ``departures_min_window_s``, the same span
over the instants the requests of the tasks that ran to the end told their departure (what
the pace sees; the emulator's arrivals add the network and the emulator's own scheduling).
``held_loaded_vs_idle`` is the held rate under load over the idle one. Targets: no 429 and
``min_window_s`` > 1, idle and loaded. The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))

TOKEN = "BBFF-bench-pace-load-61c0e2f7a4d8"
VARIABLES = ("temperature", "humidity", "pressure", "battery", "rssi")
DEVICES = 8
KILL_AFTER_S = 6.0


def task_rows(task: int, bodies: int) -> Iterator[dict[str, Any]]:
    """Wide rows of one task's own devices: about ``bodies`` bodies of 10,000 bytes."""
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    for index in range(bodies * 54):  # 54 rows (of 5 dots) fill about one body
        second, device = divmod(index, DEVICES)
        yield {
            "device": f"t{task}-logger-{device}",
            "timestamp": start + dt.timedelta(seconds=second),
            **{name: round(20 + (index * 7 + i) % 97 / 10, 2) for i, name in enumerate(VARIABLES)},
        }


class LatenessProbe:
    """Wraps the session: how late after its turn each request reached ``Session.send``."""

    def __init__(self, hook: Any) -> None:
        self.late: list[float] = []
        self.granted = threading.local()
        pacer, session = hook.limiter, hook.get_conn()
        wait_turn, send = pacer.wait_turn, session.send

        def timed_wait_turn(*args: Any, **kwargs: Any) -> float:
            waited: float = wait_turn(*args, **kwargs)
            self.granted.at = time.monotonic()
            return waited

        def timed_send(*args: Any, **kwargs: Any) -> Any:
            at = getattr(self.granted, "at", None)
            if at is not None:
                self.late.append(time.monotonic() - at)
                self.granted.at = None
            return send(*args, **kwargs)

        pacer.wait_turn = timed_wait_turn
        session.send = timed_send
        self.departures: list[float] = []
        told = getattr(pacer, "leaving", None)
        if told is not None:

            def timed_leaving() -> None:
                self.departures.append(time.monotonic())
                told()

            pacer.leaving = timed_leaving


def task_main(args: argparse.Namespace) -> None:
    """One task process: write (or read back) its series; its report as JSON on stdout."""
    from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

    if args.untold:
        from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer

        TokenPacer.leaving = lambda self: None  # type: ignore[method-assign]
    hook = BulkDotsHook()
    probe = LatenessProbe(hook)
    if args.role == "read":
        reader = hook.get_reader()
        start_ms = int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
        for read in range(args.bodies):
            device, variable = f"t0-logger-{read % DEVICES}", VARIABLES[read % len(VARIABLES)]
            reader.dots(device, variable, start_ms, start_ms + 3_600_000)
    else:
        options = ReshapeOptions(device_column="device", timestamp_column="timestamp")
        hook.get_sender().deliver(build_bodies(task_rows(args.task, args.bodies), options))
    print(json.dumps({"late": probe.late, "departures": probe.departures}))


def start_task(
    role: str, task: int, bodies: int, env: dict[str, str], untold: bool
) -> subprocess.Popen[str]:
    command = [sys.executable, __file__, "--role", role, "--task", str(task)]
    command += ["--untold"] if untold else []
    return subprocess.Popen(
        [*_at_niceness(0), *command, "--bodies", str(bodies)],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )


def _at_niceness(niceness: int) -> list[str]:
    """The prefix that runs a command at ``niceness`` (nice -n is relative to this process)."""
    return ["nice", "-n", str(niceness - os.getpriority(os.PRIO_PROCESS, 0))]


def start_hogs(count: int, niceness: int) -> list[subprocess.Popen[bytes]]:
    """``count`` busy loops at ``niceness``, each in its own process group."""
    loop = "while True: pass"
    return [
        subprocess.Popen(
            [*_at_niceness(niceness), sys.executable, "-c", loop], start_new_session=True
        )
        for _ in range(count)
    ]


def run_load(args: argparse.Namespace, work: Path, hogs: int, untold: bool) -> dict[str, Any]:
    """The whole load against a fresh emulator (with ``hogs`` busy loops); its figures."""
    from airflow_provider_bulkdots.emulator import start_emulator
    from bench.bench_backfill import ArrivalLog, tightest_window

    name = f"hogs{hogs}{'-untold' if untold else ''}"
    with start_emulator(
        token=TOKEN, rate_limit=args.rate, db_path=str(work / f"{name}.sqlite")
    ) as emu:
        arrivals = ArrivalLog(emu.api.rate_limiter)
        connection = {"conn_type": "bulkdots", "host": emu.url, "password": TOKEN}
        env = dict(os.environ)
        env["AIRFLOW_CONN_BULKDOTS_DEFAULT"] = json.dumps(connection)
        env["AIRFLOW__BULKDOTS__RATE_STATE_DIR"] = str(work / f"{name}-rate")
        busy = start_hogs(hogs, args.hog_nice)
        try:
            tasks = [
                start_task("write", task, args.bodies, env, untold) for task in range(args.tasks)
            ]
            tasks.append(start_task("read", args.tasks, args.bodies, env, untold))
            killed = start_task("write", args.tasks + 1, args.bodies, env, untold)
            time.sleep(KILL_AFTER_S)  # the bench's own schedule, not a synchronisation
            killed.kill()
            killed.wait()
            tasks.append(start_task("write", args.tasks + 1, args.bodies, env, untold))  # retry
            late: list[float] = []
            departures: list[float] = []
            for process in tasks:
                stdout, _ = process.communicate(timeout=3600)
                if process.returncode:
                    raise SystemExit(f"a task failed ({process.returncode})")
                report = json.loads(stdout.strip().splitlines()[-1])
                late += report["late"]
                departures += report["departures"]
        finally:
            for hog in busy:
                os.killpg(hog.pid, signal.SIGKILL)
                hog.wait()
        stats = emu.stats()
    late.sort()
    wall = arrivals.instants[-1] - arrivals.instants[0]
    figures = {
        "429s": int(stats["requests"].get("429", 0)),
        "min_window_s": round(tightest_window(arrivals.instants, int(args.rate) + 1), 4),
        "departures_min_window_s": round(tightest_window(departures, int(args.rate) + 1), 4),
        "held_ratio": round((arrivals.accepted - 1) / args.rate / wall, 3),
        "late_ms_p99": round(1000 * late[int(0.99 * (len(late) - 1))], 1),
        "late_ms_max": round(1000 * late[-1], 1),
    }
    told = "departures not told (before)" if untold else "departures told"
    print(
        f"{hogs} busy loops (nice {args.hog_nice}), {told}: {arrivals.accepted} requests "
        f"accepted in {wall:.1f} s; {figures}",
        flush=True,
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", type=int, default=4, help="writing tasks at once")
    parser.add_argument("--bodies", type=int, default=40, help="bodies (or reads) of each task")
    parser.add_argument("--hogs", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--hog-nice", type=int, default=0, help="0: as other users' work")
    parser.add_argument("--rate", type=float, default=4.0)
    parser.add_argument("--api-nice", type=int, default=-5 if os.geteuid() == 0 else 0)
    parser.add_argument("--role", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--task", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--untold", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role is not None:
        task_main(args)
        return
    os.setpriority(os.PRIO_PROCESS, 0, args.api_nice)  # the emulator's threads
    print(f"emulator at nice {args.api_nice}, {args.tasks} writing tasks, 1 reading, 1 killed")
    work = Path(tempfile.mkdtemp(prefix="bulkdots-bench-pace-"))
    idle = run_load(args, work, 0, untold=False)
    before = run_load(args, work, args.hogs, untold=True)
    loaded = run_load(args, work, args.hogs, untold=False)
    result = {
        "429s": loaded["429s"],
        "min_window_s": loaded["min_window_s"],
        "held_ratio": loaded["held_ratio"],
        "late_ms_p99": loaded["late_ms_p99"],
        "late_ms_max": loaded["late_ms_max"],
        "before_429s": before["429s"],
        "before_min_window_s": before["min_window_s"],
        "before_held_ratio": before["held_ratio"],
        "departures_min_window_s": loaded["departures_min_window_s"],
        "before_departures_min_window_s": before["departures_min_window_s"],
        "idle_429s": idle["429s"],
        "idle_min_window_s": idle["min_window_s"],
        "idle_held_ratio": idle["held_ratio"],
        "held_loaded_vs_idle": round(loaded["held_ratio"] / idle["held_ratio"], 3),
    }
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
