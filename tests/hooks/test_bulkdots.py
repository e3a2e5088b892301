"""BulkDotsHook against the emulator over loopback: success, errors, secrets, pace, faults."""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from airflow_provider_bulkdots.delivery.reporting.results import SendResult
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator, Faults, start_emulator
from airflow_provider_bulkdots.exceptions import (
    AuthenticationError,
    BodyTooLargeError,
    BulkDotsApiError,
    BulkDotsDeliveryError,
    ConfigurationError,
    DevicesDisabledError,
    NotFoundError,
    PaymentRequiredError,
    RefusedDotsError,
)
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from tests.hooks.conftest import TOKEN, make_bodies, make_body, no_sleep, set_connection
from tests.processes import free_port


def _assert_stored_once(emu: Emulator, expected_dots: int) -> None:
    stats = emu.stats()
    assert stats["unique_dots"] == expected_dots
    assert stats["duplicates"] == 0
    assert stats["dots"] == expected_dots


# -- the connection ---------------------------------------------------------------------


def test_identity() -> None:
    assert BulkDotsHook.conn_type == "bulkdots"
    assert BulkDotsHook.default_conn_name == "bulkdots_default"
    assert BulkDotsHook.conn_name_attr == "bulkdots_conn_id"
    assert BulkDotsHook().bulkdots_conn_id == "bulkdots_default"


def test_ui_field_behaviour_has_airflows_snake_case_keys() -> None:
    from airflow_provider_bulkdots.get_provider_info import get_provider_info

    behaviour = BulkDotsHook.get_ui_field_behaviour()
    assert set(behaviour) == {"hidden_fields", "relabeling", "placeholders"}
    assert behaviour["relabeling"] == {"host": "API URL", "password": "Token"}
    assert "extra" in behaviour["hidden_fields"]
    (declared,) = get_provider_info()["connection-types"]
    assert behaviour == {k.replace("-", "_"): v for k, v in declared["ui-field-behaviour"].items()}


def test_keyword_arguments_are_the_declared_task_settings() -> None:
    import inspect

    from airflow_provider_bulkdots.delivery.settings import OVERRIDE_KEYS, SettingsOverrides

    parameters = inspect.signature(BulkDotsHook.__init__).parameters
    settings = [name for name in parameters if name in OVERRIDE_KEYS]
    assert settings == list(OVERRIDE_KEYS)
    assert all(parameters[name].default is None for name in settings)
    hook = BulkDotsHook(**dict.fromkeys(OVERRIDE_KEYS, None))
    assert hook.overrides == SettingsOverrides()
    hook = BulkDotsHook(max_retries=2, priority="live")
    assert hook.overrides == SettingsOverrides(max_retries=2, priority="live")


def test_the_settings_as_one_object() -> None:
    from airflow_provider_bulkdots.delivery.settings import SettingsOverrides

    overrides = SettingsOverrides(max_in_flight=3)
    assert BulkDotsHook(overrides=overrides).overrides is overrides
    with pytest.raises(TypeError, match="not both"):
        BulkDotsHook(max_retries=2, overrides=overrides)


def test_connection_as_uri(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    port = emu.url.rsplit(":", 1)[1]
    uri = (
        f"bulkdots://http://:{quote(TOKEN, safe='')}@127.0.0.1:{port}"
        "?rate_limit=0&max_in_flight=2&max_retries=3&auth_in_query=false"
    )
    monkeypatch.setenv("AIRFLOW_CONN_BULKDOTS_URI", uri)
    hook = BulkDotsHook("bulkdots_uri")
    assert hook.settings.base_url == emu.url
    assert (hook.settings.max_in_flight, hook.settings.max_retries) == (2, 3)
    assert hook.send_bodies(make_bodies(3)) != []
    _assert_stored_once(emu, 30)


def test_arguments_override_extras(conn: Emulator) -> None:
    hook = BulkDotsHook(max_in_flight=1, timeout=5, resend_lost_replies=False)
    assert hook.settings.max_in_flight == 1
    assert hook.settings.timeout == 5
    assert hook.settings.resend_lost_replies is False
    assert hook.settings.rate_limit == 0


def test_unknown_extra_is_refused(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, emu.url, headers={"X-Other": "1"})
    with pytest.raises(ConfigurationError, match="unknown connection extra 'headers'"):
        BulkDotsHook().send_bodies([make_body(0)])
    assert emu.stats()["requests"] == {}


def test_http_refused_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, "http://industrial.api.ubidots.com")
    with pytest.raises(ConfigurationError, match="http is refused"):
        BulkDotsHook().send_bodies([make_body(0)])
    ok, message = BulkDotsHook().test_connection()
    assert not ok and "http is refused" in message


