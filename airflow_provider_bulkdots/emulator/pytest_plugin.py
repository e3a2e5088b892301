"""pytest fixtures: a session-wide emulator, and a per-test view of it that starts empty.

Opt-in, never loaded by an entry point: enable it with ``pytest -p
airflow_provider_bulkdots.emulator.pytest_plugin`` or, in the top-level ``conftest.py``,
``pytest_plugins = ["airflow_provider_bulkdots.emulator.pytest_plugin"]``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_bulkdots.emulator.testing import Emulator, start_emulator


@pytest.fixture(scope="session")
def bulkdots_emulator_token() -> str:
    """The token the session emulator accepts; override this fixture to choose another."""
    return "test-token"


@pytest.fixture(scope="session")
def bulkdots_emulator(bulkdots_emulator_token: str) -> Iterator[Emulator]:
    """One emulator for the session, on a free loopback port, without a rate limit."""
    with start_emulator(token=bulkdots_emulator_token, rate_limit=0) as emulator:
        yield emulator


@pytest.fixture
def bulkdots_emulator_clean(bulkdots_emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator, reset before and after the test."""
    bulkdots_emulator.reset()
    yield bulkdots_emulator
    bulkdots_emulator.reset()
