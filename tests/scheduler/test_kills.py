"""SIGKILL the task process at chosen points, through a real scheduler: every dot stored once.

One Airflow for the module (scheduler, DAG processor and API server, LocalExecutor, SQLite, in
a temporary AIRFLOW_HOME, on a free port), started here and stopped by process group. The DAGs
of ``kill_dags.py`` die on their first try: before a request (its intent stored), after
requests were answered but before their acknowledgements were stored, between the halves of a
split body, and after ``execute()`` returned. Airflow retries each; the emulator (writes
visible to reads after 0.5 s) must then hold every dot of each input exactly once.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.dots import ReshapeOptions, build_bodies
from airflow_provider_bulkdots.emulator import Emulator, start_emulator
from tests.processes import free_port, stop_group
from tests.scheduler.kill_dags import POINTS, REPLACE_POINTS, TASKFLOW

HERE = Path(__file__).resolve().parent
AIRFLOW = Path(sys.executable).with_name("airflow")
ROWS = 2400  # per input: 3 loggers x 800 instants x 3 variables = 7,200 dots (about 40 bodies)
TASKFLOW_ROWS = 4 * ROWS  # the TaskFlow task dies once its first dots show: a longer send
RUN_DEADLINE = 420.0

pytestmark = pytest.mark.timeout(900)


T0 = 1_704_067_200_000


def input_rows(point: str, shift: float = 0, count: int = ROWS) -> list[dict[str, Any]]:
    """The rows of ``write_input`` (``shift`` added to every value: the old data of a replace)."""
    rows = []
    for index in range(count):
        second, logger = divmod(index, 3)
        rows.append(
            {
                "time": T0 + second * 60_000,
                "logger": f"{point.replace('_', '-')}-{logger}",
                "temperature": round(20 + index % 50 / 10 + shift, 1),
                "humidity": 40 + index % 17 + shift,
                "co2": 400 + index % 300 + shift,
            }
        )
    return rows


def old_rows(point: str) -> list[dict[str, Any]]:
    """What the API holds before a replace: the span with other values and an extra variable,
    and readings before the span."""
    inside = [{**row, "pressure": 1000} for row in input_rows(point, shift=0.5)]
    before = [{**row, "time": row["time"] - 86_400_000} for row in input_rows(point)[:300]]
    return inside + before


def preload(emu: Emulator, point: str) -> None:
    options = ReshapeOptions(device_column="logger", timestamp_column="time", max_body_bytes=4000)
    for body in build_bodies(old_rows(point), options):
        request = urllib.request.Request(
            emu.bulk_url,
            data=body.payload,
            headers={"X-Auth-Token": emu.token, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as reply:
            assert reply.status == 200


def write_input(path: Path, point: str, count: int = ROWS) -> None:
    rows = input_rows(point, count=count)
    with path.open("w", newline="") as handle:
        out = csv.DictWriter(handle, fieldnames=list(rows[0]))
        out.writeheader()
        out.writerows(rows)


def airflow_env(home: Path, emu: Emulator, port: int) -> dict[str, str]:
    connection = {"conn_type": "bulkdots", "host": emu.url, "password": emu.token}
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "bulkdots-kill-tests",
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
            "BULKDOTS_TEST_DATA": str(home / "data"),
            "PYTHONPATH": str(HERE.parents[1]),
        }
    )
    return env


def wait_for_api(port: str, process: subprocess.Popen[bytes]) -> None:
    """Wait until the API server answers its health check."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/v2/monitor/health", timeout=5
            ):
                return
        except OSError:
            time.sleep(1)  # polling another process's readiness
    raise AssertionError(f"the API server did not start (exit code {process.poll()})")


