"""A local stand-in of the Ubidots bulk endpoint, for tests and CI (standard library only).

``run_emulator`` serves it on a free loopback port in a background thread;
``python -m airflow_provider_bulkdots.emulator serve`` runs it from the shell.
"""

from __future__ import annotations

from airflow_provider_bulkdots.emulator.faults import Faults, ReplyFault
from airflow_provider_bulkdots.emulator.testing import Emulator, run_emulator, start_emulator

__all__ = ["Emulator", "Faults", "ReplyFault", "run_emulator", "start_emulator"]
