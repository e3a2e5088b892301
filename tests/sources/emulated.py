"""Bodies straight to the emulator, and what it stored, for the source tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import requests

from airflow_provider_bulkdots.dots.body import Body
from tests.conftest import EMULATOR_TOKEN


def post_bodies(emulator: Any, bodies: Iterable[Body]) -> None:
    """POST each body to the emulator; every one must be accepted."""
    for body in bodies:
        reply = requests.post(
            emulator.bulk_url,
            data=body.payload,
            headers={"X-Auth-Token": EMULATOR_TOKEN, "Content-Type": "application/json"},
            timeout=10,
        )
        assert reply.status_code == 200, reply.text


def stored_dots(emulator: Any) -> list[tuple[str, str, int, float]]:
    """Every stored dot as (device, variable, timestamp, value), sorted."""
    return sorted((d["device"], d["variable"], d["timestamp"], d["value"]) for d in emulator.dots())
