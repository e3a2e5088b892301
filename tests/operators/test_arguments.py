"""The operator's delivery arguments are the declared task settings, checked before sending."""

from __future__ import annotations

import inspect

import pytest

from airflow_provider_bulkdots.delivery.settings import OVERRIDE_KEYS, SettingsOverrides
from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.hooks.delivery import Guarantees
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator


def test_keyword_arguments_are_the_declared_task_settings() -> None:
    parameters = inspect.signature(BulkDotsOperator.__init__).parameters
    settings = [name for name in parameters if name in OVERRIDE_KEYS]
    assert settings == list(OVERRIDE_KEYS)
    assert all(parameters[name].default is None for name in settings)


def test_every_setting_reaches_the_hook(conn: Emulator) -> None:
    values = {
        "max_body_bytes": 2_000,
        "rate_limit": 7.0,
        "rate_window": "minute",
        "dots_per_hour": 50_000.0,
        "rate_coordinator_conn_id": "fleet_redis",
        "priority": "live",
        "max_in_flight": 3,
        "timeout": 5.0,
        "max_retries": 2,
        "max_retry_seconds": 9.0,
        "defer_threshold": 30.0,
        "resend_lost_replies": False,
    }
    assert set(values) == set(OVERRIDE_KEYS)
    hook = BulkDotsOperator(task_id="send", data=[], **values).make_hook()
    assert {key: getattr(hook.settings, key) for key in values} == values


@pytest.mark.parametrize(("key", "value"), [("max_body_bytes", 100), ("max_in_flight", 17)])
def test_a_setting_out_of_range_is_refused_by_name_before_any_request(
    conn: Emulator, key: str, value: int
) -> None:
    operator = BulkDotsOperator(task_id="send", data=[{"device": "d"}], **{key: value})
    with pytest.raises(ConfigurationError, match=key) as caught:
        resolved = operator.make_hook().settings  # resolving the settings checks them
        pytest.fail(f"accepted: {resolved}")
    assert caught.value.setting == key
    assert conn.stats()["requests"] == {}


def test_the_operator_resolves_its_arguments_into_the_typed_objects(conn: Emulator) -> None:
    operator = BulkDotsOperator(
        task_id="send",
        data=[],
        layout="long",
        timestamp_unit="s",
        on_invalid="skip",
        file_format="csv",
        delimiter=";",
        priority="live",
        rate_window="minute",
        reconcile=False,
        resend_lost_replies=True,
        skip_existing=True,
        reconcile_delay=1.5,
    )
    options = operator.reshape_options()
    assert (options.layout, options.timestamp_unit, options.on_invalid) == ("long", "s", "skip")
    reading = operator.read_options()
    assert (reading.file_format, reading.delimiter) == ("csv", ";")
    assert operator.settings_overrides() == SettingsOverrides(
        priority="live", rate_window="minute", resend_lost_replies=True
    )
    assert operator.guarantees() == Guarantees(
        reconcile=False, skip_existing=True, reconcile_delay=1.5
    )
    hook = operator.make_hook()
    assert hook.overrides == operator.settings_overrides()
    assert hook.body_options(options).max_body_bytes == hook.settings.max_body_bytes
    # reading back a lost reply: never resent blind, whatever the argument said
    reading_back = BulkDotsOperator(task_id="t", data=[], resend_lost_replies=True)
    assert reading_back.settings_overrides().resend_lost_replies is False


def test_retry_unknown_outcome_still_works_with_a_deprecation_warning(conn: Emulator) -> None:
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

    with pytest.warns(DeprecationWarning, match="use 'resend_lost_replies'"):
        operator = BulkDotsOperator(
            task_id="t", data=[], reconcile=False, retry_unknown_outcome=False
        )
    assert operator.settings_overrides().resend_lost_replies is False
    with pytest.warns(DeprecationWarning, match="retry_unknown_outcome"):
        hook = BulkDotsHook(retry_unknown_outcome=False)
    assert hook.settings.resend_lost_replies is False
    with pytest.raises(ConfigurationError, match="resend_lost_replies only"):
        BulkDotsHook(retry_unknown_outcome=False, resend_lost_replies=True)
