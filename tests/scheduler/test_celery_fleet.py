"""One backfill on one token across two Celery workers that behave as separate machines.

A real CeleryExecutor deployment (tests/celery_fleet.py): api-server, scheduler, dag-processor
and two ``airflow celery worker`` processes, each with its own machine-local state directory
and hostname; the metadata DB and Celery's result backend on a real PostgreSQL, the broker on a
real ``redis-server``, whose database 1 is also the rate coordinator named by the ``bulkdots``
connection (``rate_coordinator_conn_id``). A backfill of several daily runs, one task each,
sends on one token whose connection says 2 requests/s. The tasks ran on both machines, every
dot is stored exactly once, no task fell back to its machine's pace, and no request was
refused: the machines kept to one pace. The emulator refuses beyond 3 requests/s: two machines
pacing alone at 2/s each would exceed it, while the margin absorbs what a loaded 2-core CI
machine does to the instant a request arrives (the turns are only 3 % apart from the limit;
the bench measures the pace against the exact limit).
(bench/bench_celery_fleet.py measures the held ratio, beside the same fleet without the
coordinator.)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip(
    "airflow.providers.celery", reason="CeleryExecutor needs apache-airflow-providers-celery"
)
pytest.importorskip("psycopg2", reason="the metadata DB is a PostgreSQL (psycopg2)")

from airflow_provider_bulkdots.emulator import start_emulator
from tests.celery_fleet import CeleryAirflow, write_backfill
from tests.redis_server import running_redis
from tests.sources.pg_server import running_postgres

TOKEN = "BBFF-celery-fleet-test-8b2f41"
DAG_ID = "bulkdots_fleet_backfill"
DAYS = 6
DOTS_PER_DAY = 6_000  # about 8 bodies (requests) a day: 48 requests, 24 s at the limit
RATE = 2.0  # the token's limit, as its connection says
API_RATE = 3.0  # what the emulator refuses beyond

pytestmark = pytest.mark.timeout(600)


def alive(group: int) -> bool:
    """Whether a process of the group is still there."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def errors(text: str) -> str:
    """The error lines of logs (what to show when a task failed)."""
    lines = [line for line in text.splitlines() if "error" in line.lower()]
    return "\n".join(lines[-40:]) or text[-4000:]


def test_a_backfill_on_two_celery_workers_keeps_one_pace(tmp_path: Path) -> None:
    dags, data = tmp_path / "dags", tmp_path / "data"
    dags.mkdir()
    data.mkdir()
    expected = write_backfill(dags, data, DAG_ID, "bulkdots_default", DAYS, DOTS_PER_DAY)
    with (
        running_redis() as redis,
        running_postgres() as postgres,
        start_emulator(token=TOKEN, rate_limit=API_RATE, db_path=str(tmp_path / "dots")) as emu,
    ):
        coordinator = {"conn_type": "redis", "host": "127.0.0.1", "port": redis.port}
        coordinator["extra"] = {"db": 1}  # the broker's Redis, another database
        connection = {
            "conn_type": "bulkdots",
            "host": emu.url,
            "password": TOKEN,
            "extra": {"rate_limit": RATE, "rate_coordinator_conn_id": "fleet_redis"},
        }
        env = {
            "AIRFLOW_CONN_BULKDOTS_DEFAULT": json.dumps(connection),
            "AIRFLOW_CONN_FLEET_REDIS": json.dumps(coordinator),
        }
        fleet = CeleryAirflow(
            dags,
            database_uri=postgres.uri,
            broker_url=redis.uri,
            env=env,
            home=tmp_path / "airflow",
        )
        try:
            with fleet:
                fleet.wait_parsed(DAG_ID)
                fleet.create_backfill(DAG_ID, DAYS)

                def finished() -> bool:
                    states = list(fleet.task_states(DAG_ID).values())
                    return len(states) == DAYS and all(
                        s in ("success", "failed", "upstream_failed") for s in states
                    )

                fleet.wait_until(finished, timeout=360, what="the backfill")
                groups = fleet.process_groups()
            fleet.wait_until(lambda: not any(map(alive, groups)), 30, "every process to end")
            states = fleet.task_states(DAG_ID)
            machines = Counter(fleet.hostnames(DAG_ID).values())
            logs = fleet.task_logs(DAG_ID)
            services = "\n".join(fleet.log_of(name) for name in ("scheduler", *fleet.machines))
        finally:
            fleet.cleanup()
        stats = emu.stats()

    assert sorted(states.values()) == ["success"] * DAYS, errors(logs + services)
    assert set(machines) == {"fleet-a", "fleet-b"}, machines  # both machines ran tasks
    fallbacks = logs.count("Rate coordinator unreachable")
    assert fallbacks == 0, logs[-4000:]  # every request took its turn on the coordinator
    assert stats["requests"].get("429", 0) == 0, stats["requests"]
    assert stats["duplicates"] == 0
    assert stats["unique_dots"] == expected