def test_missing_token(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, emu.url, token="")
    with pytest.raises(ConfigurationError, match="no token"):
        BulkDotsHook().send_bodies([make_body(0)])


def test_test_connection_ok(conn: Emulator) -> None:
    ok, message = BulkDotsHook().test_connection()
    assert ok, message
    assert "accepted" in message


def test_test_connection_wrong_token(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, emu.url, token="BBFF-wrong-token-000000")
    ok, message = BulkDotsHook().test_connection()
    assert not ok
    assert "Incorrect authentication credentials" in message
    assert "401002" in message


def test_test_connection_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, f"http://127.0.0.1:{free_port()}", timeout=2)
    ok, message = BulkDotsHook().test_connection()
    assert not ok
    assert message.startswith("Cannot reach http://127.0.0.1:")


# -- success ----------------------------------------------------------------------------


def test_send_bodies_returns_task_ids_in_order(conn: Emulator) -> None:
    bodies = list(make_bodies(25))
    task_ids = BulkDotsHook(sleep=no_sleep).send_bodies(bodies)
    assert len(task_ids) == 25 and len(set(task_ids)) == 25
    by_device = {dot["device"]: dot["task_id"] for dot in conn.dots()}
    assert task_ids == [by_device[f"dev-{seq}"] for seq in range(25)]
    _assert_stored_once(conn, 250)
    assert bodies == list(make_bodies(25)), "inputs come back unchanged"


@pytest.mark.parametrize("extra", ["auth_in_query", "token_in_query"])
def test_auth_in_query(emu: Emulator, monkeypatch: pytest.MonkeyPatch, extra: str) -> None:
    """The token travels in the URL and not in the header (the old extra name too)."""
    set_connection(monkeypatch, emu.url, rate_limit=0, **{extra: True})
    hook = BulkDotsHook()
    sent: list[tuple[str, dict[str, str]]] = []
    hook.get_conn().hooks["response"].append(
        lambda response, **_: sent.append((response.request.url, dict(response.request.headers)))
    )
    assert len(hook.send_bodies(make_bodies(2))) == 2
    assert len(sent) == 2
    for url, headers in sent:
        assert url.endswith(f"?token={quote(TOKEN, safe='')}")
        assert "X-Auth-Token" not in headers
    _assert_stored_once(emu, 20)


def test_deliver_reports_each_body_and_streams_lazily(conn: Emulator) -> None:
    in_flight = 3
    pulled = 0
    reported: list[tuple[Body, SendResult]] = []
    most_held = 0

    def source() -> Iterator[Body]:
        nonlocal pulled, most_held
        for body in make_bodies(40):
            pulled += 1
            most_held = max(most_held, pulled - len(reported))
            yield body

    hook = BulkDotsHook(max_in_flight=in_flight, sleep=no_sleep)
    summary = hook.send(source(), lambda body, result: reported.append((body, result)))
    assert most_held <= 2 * in_flight + 1
    assert sorted(body.seq for body, _ in reported) == list(range(40))
    assert all(result.acknowledged and len(result.task_ids) == 1 for _, result in reported)
    assert (summary.bodies, summary.dots, summary.requests) == (40, 400, 40)
    assert summary.statuses == Counter({"200": 40})
    assert summary.as_dict()["dots"] == 400


def test_one_session_reused(conn: Emulator) -> None:
    hook = BulkDotsHook(sleep=no_sleep)
    session = hook.get_conn()
    hook.send_bodies(make_bodies(3))
    hook.send_bodies(make_bodies(2))
    assert hook.get_conn() is session


# -- errors that are not retried ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (402, PaymentRequiredError),
        (403, AuthenticationError),
        (404, NotFoundError),
        (415, BulkDotsApiError),
        (501, BulkDotsApiError),
    ],
)
def test_not_retried(conn: Emulator, status: int, error: type[BulkDotsApiError]) -> None:
    conn.fail_next(1, status)
    with pytest.raises(error) as caught:
        BulkDotsHook(max_in_flight=1, sleep=no_sleep).send_bodies([make_body(0)])
    assert caught.value.status == status
    assert "Injected fault" in caught.value.message
    assert conn.stats()["requests"] == {str(status): 1}


