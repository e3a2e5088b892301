"""The Asset-scheduled example DAG, run through real Airflow against the emulator: each
arrival of the logger's file sends what is new in it, and the delivery is an Asset event."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.sdk import DAG

from airflow_provider_bulkdots.emulator import Emulator
from tests.operators.dag_runs import EXAMPLE_DAGS, migrate_db, set_connection, xcoms

DATA = EXAMPLE_DAGS / "data"


@pytest.fixture
def drop_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BULKDOTS_DROP_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def dag(drop_dir: Path) -> Iterator[DAG]:
    """The example DAG, parsed with the drop folder of this test and registered."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    migrate_db()
    bag = DagBag(str(EXAMPLE_DAGS / "bulkdots_asset_triggered.py"))
    assert not bag.import_errors, bag.import_errors
    sync_bag_to_db(bag, "dags-folder", None)
    yield bag.dags["bulkdots_asset_triggered"]


def _arrive(drop_dir: Path, lines: list[str]) -> int:
    """The gateway writes the logger's file anew; returns the readings in it."""
    (drop_dir / "logger_latest.csv").write_text("".join(lines))
    rows = list(csv.DictReader(lines))
    return sum(
        1
        for row in rows
        for key, value in row.items()
        if key not in ("time", "logger") and value != ""
    )


def _delivery_events() -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == "ubidots://bulkdots_default/greenhouse")
            .order_by(AssetEvent.id)
        ).all()
        return [dict(row[0] or {}) for row in rows]


def test_each_arrival_of_the_file_sends_what_is_new_in_it(
    dag: DAG, drop_dir: Path, bulkdots_emulator_clean: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    emu = bulkdots_emulator_clean
    set_connection(monkeypatch, emu, rate_limit=0)
    lines = (DATA / "logger_20240101.csv").read_text().splitlines(keepends=True)
    assert len(lines) > 400
    events_before = len(_delivery_events())

    first = _arrive(drop_dir, lines[:201])  # header and 200 rows
    run = dag.test()
    assert run.state == "success"
    assert emu.stats()["dots"] == first

    everything = _arrive(drop_dir, lines[:401])  # the file grew by 200 rows
    run = dag.test()

    assert run.state == "success"
    summary = xcoms(run)[("send_arrival", -1, "summary")]
    assert summary["rows_read"] == 200
    stats = emu.stats()
    assert stats["dots"] == stats["unique_dots"] == everything
    counts = Counter((dot["device"], dot["variable"], dot["timestamp"]) for dot in emu.dots())
    assert set(counts.values()) == {1}
    events = _delivery_events()[events_before:]
    assert len(events) == 2
    assert events[-1]["dots_sent"] == everything - first
    assert dag.task_dict["send_arrival"].inlets[0].uri == f"file://{drop_dir}/logger_latest.csv"
