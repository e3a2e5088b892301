"""A real CeleryExecutor deployment for tests and benchmarks: one backfill of one token on a
fleet of Celery workers that behave as separate machines.

    with running_redis() as redis, running_postgres() as pg:
        fleet = CeleryAirflow(dags, database_uri=pg.uri, broker_url=redis.uri,
                              machines=("fleet-a", "fleet-b"), env={...})
        with fleet:
            fleet.wait_parsed(dag_id)
            fleet.create_backfill(dag_id, days)
            fleet.wait_until(...)

The services of :class:`~tests.real_airflow.RealAirflow` (api-server, scheduler with
CeleryExecutor, dag-processor) and one ``airflow celery worker`` per machine, each in its own
process group (stopped by group, TERM then KILL, also when starting fails). The metadata DB
and Celery's result backend are a PostgreSQL (Celery needs more than SQLite), the broker a
Redis. Each worker is a machine of its own: its own ``[bulkdots] rate_state_dir`` (the
machine-local pace file) and its own hostname, which Airflow records in
``task_instance.hostname`` (``[core] hostname_callable`` = :func:`machine_name`). ``start``
returns once both workers are ready, so both take tasks from the first one queued.

:func:`write_backfill` writes a daily DAG of one ``BulkDotsOperator`` task and one CSV file per
day; a backfill over the days is then one task per day on one token.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.real_airflow import RealAirflow

ROOT = Path(__file__).resolve().parents[1]  # holds tests/: the workers import machine_name
MACHINE_VARIABLE = "BULKDOTS_FLEET_MACHINE"
START = dt.date(2024, 1, 1)
DEVICES = 6
VARIABLES = ("temperature", "humidity", "pressure", "battery", "rssi")

DAG_FILE = """
import pendulum
from airflow.sdk import DAG

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

with DAG(
    dag_id="{dag_id}",
    schedule="@daily",
    start_date=pendulum.datetime({start.year}, {start.month}, {start.day}, tz="UTC"),
    end_date=pendulum.datetime({end.year}, {end.month}, {end.day}, tz="UTC"),
    catchup=False,
    max_active_runs={days},
):
    BulkDotsOperator(
        task_id="send_day",
        data="{data_dir}/{dag_id}_{{{{ ds_nodash }}}}.csv",
        timestamp_column="time",
        bulkdots_conn_id="{conn_id}",
        retries=1,  # as a deployment would: a retry resumes from the ledger, nothing resent
        retry_delay=pendulum.duration(seconds=5),
    )
"""


def machine_name() -> str:
    """The hostname a worker reports to Airflow (``[core] hostname_callable``)."""
    return os.environ[MACHINE_VARIABLE]


def write_backfill(
    dags: Path, data_dir: Path, dag_id: str, conn_id: str, days: int, dots_per_day: int
) -> int:
    """The DAG file and one CSV file per day (``DEVICES`` devices); the dots written."""
    last = START + dt.timedelta(days=days - 1)
    dag = DAG_FILE.format(
        dag_id=dag_id, start=START, end=last, days=days, data_dir=data_dir, conn_id=conn_id
    )
    (dags / f"{dag_id}.py").write_text(dag)
    rows = dots_per_day // len(VARIABLES) // DEVICES
    for offset in range(days):
        day = START + dt.timedelta(days=offset)
        start = dt.datetime.combine(day, dt.time(), dt.timezone.utc)
        with (data_dir / f"{dag_id}_{day:%Y%m%d}.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time", "device", *VARIABLES])
            for index in range(rows):
                instant = (start + dt.timedelta(seconds=index * 10)).isoformat()
                for device in range(DEVICES):
                    values = [round(20 + (index * 7 + device + i) % 97 / 10, 2) for i in range(5)]
                    writer.writerow([instant, f"station-{device:02d}", *values])
    return days * rows * DEVICES * len(VARIABLES)


class CeleryAirflow(RealAirflow):
    """api-server, scheduler (CeleryExecutor), dag-processor and one Celery worker per machine."""

    def __init__(
        self,
        dags_folder: Path,
        *,
        database_uri: str,
        broker_url: str,
        machines: Sequence[str] = ("fleet-a", "fleet-b"),
        concurrency: int = 2,
        env: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> None:
        super().__init__(dags_folder, env=env, home=home)
        self.database_uri = database_uri
        self.concurrency = concurrency
        self.env.update(
            {
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database_uri,
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CELERY__BROKER_URL": broker_url,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{database_uri}",
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(concurrency),
                "PYTHONPATH": os.pathsep.join(
                    filter(None, [str(ROOT), self.env.get("PYTHONPATH")])
                ),
            }
        )
        self.machines = {name: self.home / "machines" / name for name in machines}

    def state_dir(self, machine: str) -> Path:
        """The machine-local state directory of a worker (its pace file)."""
        return self.machines[machine]

    def start(self) -> None:
        """Migrate, start every service, return once the API answers and Celery says each worker
        is ready (create the backfill then: both workers take tasks from the first one)."""
        if not self._migrated:
            self.migrate()
        try:
            for component in ("api-server", "scheduler", "dag-processor"):
                self._spawn(component)
            for machine in self.machines:
                self._spawn_worker(machine)
            self.wait_until(self._api_answers, timeout=180, what="the api-server to answer")
            for machine in self.machines:
                self.wait_until(
                    lambda m=machine: f"{m}@" in self.log_of(m) and " ready." in self.log_of(m),
                    timeout=120,
                    what=f"Celery worker {machine} to be ready",
                )
        except BaseException:
            self.stop()
            raise

    def _spawn_worker(self, machine: str) -> None:
        state_dir = self.machines[machine]
        state_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        env = {
            **self.env,
            "AIRFLOW__BULKDOTS__RATE_STATE_DIR": str(state_dir),
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.machine_name",
            MACHINE_VARIABLE: machine,
        }
        command = [
            sys.executable, "-m", "airflow", "celery", "worker",
            "--celery-hostname", f"{machine}@%h", "--concurrency", str(self.concurrency),
            "--pid", str(self.home / f"{machine}.pid"), "--skip-serve-logs",
        ]  # fmt: skip
        with (self.home / f"{machine}.log").open("wb") as log:
            self._processes[machine] = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a query on the metadata DB (``?`` placeholders, as for SQLite)."""
        import psycopg2

        try:
            connection = psycopg2.connect(self.database_uri, connect_timeout=10)
        except psycopg2.OperationalError:
            return []
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), params)
                return list(cursor.fetchall())
        except psycopg2.errors.UndefinedTable:  # not migrated yet
            return []
        finally:
            connection.close()

    def create_backfill(self, dag_id: str, days: int) -> None:
        """A backfill over the days of :func:`write_backfill`, every run at once (through the
        REST API: a CLI command costs an Airflow start-up)."""
        last = START + dt.timedelta(days=days - 1)
        body = {
            "dag_id": dag_id,
            "from_date": f"{START.isoformat()}T00:00:00Z",
            "to_date": f"{last.isoformat()}T00:00:00Z",
            "max_active_runs": days,
        }
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/api/v2/backfills",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as reply:  # raises unless 2xx
            reply.read()

    def process_groups(self) -> list[int]:
        """The process group of every service and worker started (their leaders' pids)."""
        return [process.pid for process in self._processes.values()]

    def hostnames(self, dag_id: str) -> dict[str, str | None]:
        """The machine each task instance of ``dag_id`` ran on: ``run_id`` -> hostname."""
        rows = self.query("SELECT run_id, hostname FROM task_instance WHERE dag_id = ?", dag_id)
        return {run: host for run, host in rows}