def test_disabled_device_not_retried_and_named(conn: Emulator) -> None:
    """423 quarantines the device: not retried, named with its dots once the rest is sent."""
    conn.fail_next(1, 423)
    with pytest.raises(DevicesDisabledError) as caught:
        BulkDotsHook(max_in_flight=1, sleep=no_sleep).send_bodies([make_body(0)])
    assert caught.value.devices == {"dev-0": 10}
    assert "dev-0" in str(caught.value)
    assert conn.stats()["requests"] == {"423": 1}


def test_wrong_token_carries_the_api_code_and_message(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_connection(monkeypatch, emu.url, token="BBFF-wrong-token-000000", rate_limit=0)
    with pytest.raises(AuthenticationError) as caught:
        BulkDotsHook(sleep=no_sleep).send_bodies(make_bodies(5))
    assert (caught.value.status, caught.value.code) == (401, 401002)
    assert caught.value.message == "Incorrect authentication credentials."
    assert caught.value.summary is not None
    assert caught.value.summary.bodies == 0


def test_fatal_error_stops_and_keeps_what_was_acknowledged(conn: Emulator) -> None:
    acknowledged: list[int] = []
    hook = BulkDotsHook(max_in_flight=1, sleep=no_sleep)

    def source() -> Iterator[Body]:
        for body in make_bodies(20):
            if body.seq == 5:
                conn.fail_next(1, 402)
            yield body

    with pytest.raises(PaymentRequiredError) as caught:
        hook.send(source(), lambda body, result: acknowledged.append(body.seq))
    stored = {dot["device"] for dot in conn.dots()}
    assert stored == {f"dev-{seq}" for seq in acknowledged}
    assert len(acknowledged) < 20
    assert caught.value.summary is not None
    assert caught.value.summary.bodies == len(acknowledged)


# -- retries ----------------------------------------------------------------------------


def test_5xx_retried_then_delivered(conn: Emulator) -> None:
    waits: list[float] = []
    conn.fail_next(3, 503)
    summary = BulkDotsHook(max_in_flight=1, sleep=waits.append).send([make_body(0)])
    assert summary.retries == 3 and summary.bodies == 1
    assert len(waits) == 3 and all(w > 0 for w in waits)
    assert waits[2] > waits[0] / 2, "backoff grows"
    _assert_stored_once(conn, 10)


def test_429_honours_retry_after(conn: Emulator) -> None:
    waits: list[float] = []
    conn.set_faults(Faults(burst_429=2))
    summary = BulkDotsHook(max_in_flight=1, sleep=waits.append).send([make_body(0)])
    assert summary.throttled == 2
    assert len([w for w in waits if w >= 1.0]) >= 2, "Retry-After: 1 honoured"
    _assert_stored_once(conn, 10)


def test_retries_exhausted_by_count(conn: Emulator) -> None:
    conn.fail_next(10, 502)
    with pytest.raises(BulkDotsDeliveryError) as caught:
        BulkDotsHook(max_in_flight=1, max_retries=2, sleep=no_sleep).send_bodies([make_body(0)])
    assert caught.value.status == 502
    assert caught.value.attempts == 3
    assert caught.value.summary is not None and caught.value.summary.requests == 3
    assert "gave up after 2 retries" in str(caught.value)


def test_retries_exhausted_by_total_time(conn: Emulator) -> None:
    conn.fail_next(10, 500)
    hook = BulkDotsHook(max_in_flight=1, max_retry_seconds=0.1, sleep=no_sleep)
    with pytest.raises(BulkDotsDeliveryError, match="gave up after 0 retries"):
        hook.send_bodies([make_body(0)])


def test_connection_refused_is_retried_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(monkeypatch, f"http://127.0.0.1:{free_port()}", rate_limit=0, max_retries=2)
    with pytest.raises(BulkDotsDeliveryError, match="cannot connect") as caught:
        BulkDotsHook(sleep=no_sleep).send_bodies([make_body(0)])
    assert caught.value.summary is not None
    assert caught.value.summary.statuses["connect_error"] == 3
    assert caught.value.summary.lost_replies == 0


def test_server_down_midway(conn: Emulator) -> None:
    conn.set_faults(Faults(down_after=5))
    acknowledged: list[int] = []
    with pytest.raises(BulkDotsDeliveryError):
        BulkDotsHook(max_in_flight=1, max_retries=2, sleep=no_sleep).send(
            make_bodies(10), lambda body, result: acknowledged.append(body.seq)
        )
    assert acknowledged == [0, 1, 2, 3, 4]


# -- splitting --------------------------------------------------------------------------


def test_413_splits_and_loses_nothing(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # Its own emulator, with a limit below the Hook's: the API's limit may be lower than said.
    with start_emulator(token=TOKEN, rate_limit=0, max_body_bytes=2_000) as small:
        set_connection(monkeypatch, small.url, rate_limit=0)
        big = make_body(0, dots=200)
        assert 2_000 < big.size <= 10_000
        summary = BulkDotsHook(sleep=no_sleep).send([big, make_body(1)])
        assert summary.statuses["413"] >= 1
        assert summary.splits >= 1
        assert summary.bodies == 2 and summary.dots == 210
        _assert_stored_once(small, 210)
    assert "set too high" in capfd.readouterr().out


def test_too_large_for_max_body_bytes_is_split_before_sending(conn: Emulator) -> None:
    summary = BulkDotsHook(max_body_bytes=1000, sleep=no_sleep).send([make_body(0, dots=100)])
    assert "413" not in summary.statuses
    assert conn.stats()["largest_body"] <= 1000
    _assert_stored_once(conn, 100)


def test_single_dot_over_the_limit_is_an_error(conn: Emulator) -> None:
    lone = make_body(0, dots=1, device="d" * 100)
    assert lone.size > 128
    with pytest.raises(BodyTooLargeError, match="single dot"):
        BulkDotsHook(max_body_bytes=128, sleep=no_sleep).send_bodies([lone])
    assert conn.stats()["requests"] == {}


def test_400_isolates_the_offending_dots(conn: Emulator) -> None:
    bodies = [make_body(0, dots=40, bad=(3, 30)), make_body(1)]
    results: dict[int, SendResult] = {}
    summary = BulkDotsHook(sleep=no_sleep).send(
        bodies, lambda body, result: results.__setitem__(body.seq, result)
    )
    assert [(d.device, d.variable, d.value) for d in summary.refused] == [
        ("dev-0", "v3", "oops"),
        ("dev-0", "v0", "oops"),
    ]
    rejected = summary.refused[0]
    assert (rejected.status, rejected.code, rejected.message) == (400, 400001, "Validation Error.")
    assert "must be a number" in str(rejected.detail)
    assert rejected.timestamp == 1_700_000_000_003
    assert summary.dots == 48
    assert results[0].acknowledged and len(results[0].task_ids) > 1
    _assert_stored_once(conn, 48)


def test_send_bodies_raises_after_sending_the_rest(conn: Emulator) -> None:
    with pytest.raises(RefusedDotsError) as caught:
        BulkDotsHook(sleep=no_sleep).send_bodies([make_body(0, dots=8, bad=(7,)), make_body(1)])
    assert len(caught.value.refused) == 1
    assert len(caught.value.task_ids) >= 2
    _assert_stored_once(conn, 17)


# -- lost replies -------------------------------------------------------------------


def test_dropped_replies_are_resent_and_counted(conn: Emulator) -> None:
    conn.drop_next(3)  # the first body's reply, three times over
    summary = BulkDotsHook(max_in_flight=1, sleep=no_sleep).send(make_bodies(10))
    stats = conn.stats()
    assert stats["unique_dots"] == 100
    assert stats["duplicates"] == 30 == summary.possible_duplicate_dots
    assert summary.lost_replies == 3 and summary.possible_duplicate_bodies == 1
    assert summary.bodies == 10


def test_dropped_replies_not_resent_when_configured(conn: Emulator) -> None:
    conn.drop_next(1)
    results: list[SendResult] = []
    hook = BulkDotsHook(max_in_flight=1, resend_lost_replies=False, sleep=no_sleep)
    summary = hook.send(make_bodies(4), lambda body, result: results.append(result))
    assert [r.outcome for r in results] == ["lost_reply", "sent", "sent", "sent"]
    assert (summary.lost_reply_bodies, summary.lost_reply_dots) == (1, 10)
    assert conn.stats()["duplicates"] == 0
    conn.drop_next(1)
    with pytest.raises(BulkDotsDeliveryError, match="lost reply"):
        hook.send_bodies([make_body(9)])


def test_read_timeout_is_an_unknown_outcome(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its own emulator: the slow requests are stored after the client gave up on them.
    with start_emulator(token=TOKEN, rate_limit=0, faults=Faults(latency_s=0.3)) as slow:
        set_connection(monkeypatch, slow.url, rate_limit=0)
        hook = BulkDotsHook(max_in_flight=1, timeout=0.1, max_retries=1, sleep=no_sleep)
        with pytest.raises(BulkDotsDeliveryError, match="reply lost") as caught:
            hook.send_bodies([make_body(0)])
    assert caught.value.summary is not None
    assert caught.value.summary.lost_replies == 2
    assert caught.value.summary.possible_duplicate_dots == 10


def test_every_fault_at_once_stores_each_dot(conn: Emulator) -> None:
    conn.set_faults(Faults(error_rate=0.2, drop_response_rate=0.1, burst_429=3, seed=7))
    summary = BulkDotsHook(max_in_flight=4, max_retries=20, sleep=no_sleep).send(make_bodies(60))
    stats = conn.stats()
    assert stats["unique_dots"] == 600, "nothing lost"
    assert stats["duplicates"] <= summary.possible_duplicate_dots
    assert summary.lost_replies >= 1 and summary.retries > summary.lost_replies
    assert summary.bodies == 60


def test_5xx_faults_store_each_dot_exactly_once(conn: Emulator) -> None:
    conn.set_faults(Faults(error_rate=0.3, seed=3))
    BulkDotsHook(max_in_flight=4, max_retries=20, sleep=no_sleep).send_bodies(make_bodies(50))
    _assert_stored_once(conn, 500)


# -- the pace ---------------------------------------------------------------------------


def test_rate_limit_held(conn: Emulator) -> None:
    """Requests are paced, never bursting: at 40/s against an API allowing 50/s, none is
    refused. (The margin absorbs the scheduling jitter of a loaded 2-core machine; how close
    to the limit the pace holds is measured by bench/bench_send.py, not here.)"""
    conn.set_rate_limit(50)
    hook = BulkDotsHook(rate_limit=40, max_in_flight=8)
    started = time.monotonic()
    summary = hook.send(make_bodies(60))
    elapsed = time.monotonic() - started
    assert conn.stats()["requests"] == {"200": 60}, "no 429"
    assert elapsed >= 59 / 40, "never faster than the rate (59 intervals between 60 turns)"
    assert summary.rate <= 40


# -- the token --------------------------------------------------------------------------


def test_token_registered_with_the_masker(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.log import redact

    token = f"BBFF-masker-{uuid.uuid4().hex}"  # seen by no other test
    set_connection(monkeypatch, emu.url, token=token)
    assert token in str(redact(f"token={token}")), "unknown to the masker before"
    assert BulkDotsHook().settings.base_url == emu.url
    assert token not in str(redact(f"token={token}")), "masked once the connection is read"


def test_token_never_shown(
    emu: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    set_connection(monkeypatch, emu.url, rate_limit=0)
    hook = BulkDotsHook(max_retries=1, sleep=no_sleep)
    texts: list[str] = [repr(hook), repr(hook.get_sender().auth), repr(hook.settings)]
    with caplog.at_level(logging.DEBUG):
        emu.fail_next(1, 403)
        with pytest.raises(AuthenticationError) as caught:
            hook.send_bodies([make_body(0)])
        texts.append(str(caught.value))
        emu.drop_next(2)
        with pytest.raises(BulkDotsDeliveryError) as lost:
            hook.send_bodies([make_body(1)])
        texts.append(str(lost.value))
        texts.append(str(hook.send([make_body(2, bad=(1,))]).as_dict()))
    captured = capfd.readouterr()
    assert "Reply lost" in captured.out, "the Hook's log lines are captured"
    texts += [caplog.text, captured.out, captured.err]
    for text in texts:
        assert TOKEN not in text


def test_token_in_query_kept_out_of_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    set_connection(
        monkeypatch,
        f"http://127.0.0.1:{free_port()}",
        rate_limit=0,
        max_retries=0,
        auth_in_query=True,
    )
    with pytest.raises(BulkDotsDeliveryError) as caught:
        BulkDotsHook(sleep=no_sleep).send_bodies([make_body(0)])
    assert "token=***" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


@pytest.mark.parametrize(
    "token", ["BBFF-with space", "BBFF-a+b/c%d", "BBFF-caf\u00e9 au lait", "BBFF-x~y z"]
)
def test_a_query_token_is_redacted_in_every_url_spelling(
    monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """requests writes a space as '+' in the query: that spelling leaked in a ConnectionError."""
    from urllib.parse import quote_plus

    from airflow.sdk.log import redact

    set_connection(
        monkeypatch,
        f"http://127.0.0.1:{free_port()}",
        token=token,
        rate_limit=0,
        max_retries=0,
        auth_in_query=True,
    )
    with pytest.raises(BulkDotsDeliveryError) as caught:
        BulkDotsHook(sleep=no_sleep).send_bodies([make_body(0)])
    text = str(caught.value)
    assert "token=***" in text, text
    for spelling in {token, quote(token, safe=""), quote(token), quote_plus(token)}:
        assert spelling not in text
        assert spelling not in str(redact(f"url ?token={spelling}")), "Airflow's masker too"


def test_an_unsafe_rate_state_dir_is_refused_by_name_before_any_request(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    state = tmp_path / "rate"
    state.mkdir()
    state.chmod(0o777)  # anyone could swap the state file for a symlink
    monkeypatch.setenv("AIRFLOW__BULKDOTS__RATE_STATE_DIR", str(state))
    set_connection(monkeypatch, emu.url, rate_limit=4)
    with pytest.raises(ConfigurationError) as refused:
        BulkDotsHook(sleep=no_sleep).send_bodies([make_body(0)])
    assert str(state) in str(refused.value) and "writable by group or others" in str(refused.value)
    assert emu.dots() == []


# -- records in the endpoint's shape ------------------------------------------------------


def _records(devices: int, objects: int) -> list[dict[str, object]]:
    return [
        {
            "device": f"rec-{d}",
            "timestamp": 1_600_000_000_000,
            "values": [
                {
                    "temperature": 20.5 + i,
                    "humidity": {"value": i, "context": {"k": "v"}},
                    "timestamp": 1_600_000_000_000 + i * 1000,
                }
                for i in range(objects)
            ],
        }
        for d in range(devices)
    ]


def test_send_dots_chunks_and_sends(conn: Emulator) -> None:
    records = _records(devices=5, objects=200)
    task_ids = BulkDotsHook(max_body_bytes=4000, sleep=no_sleep).send_dots(records)
    stats = conn.stats()
    assert len(task_ids) == stats["bodies"] > 5
    assert stats["largest_body"] <= 4000
    _assert_stored_once(conn, 5 * 200 * 2)
    assert records == _records(devices=5, objects=200), "inputs come back unchanged"
    humidity = {
        d["timestamp"]: d
        for d in conn.dots()
        if (d["device"], d["variable"]) == ("rec-0", "humidity")
    }
    assert humidity[1_600_000_003_000]["value"] == 3
    assert humidity[1_600_000_003_000]["context"] == {"k": "v"}


def test_send_dots_checks_everything_before_sending(conn: Emulator) -> None:
    from airflow_provider_bulkdots.dots import InvalidRowsError

    records = [*_records(devices=3, objects=50), {"device": "bad device", "values": []}]
    with pytest.raises(InvalidRowsError):
        BulkDotsHook(sleep=no_sleep).send_dots(records)
    assert conn.stats()["requests"] == {}
    task_ids = BulkDotsHook(sleep=no_sleep).send_dots(records, on_invalid="skip")
    assert task_ids
    _assert_stored_once(conn, 3 * 50 * 2)


def test_progress_logged_at_a_pace_not_per_request(
    conn: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    capfd.readouterr()
    BulkDotsHook(sleep=no_sleep, progress_interval=3600).send(make_bodies(30))
    out = capfd.readouterr().out
    assert "Progress:" not in out
    assert out.count("Delivered: 30 bodies, 300 dots; 30 requests in ") == 1
    conn.set_faults(Faults(latency_s=0.05))
    BulkDotsHook(max_in_flight=1, progress_interval=0.1).send(make_bodies(6))
    progress = [line for line in capfd.readouterr().out.splitlines() if "Progress:" in line]
    assert 1 <= len(progress) < 6
    assert "requests/s (no limit)" in progress[0] and "retried" in progress[0]
