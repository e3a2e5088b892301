"""The delivery record's edges through a real scheduler: every dot stored once on the emulator.

One Airflow for the module (api-server, scheduler on LocalExecutor, dag-processor, triggerer;
SQLite in a temporary home: :class:`tests.real_airflow.RealAirflow`, stopped by process group).

- A run deleted (REST API) and triggered again for the same logical date: the record kept with
  the Ubidots Asset outlived it; nothing already acknowledged is sent again (issue 17.3).
- Two tries of one task instance at once: try 1 is frozen mid-send (SIGSTOP of the task and
  its supervisor), the scheduler finds its heartbeat gone and starts try 2, then try 1 wakes up
  (SIGCONT) beside it: only the newest try sends (issue 17.2).
- An incremental run failing in the middle (one device answered 423 all run long, every other
  body acknowledged): the next run sends that device's readings and the new ones, nothing else
  (issue 17.4).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.emulator import Emulator, Faults, start_emulator
from tests.real_airflow import RealAirflow

HERE = Path(__file__).resolve().parent
TOKEN = "BBFF-record-edges-5c2a"
T0 = 1_719_792_000_000  # 2024-07-01
DAY = "2024-07-01T00:00:00+00:00"

pytestmark = pytest.mark.timeout(1200)


def rows(prefix: str, count: int, first: int = 0) -> list[dict[str, Any]]:
    """``count`` rows of 3 loggers a minute apart from instant ``first``, 3 variables each."""
    made = []
    for index in range(first * 3, (first + count) * 3):
        minute, logger = divmod(index, 3)
        made.append(
            {
                "time": T0 + minute * 60_000,
                "logger": f"{prefix}-{logger}",
                "temperature": round(20 + index % 50 / 10, 1),
                "humidity": 40 + index % 17,
                "co2": 400 + index % 300,
            }
        )
    return made


def write(path: Path, table: list[dict[str, Any]]) -> None:
    with path.open("w", newline="") as handle:
        out = csv.DictWriter(handle, fieldnames=list(table[0]))
        out.writeheader()
        out.writerows(table)


def stored(emu: Emulator, prefix: str) -> Counter[tuple[str, str, int]]:
    return Counter(
        (dot["device"], dot["variable"], dot["timestamp"])
        for dot in emu.dots()
        if dot["device"].startswith(prefix + "-")
    )


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with start_emulator(token=TOKEN, rate_limit=0, max_body_bytes=4000) as emu:
        emu.set_visibility_delay(0.5)
        yield emu


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def airflow(
    emulator: Emulator, data: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealAirflow]:
    dags = tmp_path_factory.mktemp("dags")
    (dags / "record_dags.py").write_text((HERE / "record_dags.py").read_text())
    connection = {"conn_type": "bulkdots", "host": emulator.url, "password": TOKEN}
    env = {
        "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
        "AIRFLOW__BULKDOTS__RATE_STATE_DIR": str(tmp_path_factory.mktemp("rate")),
        "BULKDOTS_TEST_DATA": str(data),
        "PYTHONPATH": str(HERE.parents[1]),
        # A frozen try is found without heartbeat within seconds, not minutes.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "10",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
    }
    real = RealAirflow(Path(dags), env=env, home=tmp_path_factory.mktemp("airflow-home"))
    with real:
        for dag_id in ("record_retrigger", "record_concurrent", "record_incremental"):
            real.wait_parsed(dag_id)
        yield real


def trigger(airflow: RealAirflow, dag_id: str, logical_date: str) -> str:
    out = airflow.cli("dags", "trigger", dag_id, "--logical-date", logical_date, "-o", "json")
    listed = next(line for line in out.splitlines() if line.startswith("[{"))
    return str(json.loads(listed)[0]["dag_run_id"])


def finished(airflow: RealAirflow, dag_id: str, run_id: str, timeout: float = 300) -> str:
    """Wait for the run's task to end (success or failed, no retry left); its state."""

    def state() -> str | None:
        found = airflow.query(
            "SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id
        )
        return found[0][0] if found else None

    airflow.wait_until(
        lambda: state() in ("success", "failed"), timeout=timeout, what=f"{dag_id} {run_id}"
    )
    return str(state())


def summary(airflow: RealAirflow, dag_id: str, run_id: str) -> dict[str, Any]:
    (value,) = airflow.query(
        "SELECT value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'summary'",
        dag_id,
        run_id,
    )[0]
    decoded = json.loads(value)
    return json.loads(decoded) if isinstance(decoded, str) else decoded