@pytest.fixture(scope="module")
def airflow(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, Emulator, dict[str, str]]]:
    home = tmp_path_factory.mktemp("airflow-home")
    (home / "dags").mkdir()
    (home / "data").mkdir()
    shutil.copy(HERE / "kill_dags.py", home / "dags" / "kill_dags.py")
    for point in POINTS + REPLACE_POINTS:
        write_input(home / "data" / f"{point}.csv", point)
    write_input(home / "data" / "taskflow.csv", "taskflow", TASKFLOW_ROWS)
    with start_emulator(token="kill-tests", rate_limit=0, max_body_bytes=4000) as emu:
        for point in REPLACE_POINTS:
            preload(emu, point)
        emu.set_visibility_delay(0.5)
        env = airflow_env(home, emu, free_port())
        subprocess.run(
            [str(AIRFLOW), "db", "migrate"], env=env, check=True, capture_output=True, timeout=600
        )
        processes: list[subprocess.Popen[bytes]] = []
        try:
            for component in ("api-server", "scheduler", "dag-processor"):
                log = (home / f"{component}.log").open("wb")
                processes.append(
                    subprocess.Popen(
                        [str(AIRFLOW), component],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
                if component == "api-server":  # tasks talk to it: it must be up first
                    wait_for_api(env["AIRFLOW__API__PORT"], processes[0])
            yield home, emu, env
        finally:
            for process in processes:
                stop_group(process)


def finished_run(home: Path, dag_id: str, after_try: int = 0) -> tuple[str, int]:
    """Wait for the DAG's run to finish a try after ``after_try``; its state and try number."""
    deadline = time.monotonic() + RUN_DEADLINE
    while time.monotonic() < deadline:
        with sqlite3.connect(home / "airflow.db", timeout=30) as db:
            row = db.execute(
                "SELECT r.state, t.try_number FROM dag_run r JOIN task_instance t "
                "ON t.dag_id = r.dag_id AND t.run_id = r.run_id WHERE r.dag_id = ?",
                (dag_id,),
            ).fetchone()
        if row is not None and row[0] in ("success", "failed") and row[1] > after_try:
            return str(row[0]), int(row[1])
        time.sleep(1)  # polling an external process's state, not synchronising threads
    logs = {p.name: p.read_text()[-3000:] for p in home.glob("*.log")}
    raise AssertionError(f"{dag_id} did not finish within {RUN_DEADLINE:.0f} s: {logs}")


def stored(emu: Emulator, point: str) -> Counter[tuple[str, str, int]]:
    prefix = point.replace("_", "-") + "-"
    return Counter(
        (dot["device"], dot["variable"], dot["timestamp"])
        for dot in emu.dots()
        if dot["device"].startswith(prefix)
    )


@pytest.mark.parametrize("point", POINTS)
def test_a_killed_try_and_its_retry_store_every_dot_once(
    airflow: tuple[Path, Emulator, dict[str, str]], point: str
) -> None:
    home, emu, _ = airflow

    state, try_number = finished_run(home, f"kill_{point}")

    assert state == "success" and try_number >= 2
    dots = stored(emu, point)
    assert len(dots) == ROWS * 3  # nothing lost
    assert set(dots.values()) == {1}  # nothing twice
    retry = summary(home, f"kill_{point}")
    if point == "after_execute":  # a complete ledger: the retry sends nothing
        assert retry["requests"] == 0
        assert retry["already_delivered_bodies"] == retry["bodies"]
    elif point == "before_post":  # intended, never posted: read back, then sent
        assert retry["reconciled_bodies"] >= 16 and retry["resent_dots"] > 0
    else:  # posted (in full or in part), not recorded: read back, not resent
        assert retry["reconciled_bodies"] >= 1


def valued(emu: Emulator, point: str) -> Counter[tuple[str, str, int, float]]:
    prefix = point.replace("_", "-") + "-"
    return Counter(
        (dot["device"], dot["variable"], dot["timestamp"], float(dot["value"]))
        for dot in emu.dots()
        if dot["device"].startswith(prefix)
    )


def as_dots(rows: list[dict[str, Any]]) -> Counter[tuple[str, str, int, float]]:
    return Counter(
        (row["logger"], name, row["time"], float(value))
        for row in rows
        for name, value in row.items()
        if name not in ("logger", "time")
    )


@pytest.mark.parametrize("point", REPLACE_POINTS)
def test_a_replace_killed_after_its_delete_ends_with_the_input_once(
    airflow: tuple[Path, Emulator, dict[str, str]], point: str
) -> None:
    home, emu, _ = airflow

    state, try_number = finished_run(home, f"kill_{point}")

    assert state == "success" and try_number >= 2
    old = old_rows(point)
    kept = Counter(
        {dot: n for dot, n in as_dots(old).items() if dot[1] == "pressure" or dot[2] < T0}
    )
    assert valued(emu, point) == as_dots(input_rows(point)) + kept
    assert kept and len(kept) == 2400 + 900  # untouched: another variable, an earlier span


def test_a_taskflow_task_killed_mid_send_and_its_retry_store_every_dot_once(
    airflow: tuple[Path, Emulator, dict[str, str]],
) -> None:
    """``BulkDotsHook.deliver`` in a ``@task``: SIGKILL once its first dots are stored; the
    retry finds the ledger in the task instance's state store and completes exactly once."""
    home, emu, _ = airflow

    state, try_number = finished_run(home, TASKFLOW)

    assert state == "success" and try_number >= 2
    assert (home / "data" / f"{TASKFLOW}.killed").exists()
    dots = stored(emu, "taskflow")
    assert len(dots) == TASKFLOW_ROWS * 3  # nothing lost
    assert set(dots.values()) == {1}  # nothing twice
    retry = summary(home, TASKFLOW, key="return_value")
    # The retry skipped what the killed try had finished, or read back what it may have sent.
    assert retry["resumed_bodies"] + retry["reconciled_bodies"] > 0
    assert retry["dots_sent"] < TASKFLOW_ROWS * 3


def summary(home: Path, dag_id: str, key: str = "summary") -> dict[str, Any]:
    """The XCom summary the retry pushed (``return_value``: what a TaskFlow task returned)."""
    with sqlite3.connect(home / "airflow.db", timeout=30) as db:
        (value,) = db.execute(
            "SELECT value FROM xcom WHERE dag_id = ? AND key = ?", (dag_id, key)
        ).fetchone()
    decoded = json.loads(value)
    return json.loads(decoded) if isinstance(decoded, str) else decoded


def test_the_kills_happened_where_chosen(airflow: tuple[Path, Emulator, dict[str, str]]) -> None:
    home, _, _ = airflow
    dag_ids = [f"kill_{point}" for point in POINTS + REPLACE_POINTS] + [TASKFLOW]
    for dag_id in dag_ids:
        finished_run(home, dag_id)
    assert sorted(path.name for path in (home / "data").glob("*.killed")) == sorted(
        f"{dag_id}.killed" for dag_id in dag_ids
    )
    with sqlite3.connect(home / "airflow.db", timeout=30) as db:
        failed = db.execute(
            "SELECT dag_id FROM task_instance_history WHERE state = 'failed'"
        ).fetchall()
    assert {dag_id for (dag_id,) in failed} == set(dag_ids)


def test_clearing_a_succeeded_task_sends_nothing_again(
    airflow: tuple[Path, Emulator, dict[str, str]],
) -> None:
    home, emu, env = airflow
    dag_id = "kill_after_execute"
    _, tries = finished_run(home, dag_id)
    posts = emu.stats()["requests"]
    dots = stored(emu, "after_execute")

    subprocess.run(
        [str(AIRFLOW), "tasks", "clear", dag_id, "--yes"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    state, again = finished_run(home, dag_id, after_try=tries)

    assert state == "success" and again == tries + 1
    assert emu.stats()["requests"] == posts  # not one request more
    assert stored(emu, "after_execute") == dots
    rerun = summary(home, dag_id)
    assert rerun["requests"] == rerun["read_requests"] == 0
    assert rerun["already_delivered_bodies"] == rerun["bodies"]
    log = next((home / "logs").glob(f"dag_id={dag_id}/*/task_id=send/attempt={again}.log"))
    assert f"Re-run: {rerun['bodies']} bodies" in log.read_text()
