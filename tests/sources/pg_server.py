"""A throwaway PostgreSQL server for the tests: initdb into a temporary directory, started with
pg_ctl on a free loopback port, stopped (and deleted) at the end.

The server refuses to run as root, so as root it runs as the ``postgres`` system user that
Debian's ``postgresql`` package creates (``scripts/ci_services`` installs it).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

USER = "bulkdots"


@dataclass(frozen=True)
class PostgresServer:
    port: int
    database: str = "postgres"

    @property
    def uri(self) -> str:
        """An Airflow connection URI (``AIRFLOW_CONN_...``) for the server."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{self.database}"

    def connect(self):  # type: ignore[no-untyped-def]
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=USER, dbname=self.database)


def _bin_dir() -> str | None:
    found = shutil.which("initdb")
    if found:
        return os.path.dirname(found)
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(candidates[-1]) if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server; skipped (failed in CI) when PostgreSQL is not installed."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        message = "PostgreSQL is not installed (scripts/ci_services installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    home = tempfile.mkdtemp(prefix="bulkdots-pg-")
    run_as: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    data = os.path.join(home, "data")
    port = _free_port()

    def pg(*args: str) -> None:
        subprocess.run([*run_as, *args], check=True, capture_output=True, timeout=120)

    try:
        pg(f"{bin_dir}/initdb", "-D", data, "-U", USER, "--auth=trust", "-E", "UTF8")
        options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1 -c fsync=off"
        pg(f"{bin_dir}/pg_ctl", "-D", data, "-o", options, "-l", f"{home}/log", "-w", "start")
        try:
            yield PostgresServer(port)
        finally:
            pg(f"{bin_dir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
    finally:
        shutil.rmtree(home, ignore_errors=True)
