"""The main job, end to end: a daily backfill into the local emulator through real Airflow.

Starts the emulator (4 requests/s, like the real API), prepares an Airflow home with SQLite
in ``.demo/``, runs ``bulkdots_daily_backfill`` for each day of the sample data with
``dag.test()``, then prints what was sent and what the emulator stored.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / ".demo"  # --workdir changes it
DAG_ID = "bulkdots_daily_backfill"
TASK_ID = "send_logger_day"
TOKEN = "demo-token"


def prepare_airflow_home(workdir: Path) -> None:
    home = workdir / "airflow"
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8790, help="emulator port (0: any free)")
    parser.add_argument("--rate-limit", type=float, default=4.0, help="emulator requests/s")
    parser.add_argument("--days", type=int, default=5, help="days of sample data to send")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="keep the emulator and its dashboard up afterwards, until Ctrl-C or SIGTERM",
    )
    parser.add_argument(
        "--workdir", type=Path, default=DEMO, help="where the demo writes (emptied first)"
    )
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    # dag.test() runs Airflow's API in process through Starlette's test client, which warns.
    warnings.filterwarnings("ignore", message=".*starlette.testclient.*")

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    print(f"Preparing an Airflow home with SQLite in {workdir / 'airflow'} ...", flush=True)
    prepare_airflow_home(workdir)

    import pendulum

    from airflow_provider_bulkdots.emulator import start_emulator
    from airflow_provider_bulkdots.emulator.cli import wait_for_stop_signal

    emulator = start_emulator(
        token=TOKEN,
        rate_limit=args.rate_limit,
        db_path=str(workdir / "emulator.sqlite"),
        port=args.port,
    )
    os.environ["AIRFLOW_CONN_BULKDOTS_DEFAULT"] = json.dumps(
        {"conn_type": "bulkdots", "host": emulator.url, "password": TOKEN}
    )
    print(f"Emulator at {emulator.url} ({args.rate_limit:g} requests/s)", flush=True)

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(ROOT / "example_dags"))
    if bag.import_errors:
        raise SystemExit(f"example DAGs failed to import: {bag.import_errors}")
    dag = bag.get_dag(DAG_ID)
    assert dag is not None
    run_conf = {"rejected_dir": str(workdir / "rejected")}

    totals = {
        "dots_sent": 0,
        "requests": 0,
        "bytes_sent": 0,
        "missing_readings": 0,
        "invalid_rows": 0,
        "rows_read": 0,
    }
    all_task_ids: list[str] = []
    started = time.monotonic()
    for day in range(args.days):
        logical_date = pendulum.datetime(2024, 1, 1, tz="UTC").add(days=day)
        run = dag.test(logical_date=logical_date, run_conf=run_conf)
        summary, task_ids = read_xcoms(run.run_id)
        if run.state != "success" or summary is None:
            raise SystemExit(f"the run of {logical_date.date()} ended {run.state}")
        for key in totals:
            totals[key] += summary[key]
        all_task_ids.extend(task_ids)
        print(
            f"  {logical_date.date()}: {summary['rows_read']} rows -> {summary['dots_sent']} dots"
            f" in {summary['requests']} requests ({summary['missing_readings']} missing readings,"
            f" {summary['invalid_rows']} invalid rows)",
            flush=True,
        )
    elapsed = time.monotonic() - started
    stats = emulator.stats()
    max_body = 10_000
    fill = totals["bytes_sent"] / (totals["requests"] * max_body) if totals["requests"] else 0
    print()
    print(
        f"Sent:    {totals['dots_sent']:,} dots in {totals['requests']} requests "
        f"({totals['dots_sent'] / max(totals['requests'], 1):.0f} dots/request, "
        f"bodies {fill:.1%} full) over {args.days} daily runs in {elapsed:.1f} s"
    )
    print(f"         task_ids: {', '.join(all_task_ids[:3])}, ... ({len(all_task_ids)} in all)")
    print(
        f"Stored:  {stats['dots']:,} dots, {stats['unique_dots']:,} unique, "
        f"{stats['duplicates']} duplicates, {stats['devices']} devices; "
        f"requests by status {stats['requests']}"
    )
    ok = stats["dots"] == totals["dots_sent"] and stats["duplicates"] == 0
    print("Check:   " + ("every dot stored exactly once" if ok else "MISMATCH"))
    for path in sorted((workdir / "rejected").rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            print(f"Rejected: {line}  ({path})")
    print(f"Dashboard: {emulator.url}/", flush=True)
    if args.serve:
        # Airflow installs its own SIGTERM handler while running tasks: take both signals back
        # before saying so (a signal sent on reading the line must find our handlers).
        signum = wait_for_stop_signal("Serving the dashboard; Ctrl-C or SIGTERM to stop.")
        print(f"Stopping on {signal.Signals(signum).name}.", flush=True)
    emulator.close()
    if not ok:
        raise SystemExit(1)


def read_xcoms(run_id: str) -> tuple[dict | None, list[str]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    summary, task_ids = None, []
    with create_session() as session:
        rows = session.query(XComModel).filter(
            XComModel.dag_id == DAG_ID, XComModel.run_id == run_id, XComModel.task_id == TASK_ID
        )
        for row in rows:
            if row.key not in ("summary", "return_value"):
                continue  # e.g. the extra link, stored as plain text
            value = row.value if not isinstance(row.value, str) else json.loads(row.value)
            if row.key == "summary":
                summary = value
            elif row.key == "return_value":
                task_ids = list(value)
    return summary, task_ids


if __name__ == "__main__":
    main()
