"""The command line: serve as a subprocess, then stats."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

from tests.emulator.conftest import EXAMPLE

MODULE = [sys.executable, "-m", "airflow_provider_bulkdots.emulator"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([*MODULE, *args], capture_output=True, text=True, timeout=30, env=env)


def test_help_prints_defaults() -> None:
    result = _run("serve", "--help")
    assert result.returncode == 0
    for text in ("8790", "bulkdots-emulator.sqlite", "--rate-limit", "(default: 4.0)"):
        assert text in result.stdout


def test_serve_then_stats(tmp_path: Path) -> None:
    db = tmp_path / "dots.sqlite"
    process = subprocess.Popen(
        [*MODULE, "serve", "--port", "0", "--token", "T", "--db", str(db), "--rate-limit", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed once listening: no polling needed
        url = first.split()[-1]
        assert url.startswith("http://127.0.0.1:")
        bulk = url + "/api/v1.6/devices/_/bulk/values"
        headers = {"X-Auth-Token": "T"}
        assert requests.post(bulk, json=EXAMPLE, headers=headers, timeout=10).status_code == 200
        assert requests.post(bulk, json=EXAMPLE, headers=headers, timeout=10).status_code == 200
        assert requests.post(bulk, json=EXAMPLE, timeout=10).status_code == 401
        check = requests.get(url + "/api/v2.0/devices/?page_size=1", headers=headers, timeout=10)
        assert check.json()["count"] == 2
        live = _run("stats", "--db", str(db), "--json")  # readable while serving
        assert json.loads(live.stdout)["dots"] == 12
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close() if process.stdout else None
        process.stderr.close() if process.stderr else None

    result = _run("stats", "--db", str(db), "--json")
    assert result.returncode == 0
    stats = json.loads(result.stdout)
    assert stats == {
        "requests": {"200": 2, "401": 1},
        "dots": 12,
        "unique_dots": 6,
        "duplicates": 6,
        "devices": 2,
        "largest_body": len(json.dumps(EXAMPLE)),
        "bodies": 2,
    }
    text = _run("stats", "--db", str(db)).stdout
    assert "duplicates" in text
    assert "requests 401" in text


def test_stats_of_missing_db(tmp_path: Path) -> None:
    result = _run("stats", "--db", str(tmp_path / "nope.sqlite"))
    assert result.returncode == 2
    assert "no such database" in result.stderr


def test_bad_fault_option_is_an_error() -> None:
    result = _run("serve", "--port", "0", "--db", ":memory:", "--error-rate", "3")
    assert result.returncode == 2
    assert "error_rate" in result.stderr


def test_serve_with_reply_faults_and_visibility_delay(tmp_path: Path) -> None:
    db = tmp_path / "dots.sqlite"
    process = subprocess.Popen(
        [
            *MODULE,
            "serve",
            "--port",
            "0",
            "--token",
            "T",
            "--db",
            str(db),
            "--rate-limit",
            "0",
            "--wrong-2xx-rate",
            "1",
            "--wrong-2xx-kinds",
            "empty_json_200",
            "--visibility-delay",
            "3600",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().split()[-1]
        headers = {"X-Auth-Token": "T"}
        bulk = url + "/api/v1.6/devices/_/bulk/values"
        assert requests.post(bulk, json=EXAMPLE, headers=headers, timeout=10).json() == {}
        read = url + "/api/v1.6/devices/first-device/temperature/values/"
        assert requests.get(read, headers=headers, timeout=10).status_code == 404  # not yet
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        process.stdout.close() if process.stdout else None
    stats = json.loads(_run("stats", "--db", str(db), "--json").stdout)
    assert stats["dots"] == 6
    assert stats["requests"] == {"empty_json_200": 1}


def test_serve_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [*MODULE, "serve", "--port", "0", "--db", str(tmp_path / "d.sqlite")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    url = process.stdout.readline().split()[-1]
    assert requests.get(url + "/", timeout=10).status_code == 200
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr
