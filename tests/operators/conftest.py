"""The operator's tests: one migrated metadata DB and one emulator for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_bulkdots.emulator import Emulator, run_emulator
from tests.operators.dag_runs import migrate_db, set_connection

# Distinctive, so a search of logs, XComs and rendered fields for it cannot miss a leak.
TOKEN = "BBFF-operator-tests-1c8e4d7a2b9f6053"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """The session's SQLite metadata DB, migrated once."""
    migrate_db()


@pytest.fixture(scope="session")
def session_emulator() -> Iterator[Emulator]:
    with run_emulator(token=TOKEN, rate_limit=0) as emulator:
        yield emulator


@pytest.fixture
def emu(session_emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator, empty, without faults or rate limit."""
    session_emulator.reset()
    yield session_emulator
    session_emulator.reset()


@pytest.fixture
def conn(emu: Emulator, airflow_db: None, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """``bulkdots_default`` pointing at the emulator: no pace, four requests in flight."""
    set_connection(monkeypatch, emu, rate_limit=0, max_in_flight=4)
    return emu
