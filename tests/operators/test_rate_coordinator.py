"""The operator with a rate coordinator (a real ``redis-server``): its turns are taken there,
the token never reaches it, and an unreachable coordinator leaves the task pacing on the
machine, said once in the log and counted in the summary."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from airflow_provider_bulkdots.delivery.pacing.token import pacer_key
from airflow_provider_bulkdots.emulator import Emulator
from tests.operators.dag_runs import set_connection, xcoms
from tests.operators.test_bulkdots_dag import (
    SMALL_BODIES,
    expected_dots,
    readings,
    single_task_dag,
    stored,
)
from tests.processes import free_port
from tests.redis_server import RedisServer, running_redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with running_redis() as server:
        yield server


def _redis_connection(monkeypatch: pytest.MonkeyPatch, port: int) -> None:
    value = {"conn_type": "redis", "host": "127.0.0.1", "port": port, "extra": {"db": 0}}
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_REDIS", json.dumps(value))


def test_turns_are_taken_on_the_coordinator(
    emu: Emulator,
    airflow_db: None,
    redis_server: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    set_connection(monkeypatch, emu, rate_limit=40, rate_coordinator_conn_id="fleet_redis")
    _redis_connection(monkeypatch, redis_server.port)
    rows = readings(60, ["greenhouse-1"])
    dag = single_task_dag("op_coordinated", data=rows, max_body_bytes=SMALL_BODIES, priority="live")
    capfd.readouterr()
    run = dag.test()
    assert run.state == "success"
    assert stored(emu) == expected_dots(rows)
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["coordinator_fallbacks"] == 0
    key = pacer_key(emu.url, emu.token)
    client = redis_server.client()
    assert client.exists(f"bulkdots:pace:{{{key}}}")
    assert all(emu.token.encode() not in name for name in client.keys("*"))
    assert "Rate coordinator unreachable" not in capfd.readouterr().out


def test_an_unreachable_coordinator_paces_on_the_machine_and_says_so_once(
    emu: Emulator,
    airflow_db: None,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    set_connection(monkeypatch, emu, rate_limit=40, rate_coordinator_conn_id="fleet_redis")
    _redis_connection(monkeypatch, free_port())  # nobody listens there
    rows = readings(60, ["greenhouse-1"])
    dag = single_task_dag("op_coordinator_down", data=rows, max_body_bytes=SMALL_BODIES)
    capfd.readouterr()
    run = dag.test()
    assert run.state == "success"
    assert stored(emu) == expected_dots(rows)
    summary = xcoms(run)[("send", -1, "summary")]
    assert summary["coordinator_fallbacks"] >= 1
    log = capfd.readouterr().out
    assert log.count("Rate coordinator unreachable") == 1
    assert "Paced alone: the rate coordinator did not answer" in log
