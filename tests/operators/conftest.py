"""The operator's tests: one migrated metadata DB and one emulator for the session."""

from __future__ import annotations

import pytest

from airflow_provider_bulkdots.emulator import Emulator
from tests.operators.dag_runs import migrate_db, set_connection


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The session's SQLite metadata DB, migrated once."""
    migrate_db()


@pytest.fixture
def conn(emu: Emulator, airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """``bulkdots_default`` pointing at the emulator: no pace, four requests in flight."""
    set_connection(monkeypatch, emu, rate_limit=0, max_in_flight=4)
    return emu
