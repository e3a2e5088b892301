"""Test session setup: an isolated Airflow home with SQLite, before anything imports Airflow."""

from __future__ import annotations

import os
import tempfile

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="bulkdots-airflow-home-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ.setdefault(
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    f"sqlite:///{os.environ['AIRFLOW_HOME']}/airflow.db",
)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
# The token's shared pace lives in files: this session's own, not the machine's.
os.environ["AIRFLOW__BULKDOTS__RATE_STATE_DIR"] = tempfile.mkdtemp(prefix="bulkdots-rate-")


# The emulator's fixtures (bulkdots_emulator, bulkdots_emulator_clean) are opt-in, as a user's
# conftest.py would enable them; the installed package loads no pytest plugin by itself.
pytest_plugins = ["airflow_provider_bulkdots.emulator.pytest_plugin"]

# A token unlike any other string of the suite, so tests can assert it never leaks.
EMULATOR_TOKEN = "BBFF-tests-7f3a9c2e51d84b60"


@pytest.fixture(scope="session")
def bulkdots_emulator_token() -> str:
    """The plugin's one session emulator accepts the suite's own token."""
    return EMULATOR_TOKEN


@pytest.fixture
def emu(bulkdots_emulator_clean: object) -> object:
    """The session emulator (the plugin's), empty, without faults or rate limit."""
    return bulkdots_emulator_clean


def _hypothesis_profiles() -> None:
    """CI replays a fixed set of examples (a red run must be reproducible); local runs
    explore new ones each time."""
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("dev", deadline=None, print_blob=True)
    settings.load_profile("ci" if os.environ.get("CI") else "dev")


_hypothesis_profiles()
