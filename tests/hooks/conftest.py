"""A loopback emulator shared by the Hook tests, and a connection pointing at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator
from tests.conftest import EMULATOR_TOKEN as TOKEN


def set_connection(
    monkeypatch: pytest.MonkeyPatch,
    host: str,
    token: str = TOKEN,
    conn_id: str = "bulkdots_default",
    **extra: Any,
) -> None:
    """Define a connection as ``AIRFLOW_CONN_...`` JSON."""
    value = {"conn_type": "bulkdots", "host": host, "password": token, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


@pytest.fixture
def conn(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """``bulkdots_default`` pointing at the emulator, no rate limit, 4 in flight."""
    set_connection(monkeypatch, emu.url, rate_limit=0, max_in_flight=4)
    return emu


def make_body(
    seq: int, dots: int = 10, device: str | None = None, bad: tuple[int, ...] = ()
) -> Body:
    """One body of ``dots`` unique dots: one record, one value object per dot.

    Dots at the positions in ``bad`` carry a string value the API refuses.
    """
    values = [
        {f"v{i % 5}": ("oops" if i in bad else float(i)), "timestamp": 1_700_000_000_000 + i}
        for i in range(dots)
    ]
    record = {"device": device or f"dev-{seq}", "timestamp": 1_700_000_000_000, "values": values}
    return Body(seq=seq, payload=msgspec.json.encode([record]), dot_count=dots)


def make_bodies(n: int, dots: int = 10) -> Iterator[Body]:
    for seq in range(n):
        yield make_body(seq, dots)


def no_sleep(seconds: float) -> None:
    """Switch the waits off."""
