"""``scripts/demo_backfill.py --serve`` (what ``./scripts/demo --serve`` runs) stops cleanly on
SIGTERM and on Ctrl-C, as a real subprocess after a real backfill through Airflow."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "demo_backfill.py"


def _serve_demo(workdir: Path, days: int) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start the demo with --serve; return it once it says it serves, its URL and its lines."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for name in [n for n in env if n.startswith("AIRFLOW")]:
        del env[name]  # the demo makes its own Airflow home
    process = subprocess.Popen(
        [
            sys.executable,
            str(SCRIPT),
            "--days",
            str(days),
            "--port",
            "0",
            "--serve",
            "--workdir",
            str(workdir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    for line in process.stdout:  # ends when the demo exits: bounded by its own run
        lines.append(line.rstrip())
        if line.startswith("Serving the dashboard"):
            break
    else:
        process.wait(timeout=30)
        pytest.fail("the demo ended before serving:\n" + "\n".join(lines[-30:]))
    url = next(line.split()[-1] for line in lines if line.startswith("Dashboard: "))
    return process, url.rstrip("/"), lines


def _stops_on(process: subprocess.Popen[str], url: str, signum: int) -> str:
    try:
        process.send_signal(signum)
        rest, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, rest
    host, port = url.removeprefix("http://").split(":")
    with pytest.raises(OSError):
        socket.create_connection((host, int(port)), timeout=2).close()
    return rest


def test_demo_serve_stops_on_sigterm(tmp_path: Path) -> None:
    process, url, lines = _serve_demo(tmp_path / "demo", days=1)
    assert "Check:   every dot stored exactly once" in lines
    assert 'class="series"' in requests.get(url + "/", timeout=10).text  # serving, with dots
    rest = _stops_on(process, url, signal.SIGTERM)
    assert "Stopping on SIGTERM." in rest
    assert "Traceback" not in rest


def test_demo_serve_stops_on_ctrl_c(tmp_path: Path) -> None:
    process, url, _ = _serve_demo(tmp_path / "demo", days=0)
    assert requests.get(url + "/dashboard/revision", timeout=10).ok
    rest = _stops_on(process, url, signal.SIGINT)
    assert "Stopping on SIGINT." in rest
    assert "Traceback" not in rest
