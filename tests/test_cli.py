"""``python -m airflow_provider_bulkdots plan`` and ``airflow bulkdots plan``: real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_bulkdots.cli import get_cli_commands

CSV = """device,timestamp,temperature,humidity
d1,2024-01-01T00:00:00Z,21.5,40
d2,2024-01-01T00:00:01Z,warm,41
d1,2024-01-01T00:00:02Z,21.7,
d2,2024-01-01T00:00:03Z,19.0,yesterday
"""


@pytest.fixture
def readings(tmp_path: Path) -> Path:
    path = tmp_path / "readings.csv"
    path.write_text(CSV)
    return path


def _run(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    """A command in a fresh interpreter, with an empty Airflow home (no deployment)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env["AIRFLOW_HOME"] = str(home)
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=120, check=False)


def test_invalid_rows_are_named_and_the_status_is_1_when_the_run_would_fail(
    readings: Path, tmp_path: Path
) -> None:
    done = _run(
        sys.executable,
        "-m",
        "airflow_provider_bulkdots",
        "plan",
        str(readings),
        home=tmp_path / "home",
    )

    assert done.returncode == 1, done.stderr
    assert "2 invalid row(s) (the run would fail, sending nothing)" in done.stdout
    assert "row 2 (line 3), field 'temperature', value 'warm': must be a number" in done.stdout
    assert "row 4 (line 5), field 'humidity', value 'yesterday'" in done.stdout
    assert 'First body:\n  [{"device":"d1","timestamp":1704067200000' in done.stdout


def test_with_skip_the_plan_is_printed_as_json_and_the_status_is_0(
    readings: Path, tmp_path: Path
) -> None:
    done = _run(
        sys.executable,
        "-m",
        "airflow_provider_bulkdots",
        "plan",
        str(readings),
        "--on-invalid",
        "skip",
        "--rate-limit",
        "2",
        "--shared-by",
        "4",
        "--json",
        home=tmp_path / "home",
    )

    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert (plan["rows"], plan["dots"], plan["invalid_rows"], plan["bodies"]) == (4, 3, 2, 1)
    assert (plan["seconds_at_rate"], plan["seconds_when_shared"]) == (0.5, 2.0)
    assert not (tmp_path / "home" / "airflow.db").exists()  # no deployment was needed


def test_a_file_that_cannot_be_read_is_status_2_with_the_reason(tmp_path: Path) -> None:
    done = _run(
        sys.executable,
        "-m",
        "airflow_provider_bulkdots",
        "plan",
        str(tmp_path / "missing.csv"),
        home=tmp_path / "home",
    )

    assert done.returncode == 2
    assert "missing.csv does not exist" in done.stderr


def test_the_same_command_is_an_airflow_command(readings: Path, tmp_path: Path) -> None:
    (group,) = get_cli_commands()
    assert group.name == "bulkdots" and [c.name for c in group.subcommands] == ["plan"]
    airflow = Path(sys.executable).with_name("airflow")

    done = _run(str(airflow), "bulkdots", "plan", str(readings), home=tmp_path / "home")

    assert done.returncode == 1, done.stderr
    assert "row 2 (line 3), field 'temperature'" in done.stdout
