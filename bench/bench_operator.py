"""End to end through real Airflow: a CSV file to dots stored in the emulator, and what it costs.

    python bench/bench_operator.py [--dots 1000000] [--no-resume]

Writes a CSV of realistic wide rows (50 loggers, 5 variables, one-second steps, ISO
timestamps) to a temporary directory, prepares a fresh Airflow home there (SQLite, migrated),
and runs a one-task DAG with ``dag.test()``: BulkDotsOperator sends the file to the emulator
(in this process, no rate limit, dots stored in a SQLite file).

Figures: dots/s end to end (the whole ``dag.test()``, DAG run creation and task start
included), beside two baselines of the same run over the same file: the core alone
(``build_bodies`` over ``csv.DictReader``; the ratio is the cost of Airflow, HTTP and the
emulator) and the core with the Hook sending to the emulator outside any task (the ratio is
the cost of Airflow: task start, the resume ledger's Variable writes; ``--no-resume`` leaves
the ledger out). ``bodies`` (requests) against ``lower_bound`` = ceil(bytes of the payload
encoded once, one record per device / 10,000). Peak RSS of this process (VmHWM: Airflow,
the operator and the emulator's thread). The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from _common import VARIABLES, last_line_of_child, peak_rss_mb, wide_rows  # noqa: E402

TOKEN = "BBFF-bench-operator-5b2e9d41c7a8"
MAX_BODY = 10_000
DAG_ID = "bench_bulkdots_operator"


def prepare_airflow_home(home: Path) -> None:
    """A fresh Airflow home with a migrated SQLite DB; set before Airflow is imported."""
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    (home / "dags").mkdir(parents=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def write_csv(path: Path, dots: int) -> int:
    """The rows of ``wide_rows`` as CSV with ISO timestamps; returns the number of rows."""
    count = 0
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["device", "timestamp", *VARIABLES])
        for row in wide_rows(dots):
            writer.writerow(
                [row["device"], row["timestamp"].isoformat(), *(row[n] for n in VARIABLES)]  # type: ignore[attr-defined]
            )
            count += 1
    return count


def lower_bound(dots: int) -> int:
    """ceil(bytes of the shaped payload encoded once / MAX_BODY), as bench_core computes it."""
    import msgspec
    from bench_core import shaped_payload

    payload = shaped_payload(list(wide_rows(dots)))
    return math.ceil(len(msgspec.json.encode(payload)) / MAX_BODY)


def lower_bound_child(dots: int) -> int:
    """The lower bound, computed in a child process so its rows in memory do not count here."""
    return int(last_line_of_child(__file__, "--lower-bound-only", "--dots", str(dots)))


def run_dag(data: Path, resume: bool) -> tuple[float, dict, list[str], str]:  # type: ignore[type-arg]
    """dag.test() of a one-task DAG sending ``data``: seconds, summary, task_ids, state."""
    import pendulum
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.models.xcom import XComModel
    from airflow.sdk import DAG
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

    with DAG(
        dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2024, 1, 1), catchup=False
    ) as dag:
        BulkDotsOperator(task_id="send", data=str(data), resume=resume)
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)

    started = time.perf_counter()
    run = dag.test()
    seconds = time.perf_counter() - started

    values = {}
    with create_session() as session:
        rows = session.scalars(
            select(XComModel).where(XComModel.dag_id == DAG_ID, XComModel.run_id == run.run_id)
        )
        for row in rows:
            if row.key not in ("summary", "return_value"):
                continue  # e.g. the extra link, stored as plain text
            value = row.value
            values[row.key] = json.loads(value) if isinstance(value, str | bytes) else value
    return seconds, values.get("summary", {}), values.get("return_value", []), str(run.state)


def core_alone(data: Path) -> tuple[float, int]:
    """The baseline: the core over the same file, read with csv.DictReader; seconds, bodies."""
    from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies

    options = ReshapeOptions(layout="wide", max_body_bytes=MAX_BODY, on_invalid="fail")
    started = time.perf_counter()
    with data.open(newline="") as handle:
        bodies = sum(1 for _ in build_bodies(csv.DictReader(handle), options))
    return time.perf_counter() - started, bodies


def hook_alone(data: Path) -> tuple[float, int]:
    """The second baseline: the core and the Hook to the emulator, outside any Airflow task."""
    from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

    hook = BulkDotsHook("bulkdots_default")
    options = ReshapeOptions(layout="wide", max_body_bytes=MAX_BODY, on_invalid="skip")
    started = time.perf_counter()
    with data.open(newline="") as handle:
        delivery = hook.send(build_bodies(csv.DictReader(handle), options))
    hook.close()
    return time.perf_counter() - started, delivery.dots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dots", type=int, default=1_000_000, help="dots to send")
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="without the resume ledger (one Variable write per acknowledged body)",
    )
    parser.add_argument("--lower-bound-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.lower_bound_only:
        print(lower_bound(args.dots))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bulkdots-bench-operator-"))
    try:
        data = workdir / "readings.csv"
        rows = write_csv(data, args.dots)
        dots = rows * len(VARIABLES)
        prepare_airflow_home(workdir / "airflow")

        from airflow_provider_bulkdots.emulator import start_emulator

        with start_emulator(
            token=TOKEN, rate_limit=0, db_path=str(workdir / "emulator.sqlite")
        ) as emu:
            os.environ["AIRFLOW_CONN_BULKDOTS_DEFAULT"] = json.dumps(
                {
                    "conn_type": "bulkdots",
                    "host": emu.url,
                    "password": TOKEN,
                    "extra": {"rate_limit": 0},  # no pace on either side
                }
            )
            seconds, summary, task_ids, state = run_dag(data, resume=not args.no_resume)
            peak = peak_rss_mb()
            stats = emu.stats()
            emu.reset()
            hook_s, hook_dots = hook_alone(data)
            hook_stored = emu.stats()["dots"]
        if state != "success" or not summary:
            raise SystemExit(f"the DAG run ended {state}")
        core_s, core_bodies = core_alone(data)
        bound = lower_bound_child(args.dots)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    bodies = summary["requests"]
    dots_per_s = dots / seconds
    core_dots_per_s = dots / core_s
    exact = (
        stats["dots"] == dots
        and stats["duplicates"] == 0
        and stats["requests"].get("200") == bodies == len(task_ids) == core_bodies
        and hook_dots == hook_stored == dots
    )
    print(
        f"operator: {dots:,} dots ({rows:,} CSV rows) in {seconds:.2f} s end to end "
        f"= {dots_per_s:,.0f} dots/s; the task's own execute {summary['seconds']:.2f} s"
        + (" (no resume ledger)" if args.no_resume else "")
    )
    print(
        f"baseline: the core alone over the same CSV in {core_s:.2f} s "
        f"= {core_dots_per_s:,.0f} dots/s; end to end / core = {seconds / core_s:.2f}x"
    )
    print(
        f"baseline: the core and the Hook to the emulator, no Airflow task, in {hook_s:.2f} s "
        f"= {dots / hook_s:,.0f} dots/s; end to end / this = {seconds / hook_s:.2f}x"
    )
    print(f"bodies:   {bodies:,} requests against lower bound {bound:,} ({bodies / bound:.4f}x)")
    print(
        f"stored:   {stats['dots']:,} dots, {stats['duplicates']} duplicates, "
        f"{stats['requests'].get('200', 0):,} replies 200: "
        + ("every dot exactly once" if exact else "MISMATCH")
    )
    print(f"memory:   peak RSS {peak:.1f} MB (Airflow, the operator and the emulator's thread)")
    print(
        json.dumps(
            {
                "dots_per_s": round(dots_per_s),
                "core_dots_per_s": round(core_dots_per_s),
                "overhead_ratio": round(seconds / core_s, 3),
                "hook_dots_per_s": round(dots / hook_s),
                "bodies": bodies,
                "lower_bound": bound,
                "peak_rss_mb": round(peak, 1),
            }
        )
    )
    if not exact:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
