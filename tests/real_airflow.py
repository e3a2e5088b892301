"""A real Airflow for tests and benchmarks: scheduler (LocalExecutor), dag-processor, triggerer
and api-server, each in its own process group, on SQLite in a temporary home, the API on a
free loopback port. Stopped by process group, so no worker outlives it.

    with RealAirflow(dags_folder, env={"AIRFLOW_CONN_...": ...}) as airflow:
        airflow.wait_parsed("my_dag")
        airflow.cli("dags", "unpause", "my_dag")
        airflow.cli("dags", "trigger", "my_dag")
        airflow.wait_until(lambda: airflow.task_states("my_dag") == ["success"])

States are read from the metadata DB (SQLite, read-only). Waiting polls a condition within a
deadline: the processes are separate, so there is nothing to join.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tests.processes import free_port, signal_group

COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class RealAirflow:
    """Airflow's four services on LocalExecutor and SQLite, in a temporary home."""

    def __init__(
        self,
        dags_folder: Path,
        env: Mapping[str, str] | None = None,
        parallelism: int = 8,
        home: Path | None = None,
    ) -> None:
        self.home = Path(home or tempfile.mkdtemp(prefix="bulkdots-real-airflow-"))
        self.dags_folder = dags_folder
        self.port = free_port()
        self.db = self.home / "airflow.db"
        self.env = {
            **os.environ,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(16),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # The log servers too, so that several Airflows on one machine do not collide.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.home / "logs"),
            **(env or {}),
        }
        self.env.pop("PYTEST_CURRENT_TEST", None)
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._migrated = False

    # -- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> RealAirflow:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def migrate(self) -> None:
        """Create the metadata DB (``start`` does it unless it was done)."""
        self.cli("db", "migrate")
        self._migrated = True

    def start(self) -> None:
        """Migrate the DB, start the four services, return once the API answers.

        CLI commands that write much (``backfill create``) are best run before: SQLite has one
        writer at a time, and the scheduler is a busy one.
        """
        if not self._migrated:
            self.migrate()
        try:
            # Workers reach Airflow through the api-server: it answers before a task can start.
            self._spawn("api-server")
            self.wait_until(self._api_answers, timeout=180, what="the api-server to answer")
            for component in COMPONENTS[1:]:
                self._spawn(component)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, component: str) -> None:
        with (self.home / f"{component}.log").open("wb") as log:
            self._processes[component] = subprocess.Popen(
                [sys.executable, "-m", "airflow", component],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: workers included
            )

    def stop(self) -> None:
        """Stop every service with its whole process group (TERM, then KILL)."""
        for process in self._processes.values():
            signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 30
        for process in self._processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            signal_group(process, signal.SIGKILL)
            process.wait()
        self._processes.clear()

    def cleanup(self) -> None:
        """Remove the temporary home."""
        shutil.rmtree(self.home, ignore_errors=True)

    def _api_answers(self) -> bool:
        self.check_alive()
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"GET /api/v2/monitor/health HTTP/1.0\r\n\r\n")
                return sock.recv(12).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def check_alive(self) -> None:
        """Raise if a service died (with the end of its log)."""
        for component, process in self._processes.items():
            if process.poll() is not None:
                tail = self.log_of(component)[-3000:]
                raise RuntimeError(f"airflow {component} exited {process.returncode}:\n{tail}")

    def log_of(self, component: str) -> str:
        """What a service wrote so far."""
        path = self.home / f"{component}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def task_logs(self, dag_id: str) -> str:
        """Every task log of ``dag_id`` written so far, one after the other."""
        folder = self.home / "logs" / f"dag_id={dag_id}"
        paths = sorted(folder.rglob("*.log")) if folder.exists() else []
        return "\n".join(path.read_text(errors="replace") for path in paths)

    # -- commands and state ----------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 300) -> str:
        """Run ``airflow <args>`` against this home; its output (raises on failure)."""
        done = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Rows of a read-only query on the metadata DB."""
        if not self.db.exists():
            return []
        connection = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError:  # tables not there yet
            return []
        finally:
            connection.close()

    def wait_parsed(self, dag_id: str, timeout: float = 180) -> None:
        """Until the dag-processor has serialized ``dag_id``."""
        self.wait_until(
            lambda: bool(self.query("SELECT 1 FROM serialized_dag WHERE dag_id = ?", dag_id)),
            timeout=timeout,
            what=f"DAG {dag_id} to be parsed",
        )

    def task_states(self, dag_id: str) -> dict[tuple[str, str, int], str | None]:
        """Every task instance of ``dag_id``: (run_id, task_id, map_index) -> state."""
        rows = self.query(
            "SELECT run_id, task_id, map_index, state FROM task_instance WHERE dag_id = ?",
            dag_id,
        )
        return {(run, task, index): state for run, task, index, state in rows}

    def wait_until(
        self,
        condition: Callable[[], bool],
        timeout: float,
        what: str = "a condition",
        poll: float = 0.2,
    ) -> None:
        """Poll ``condition`` until true; raise after ``timeout`` seconds or if a service died."""
        deadline = time.monotonic() + timeout
        while not condition():
            self.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"gave up waiting {timeout:.0f} s for {what}")
            time.sleep(poll)
