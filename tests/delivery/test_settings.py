"""Settings resolve in one order: argument, connection extra, default; extras are closed."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.settings import (
    DEFAULTS,
    EXTRA_KEYS,
    DeliverySettings,
    resolve_base_url,
    resolve_settings,
)
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.get_provider_info import CONNECTION_FIELDS


def test_extras_match_the_connection_form() -> None:
    assert tuple(CONNECTION_FIELDS) == EXTRA_KEYS
    for key, form_field in CONNECTION_FIELDS.items():
        assert form_field["schema"]["default"] == DEFAULTS[key], key


def test_defaults() -> None:
    settings = resolve_settings(None)
    assert settings == DeliverySettings()
    assert settings.bulk_url == "https://industrial.api.ubidots.com/api/v1.6/devices/_/bulk/values"
    assert settings.timeout == 30.0


def test_argument_then_extra_then_default() -> None:
    extras = {"rate_limit": 10, "max_in_flight": 2, "timeout": None}
    settings = resolve_settings("h.example", None, extras, {"rate_limit": 1.5, "max_retries": None})
    assert settings.rate_limit == 1.5
    assert settings.max_in_flight == 2
    assert settings.timeout == 30.0
    assert settings.max_retries == 8


def test_uri_strings_are_converted() -> None:
    extras = {
        "max_body_bytes": "5000",
        "rate_limit": "0",
        "token_in_query": "true",
        "retry_unknown_outcome": "off",
        "endpoint": "/api/v1.6/other",
        "max_retry_seconds": "",
    }
    settings = resolve_settings("h.example", None, extras)
    assert settings.max_body_bytes == 5000
    assert settings.rate_limit == 0.0
    assert settings.token_in_query is True
    assert settings.retry_unknown_outcome is False
    assert settings.endpoint == "/api/v1.6/other"
    assert settings.max_retry_seconds == 300.0


def test_legacy_prefixed_extras() -> None:
    assert resolve_settings("h", None, {"extra__bulkdots__rate_limit": 2}).rate_limit == 2


def test_unknown_extra_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown connection extra 'headers'.*rate_limit"):
        resolve_settings("h", None, {"headers": {"X": "1"}})


def test_unknown_or_connection_only_override_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'endpoint'"):
        resolve_settings("h", None, {}, {"endpoint": "/x"})


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_body_bytes", "ten"),
        ("max_body_bytes", 10),
        ("max_in_flight", 0),
        ("timeout", 0),
        ("rate_limit", -1),
        ("rate_limit", True),
        ("max_retries", 1.5),
        ("token_in_query", "maybe"),
        ("endpoint", "api/v1.6"),
    ],
)
def test_invalid_values(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=key):
        resolve_settings("h", None, {key: value})


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://industrial.api.ubidots.com"),
        ("", None, "https://industrial.api.ubidots.com"),
        ("things.ubidots.com", None, "https://things.ubidots.com"),
        ("https://things.ubidots.com/", None, "https://things.ubidots.com"),
        ("http://127.0.0.1", 8790, "http://127.0.0.1:8790"),
        ("http://127.0.0.1:8790", 1234, "http://127.0.0.1:8790"),
        ("http://localhost:8790", None, "http://localhost:8790"),
        ("http://[::1]:8790", None, "http://[::1]:8790"),
        ("127.0.0.1", 8790, "https://127.0.0.1:8790"),
    ],
)
def test_base_url(host: str | None, port: int | None, expected: str) -> None:
    assert resolve_base_url(host, port) == expected


@pytest.mark.parametrize(
    ("host", "match"),
    [
        ("http://industrial.api.ubidots.com", "http is refused"),
        ("http://10.0.0.1:8790", "http is refused"),
        ("ftp://127.0.0.1", "scheme"),
        ("https://h.example/api", "path"),
        ("https://user:pw@h.example", "plain URL"),
    ],
)
def test_bad_hosts(host: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        resolve_base_url(host)
