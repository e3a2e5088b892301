"""Helpers for the emulator's own tests (the fixtures are the plugin's, see tests/conftest.py)."""

from __future__ import annotations

import json
from typing import Any

import requests

from airflow_provider_bulkdots.emulator.testing import Emulator

EXAMPLE = [
    {
        "device": "first-device",
        "timestamp": 1588864653968,
        "values": [
            {"temperature": 24, "humidity": 88},
            {"temperature": 21, "humidity": 86, "timestamp": 1588864653900},
        ],
    },
    {
        "device": "second-device",
        "timestamp": 1588864653968,
        "values": [{"temperature": 45, "humidity": {"value": 2, "timestamp": 1588864653900}}],
    },
]


def post(
    emu: Emulator,
    body: Any = None,
    *,
    raw: bytes | None = None,
    token: str | None = "default",
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
    url: str | None = None,
) -> requests.Response:
    """POST a body (JSON-encoded unless ``raw``) to the bulk endpoint."""
    data = raw if raw is not None else json.dumps(body).encode()
    sent = {"Content-Type": "application/json"}
    if token == "default":
        sent["X-Auth-Token"] = emu.token
    elif token is not None:
        sent["X-Auth-Token"] = token
    sent.update(headers or {})
    return (session or requests).post(url or emu.bulk_url, data=data, headers=sent, timeout=10)
