"""The hook outside a task: a plain Python process with the connection in an AIRFLOW_CONN_
variable (the docs' snippet, run as written), and a host whose URL holds the port, Port empty,
through Airflow's own URI round trip (what the UI's Test button does with a connection)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from tests.conftest import EMULATOR_TOKEN

DOCS = Path(__file__).resolve().parents[2] / "docs" / "connections" / "bulkdots.md"


def _snippet() -> str:
    if not DOCS.is_file():
        pytest.skip("no docs here: these are the tests of an installed wheel")
    text = DOCS.read_text()
    section = text[text.index("## From a script or a notebook") :]
    match = re.search(r"```python\n(.*?)\n```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


@pytest.mark.timeout(120)
def test_the_documented_snippet_runs_in_a_plain_process(emu: Any, tmp_path: Path) -> None:
    script = tmp_path / "load.py"
    script.write_text(_snippet())
    connection = {"conn_type": "bulkdots", "host": emu.url, "password": EMULATOR_TOKEN}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env["AIRFLOW_CONN_BULKDOTS_DEFAULT"] = json.dumps(connection)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=100
    )
    assert done.returncode == 0, done.stderr[-2000:]
    printed = [line for line in done.stdout.splitlines() if not line[:4].isdigit()]  # no logs
    assert printed == [
        emu.url,
        f"Connected to {emu.url}: the token is accepted.",
        "1 body sent",
    ]
    assert emu.stats()["unique_dots"] == 1
    assert EMULATOR_TOKEN not in done.stdout + done.stderr


@pytest.mark.parametrize("port", [None, "same"])
def test_a_port_in_the_url_survives_airflows_uri_round_trip(
    emu: Any, monkeypatch: pytest.MonkeyPatch, port: str | None
) -> None:
    from airflow.models.connection import Connection

    url_port = int(emu.url.rsplit(":", 1)[1])
    made = Connection(
        conn_id="bulkdots_url_port",
        conn_type="bulkdots",
        host=emu.url,
        port=url_port if port else None,
        password=EMULATOR_TOKEN,
        extra=json.dumps({"rate_limit": 0}),
    )
    monkeypatch.setenv("AIRFLOW_CONN_BULKDOTS_URL_PORT", made.get_uri())
    hook = BulkDotsHook("bulkdots_url_port")
    assert hook.settings.base_url == emu.url
    assert hook.test_connection() == (True, f"Connected to {emu.url}: the token is accepted.")
