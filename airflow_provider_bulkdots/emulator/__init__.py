"""A local stand-in of the Ubidots bulk endpoint, for tests and CI (standard library only).

``with start_emulator(...) as emu:`` serves it on a free loopback port in a background
thread; ``python -m airflow_provider_bulkdots.emulator serve`` runs it from the shell.
The API itself is :class:`~.api.EmulatorAPI` (``handle(request) -> response``); the HTTP
side is :mod:`.transport`.
"""

from __future__ import annotations

from airflow_provider_bulkdots.emulator.faults import Faults, ReplyFault
from airflow_provider_bulkdots.emulator.testing import Emulator, start_emulator

__all__ = ["Emulator", "Faults", "ReplyFault", "start_emulator"]
