"""For tests that start other processes: a free loopback port, and stopping a process group
(a component started with ``start_new_session=True`` and every worker it forked)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    """Send ``sig`` to the process group led by ``process`` (gone already: nothing to do)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def stop_group(process: subprocess.Popen[bytes], term_wait: float = 30.0) -> None:
    """SIGTERM the group, wait up to ``term_wait`` s for its leader, then SIGKILL what is left."""
    signal_group(process, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=term_wait)
    signal_group(process, signal.SIGKILL)
    process.wait()
