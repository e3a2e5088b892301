"""A throwaway Redis for the tests: Debian's ``redis-server`` on a free loopback port, its
working directory in a temporary directory, no persistence (a restart loses every key, like a
coordinator replaced by a fresh one). ``scripts/ci_services`` installs it."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from tests.processes import free_port, stop_group


class RedisServer:
    """One ``redis-server`` process that can be stopped and started again on its port."""

    def __init__(self, home: str, port: int | None = None) -> None:
        self.home = home
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        """An Airflow connection URI (``AIRFLOW_CONN_...``) of type ``redis``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self):  # type: ignore[no-untyped-def]
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)

    def start(self) -> None:
        log = open(os.path.join(self.home, "redis.log"), "ab")  # noqa: SIM115 - kept by Popen
        self.process = subprocess.Popen(
            [
                "redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", self.home, "--save", "", "--appendonly", "no",
            ],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if self.client().ping():
                    return
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.home}/redis.log")
            time.sleep(0.05)
        raise RuntimeError("redis-server did not answer within 20 s")

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process, term_wait=10)
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port: every key is gone."""
        self.stop()
        self.start()


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A started server; skipped (failed in CI) when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        message = "redis-server is not installed (scripts/ci_services installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tempfile.mkdtemp(prefix="bulkdots-redis-")
    server = RedisServer(home)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)
