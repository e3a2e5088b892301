"""Settings resolve in one order: argument, connection extra, default; extras are closed."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.http.retry import RetryPolicy
from airflow_provider_bulkdots.delivery.settings import (
    DEFAULTS,
    EXTRA_KEYS,
    OVERRIDE_KEYS,
    SETTINGS,
    SETTINGS_BY_NAME,
    DeliverySettings,
    SettingsOverrides,
    check_overrides,
    resolve_base_url,
    resolve_settings,
    settings_table,
)
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.get_provider_info import CONNECTION_FIELDS

CONNECTION_PAGE = Path(__file__).resolve().parents[2] / "docs" / "connections" / "bulkdots.md"


def test_the_connection_form_is_the_declaration() -> None:
    assert tuple(CONNECTION_FIELDS) == EXTRA_KEYS == tuple(s.name for s in SETTINGS)
    for setting in SETTINGS:
        form_field = CONNECTION_FIELDS[setting.name]
        assert form_field["schema"]["default"] == setting.default == DEFAULTS[setting.name]
        assert form_field["description"] == setting.help
        assert form_field["schema"].get("minimum") == setting.minimum
        assert form_field["schema"].get("maximum") == setting.maximum


def test_the_dataclass_and_the_retry_policy_default_to_the_declaration() -> None:
    defaults = DeliverySettings()
    for setting in SETTINGS:
        assert getattr(defaults, setting.name) == setting.default, setting.name
    policy = RetryPolicy()
    assert (policy.max_retries, policy.max_retry_seconds, policy.resend_lost_replies) == (
        DEFAULTS["max_retries"],
        DEFAULTS["max_retry_seconds"],
        DEFAULTS["resend_lost_replies"],
    )
    assert (
        RetryPolicy.from_settings(resolve_settings(None, None, {"max_retries": 2})).max_retries == 2
    )


def test_the_documented_table_is_the_declaration() -> None:
    if not CONNECTION_PAGE.is_file():
        pytest.skip("no docs here: these are the tests of an installed wheel")
    assert settings_table() in CONNECTION_PAGE.read_text()


def test_every_setting_has_words_and_numbers_have_finite_bounds() -> None:
    for setting in SETTINGS:
        assert setting.label and setting.help.endswith("."), setting.name
        if setting.kind in (int, float):
            assert setting.minimum is not None and setting.maximum is not None, setting.name


def test_defaults() -> None:
    settings = resolve_settings(None)
    assert settings == DeliverySettings()
    assert settings.bulk_url == "https://industrial.api.ubidots.com/api/v1.6/devices/_/bulk/values"
    assert settings.timeout == 30.0


def test_argument_then_extra_then_default() -> None:
    extras = {"rate_limit": 10, "max_in_flight": 2, "timeout": None}
    overrides = SettingsOverrides(rate_limit=1.5, max_retries=None)
    settings = resolve_settings("h.example", None, extras, overrides)
    assert settings.rate_limit == 1.5
    assert settings.max_in_flight == 2
    assert settings.timeout == 30.0
    assert settings.max_retries == 8


def test_uri_strings_are_converted() -> None:
    extras = {
        "max_body_bytes": "5000",
        "rate_limit": "0",
        "auth_in_query": "true",
        "resend_lost_replies": "off",
        "endpoint": "/api/v1.6/other",
        "max_retry_seconds": "",
    }
    settings = resolve_settings("h.example", None, extras)
    assert settings.max_body_bytes == 5000
    assert settings.rate_limit == 0.0
    assert settings.auth_in_query is True
    assert settings.resend_lost_replies is False
    assert settings.endpoint == "/api/v1.6/other"
    assert settings.max_retry_seconds == 300.0


def test_legacy_prefixed_extras() -> None:
    assert resolve_settings("h", None, {"extra__bulkdots__rate_limit": 2}).rate_limit == 2


def test_unknown_extra_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match=r"unknown connection extra 'headers'.*rate_limit"):
        resolve_settings("h", None, {"headers": {"X": "1"}})


def test_unknown_or_connection_only_override_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="unknown setting 'endpoint'"):
        check_overrides({"endpoint": "/x"})
    with pytest.raises(TypeError, match="endpoint"):
        SettingsOverrides(endpoint="/x")  # type: ignore[call-arg]


def test_the_overrides_are_the_settings_a_task_may_set() -> None:
    assert tuple(field.name for field in fields(SettingsOverrides)) == OVERRIDE_KEYS
    assert SettingsOverrides(rate_limit=2.0, priority="live").given() == {
        "rate_limit": 2.0,
        "priority": "live",
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_body_bytes", "ten"),
        ("max_body_bytes", 10),
        ("max_body_bytes", 100),
        ("max_body_bytes", 127),
        ("max_body_bytes", 10_001),
        ("max_body_bytes", 5000.5),
        ("max_in_flight", 0),
        ("max_in_flight", 17),
        ("timeout", 0),
        ("timeout", float("inf")),
        ("timeout", "nan"),
        ("rate_limit", -1),
        ("rate_limit", True),
        ("rate_limit", float("inf")),
        ("rate_limit", "inf"),
        ("max_retries", 1.5),
        ("max_retries", -1),
        ("max_retry_seconds", float("nan")),
        ("auth_in_query", "maybe"),
        ("resend_lost_replies", 2),
        ("endpoint", "api/v1.6"),
    ],
)
def test_invalid_values_are_refused_by_name(key: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=key) as caught:
        resolve_settings("h", None, {key: value})
    assert caught.value.setting == key
    if key in OVERRIDE_KEYS:
        with pytest.raises(ConfigurationError, match=key):
            check_overrides({key: value})


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("max_body_bytes", 128, 128),
        ("max_body_bytes", 10_000, 10_000),
        ("max_body_bytes", 5000.0, 5000),
        ("max_body_bytes", "5000.0", 5000),
        ("max_in_flight", 1, 1),
        ("max_in_flight", 16.0, 16),
        ("max_retries", 0, 0),
        ("timeout", "2.5", 2.5),
        ("rate_limit", 0, 0.0),
    ],
)
def test_bounds_are_inclusive_and_whole_floats_are_integers(
    key: str, value: Any, expected: Any
) -> None:
    resolved = getattr(resolve_settings("h", None, {key: value}), key)
    assert resolved == expected and type(resolved) is SETTINGS_BY_NAME[key].kind


def test_the_old_query_token_extra_is_still_read(caplog: pytest.LogCaptureFixture) -> None:
    assert resolve_settings("h", None, {"token_in_query": "true"}).auth_in_query is True
    assert "deprecated" in caplog.text and "auth_in_query" in caplog.text
    with pytest.raises(ConfigurationError, match="given twice"):
        resolve_settings("h", None, {"token_in_query": True, "auth_in_query": False})


def test_a_value_masked_by_the_ui_says_so() -> None:
    with pytest.raises(ConfigurationError, match="masked") as caught:
        resolve_settings("h", None, {"token_in_query": "***"})
    assert caught.value.setting == "auth_in_query"


@pytest.mark.parametrize(
    ("host", "port", "expected"),
    [
        (None, None, "https://industrial.api.ubidots.com"),
        ("", None, "https://industrial.api.ubidots.com"),
        ("things.ubidots.com", None, "https://things.ubidots.com"),
        ("https://things.ubidots.com/", None, "https://things.ubidots.com"),
        ("http://127.0.0.1", 8790, "http://127.0.0.1:8790"),
        ("http://127.0.0.1:8790", 8790, "http://127.0.0.1:8790"),
        ("http://127.0.0.1:8790", 0, "http://127.0.0.1:8790"),
        ("http://localhost:8790", None, "http://localhost:8790"),
        ("http://[::1]:8790", None, "http://[::1]:8790"),
        ("127.0.0.1", 8790, "https://127.0.0.1:8790"),
    ],
)
def test_base_url(host: str | None, port: int | None, expected: str) -> None:
    assert resolve_base_url(host, port) == expected


def test_a_port_in_the_url_and_another_in_the_port_field_is_explained_in_words() -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve_base_url("http://127.0.0.1:18790", 1234)
    assert caught.value.setting == "port"
    assert str(caught.value).endswith(
        "the host URL 'http://127.0.0.1:18790' names port 18790 but the Port field says 1234: "
        "leave the Port field empty (the URL's port is used) or make the two agree"
    )


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


def test_rate_window_and_the_fleet_settings() -> None:
    settings = resolve_settings(None, None, {"rate_limit": "120", "rate_window": "minute"})
    assert settings.requests_per_second == 2.0
    assert resolve_settings(None, None, {"rate_window": "hour"}).requests_per_second == 4 / 3600
    with pytest.raises(ConfigurationError, match="rate_window must be second, minute or hour"):
        resolve_settings(None, None, {"rate_window": "day"})
    with pytest.raises(ConfigurationError, match="priority must be live or backfill"):
        resolve_settings(None, None, None, SettingsOverrides(priority="urgent"))  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="dots_per_hour is paced on a rate coordinator"):
        resolve_settings(None, None, {"dots_per_hour": 100_000})
    fleet = resolve_settings(
        None, None, {"dots_per_hour": 100_000, "rate_coordinator_conn_id": "fleet_redis"}
    )
    assert (fleet.dots_per_hour, fleet.rate_coordinator_conn_id) == (100_000, "fleet_redis")
    assert (fleet.priority, DeliverySettings().rate_coordinator_conn_id) == ("backfill", "")


def test_retry_unknown_outcome_is_the_deprecated_name_of_resend_lost_replies() -> None:
    with pytest.warns(DeprecationWarning, match="'retry_unknown_outcome' is deprecated"):
        settings = resolve_settings("h", None, {"retry_unknown_outcome": "false"})
    assert settings.resend_lost_replies is False
    with pytest.warns(DeprecationWarning, match="use 'resend_lost_replies'"):
        assert check_overrides({"retry_unknown_outcome": False}) == {"resend_lost_replies": False}
    with pytest.raises(ConfigurationError, match="given twice"):
        resolve_settings("h", None, {"retry_unknown_outcome": True, "resend_lost_replies": True})