def delete_run(airflow: RealAirflow, dag_id: str, run_id: str) -> None:
    """Delete a DAG run through the REST API, as the UI's delete button does."""
    quoted = urllib.request.quote(run_id, safe="")
    request = urllib.request.Request(
        f"http://127.0.0.1:{airflow.port}/api/v2/dags/{dag_id}/dagRuns/{quoted}", method="DELETE"
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 204


def test_a_run_deleted_and_triggered_again_sends_nothing_already_acknowledged(
    airflow: RealAirflow, emulator: Emulator, data: Path
) -> None:
    table = rows("retrigger", 400)
    write(data / "retrigger.csv", table)
    first = trigger(airflow, "record_retrigger", DAY)
    assert finished(airflow, "record_retrigger", first) == "success"
    requests = emulator.stats()["requests"]["200"]

    delete_run(airflow, "record_retrigger", first)
    assert not airflow.query("SELECT 1 FROM dag_run WHERE run_id = ?", first)
    again = trigger(airflow, "record_retrigger", DAY)

    assert finished(airflow, "record_retrigger", again) == "success"
    dots = stored(emulator, "retrigger")
    assert len(dots) == 400 * 3 * 3 and set(dots.values()) == {1}  # per device, once each
    assert emulator.stats()["requests"]["200"] == requests  # not one write more
    rerun = summary(airflow, "record_retrigger", again)
    assert rerun["requests"] == 0 and rerun["already_delivered_dots"] == 400 * 3 * 3
    log = airflow.task_logs("record_retrigger")
    assert "Found the delivery record of an earlier DAG run of this task" in log
    assert "kept with the asset ubidots://emulator/record-retrigger" in log


def pids(data: Path, try_number: int) -> list[int]:
    marker = data / f"record_concurrent.pids.{try_number}"
    return [int(pid) for pid in marker.read_text().split()] if marker.exists() else []


def test_two_tries_of_one_task_instance_at_once_store_every_dot_once(
    airflow: RealAirflow, emulator: Emulator, data: Path
) -> None:
    table = rows("concurrent", 1200)  # about 90 bodies at 8 requests/s: 11 s of sending
    write(data / "concurrent.csv", table)
    run_id = trigger(airflow, "record_concurrent", DAY)
    airflow.wait_until(lambda: bool(pids(data, 1)), timeout=300, what="try 1 to start")
    airflow.wait_until(
        lambda: len(stored(emulator, "concurrent")) > 1500, timeout=120, what="try 1 mid-send"
    )
    frozen = pids(data, 1)
    for pid in frozen:  # a paused VM: the task and its supervisor (no heartbeat) stop
        os.kill(pid, signal.SIGSTOP)
    try:
        airflow.wait_until(
            lambda: (
                "takes the delivery record over from try 1"
                in airflow.task_logs("record_concurrent")
            ),
            timeout=300,
            what="try 2 to take the record over",
        )
    finally:
        for pid in frozen:  # try 1 wakes up beside try 2
            os.kill(pid, signal.SIGCONT)

    assert finished(airflow, "record_concurrent", run_id) == "success"
    dots = stored(emulator, "concurrent")
    assert len(dots) == 1200 * 3 * 3 and set(dots.values()) == {1}
    assert {device for device, _, _ in dots} == {f"concurrent-{n}" for n in range(3)}
    tries = airflow.query("SELECT try_number FROM task_instance WHERE dag_id = 'record_concurrent'")
    assert tries == [(2,)]
    # Try 1 woke up and stopped before its next request: by its lease (Airflow refuses its
    # state-store calls once try 2 exists: StaleTryError, "try 1 of this task is no longer the
    # one delivering: a newer try (2 or later)", seen when the machine is not loaded), or,
    # when its supervisor's refused heartbeat ended it first, by Airflow. Either way nothing
    # was sent twice (above); the lease alone is proven in tests/delivery/.../test_lease.py.


def test_an_incremental_run_failing_in_the_middle_leaves_a_gap_the_next_run_fills(
    airflow: RealAirflow, emulator: Emulator, data: Path
) -> None:
    hour = 120
    write(data / "incremental.csv", rows("incremental", hour))
    first = trigger(airflow, "record_incremental", "2024-07-01T00:00:00+00:00")
    assert finished(airflow, "record_incremental", first) == "success"
    write(data / "incremental.csv", rows("incremental", 2 * hour))
    emulator.set_faults(Faults(disabled_devices=("incremental-1",)))  # 423 all run long
    try:
        second = trigger(airflow, "record_incremental", "2024-07-02T00:00:00+00:00")
        assert finished(airflow, "record_incremental", second) == "failed"
    finally:
        emulator.set_faults(Faults())
    failed = summary(airflow, "record_incremental", second)
    assert failed["quarantined_devices"] == {"incremental-1": hour * 3}
    write(data / "incremental.csv", rows("incremental", 3 * hour))

    third = trigger(airflow, "record_incremental", "2024-07-03T00:00:00+00:00")

    assert finished(airflow, "record_incremental", third) == "success"
    dots = stored(emulator, "incremental")
    assert len(dots) == 3 * hour * 3 * 3 and set(dots.values()) == {1}
    # The gap (one device's hour) and the new hour; nothing else of run 2 again.
    assert summary(airflow, "record_incremental", third)["dots_sent"] == hour * 3 + hour * 9
