"""A real browser (Debian's Chromium driven by Playwright) and a real `airflow api-server`.

Chromium comes from the system packages (`scripts/ci_services` installs it); Playwright's own
browser download is not used. Without /usr/bin/chromium these tests skip and say why.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.processes import free_port, stop_group

CHROMIUM = os.environ.get("BULKDOTS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
START_TIMEOUT = 180.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module.

    Playwright's sync API keeps an asyncio loop running in the main thread while it is open:
    a session-wide instance made every later ``asyncio.run()`` fail (``dag.test()`` runs a
    deferred task's trigger that way), so it is closed with each browser module.
    """
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"no Chromium at {CHROMIUM}: scripts/ci_services installs it (apt-get)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (own cookies and storage) with a desktop-sized viewport."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: BULKDOTS_SCREENSHOT_DIR (docs/img to refresh the docs' own), or a
    temporary folder."""
    target = Path(os.environ.get("BULKDOTS_SCREENSHOT_DIR") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    return target


@dataclass
class ApiServer:
    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log_lines: list[str]

    def log(self) -> str:
        return "".join(self.log_lines[-60:])


def _airflow_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_")}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/airflow.db",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__AUTH_MANAGER=(
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS="True",
        AIRFLOW__CORE__TEST_CONNECTION="Enabled",
        AIRFLOW__API__WORKERS="1",
    )
    return env


def _follow(process: subprocess.Popen[bytes], lines: list[str], ready: threading.Event) -> None:
    """Keep the server's output (so its pipe never fills); set ``ready`` at startup's end,
    and also when it exits, so nobody waits on a dead server."""
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode(errors="replace")
        lines.append(line)
        if "Application startup complete" in line:
            ready.set()
    ready.set()


def _die_with_pytest() -> None:
    """In the server, before exec: SIGTERM when pytest dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[ApiServer]:
    """`airflow api-server` with SQLite, the simple auth manager (everyone admin) and the Test
    button enabled, in a temporary AIRFLOW_HOME on a free loopback port."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = _airflow_env(home)
    airflow = [sys.executable, "-m", "airflow"]
    subprocess.run([*airflow, "db", "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    process = subprocess.Popen(
        [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_pytest,
    )
    server = ApiServer(f"http://127.0.0.1:{port}", home, process, [])
    ready = threading.Event()
    threading.Thread(target=_follow, args=(process, server.log_lines, ready), daemon=True).start()
    try:
        if not ready.wait(START_TIMEOUT) or process.poll() is not None:
            raise RuntimeError(f"api-server did not start:\n{server.log()}")
        yield server
    finally:
        stop_group(process)
        shutil.rmtree(home / "logs", ignore_errors=True)
