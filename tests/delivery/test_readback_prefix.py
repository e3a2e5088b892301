"""Reads go where writes go: an API behind a path prefix (the ``endpoint`` extra) is read back
under that prefix, and a 404 on a read is never taken for an empty series unless the API is
known to answer there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_bulkdots.delivery.exactly_once.delivery import ExactlyOnceDelivery
from airflow_provider_bulkdots.delivery.exactly_once.existing import (
    collect_spans,
    drop_existing,
    read_existing,
)
from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.exactly_once.reconcile import Reconciler
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.http.transport import make_session
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer
from airflow_provider_bulkdots.delivery.settings import DEFAULT_ENDPOINT, resolve_settings
from airflow_provider_bulkdots.emulator import Emulator
from airflow_provider_bulkdots.exceptions import BulkDotsDeliveryError
from tests.delivery.exactly_once.test_exactly_once import Parts, assert_each_dot_once, bodies
from tests.delivery.prefix_proxy import Gateway, prefix_gateway

PREFIX = "/ubidots"


@pytest.fixture
def gateway(emu: Emulator) -> Iterator[Gateway]:
    with prefix_gateway(emu.url, PREFIX) as served:
        yield served


def parts_through(gateway: Gateway, token: str, endpoint: str, **extras: object) -> Parts:
    """The delivery's parts as the operator composes them, for a connection whose host is
    the gateway and whose ``endpoint`` extra is ``endpoint``."""
    parts = Parts.__new__(Parts)
    settings = resolve_settings(
        gateway.url,
        extras={"endpoint": endpoint, **extras},
        overrides={"rate_limit": 0, "max_in_flight": 4, "resend_lost_replies": False},
    )
    session = make_session(settings.max_in_flight)
    auth, limiter = TokenAuth(token), TokenPacer(0)
    parts.sender = Sender(session, auth, settings, limiter=limiter)
    parts.reader = SeriesReader(session, auth, settings, limiter)
    reconciler = Reconciler(parts.reader, delay=0, timeout=60)
    parts.delivery = ExactlyOnceDelivery(parts.sender, None, reconciler)
    return parts


def test_skip_existing_behind_a_path_prefix_reads_there_and_sends_nothing_twice(
    emu: Emulator, gateway: Gateway
) -> None:
    stored = bodies(10)
    first = parts_through(gateway, emu.token, PREFIX + DEFAULT_ENDPOINT)
    first.delivery.run(iter(stored))  # an earlier run stored these through the gateway
    again = parts_through(gateway, emu.token, PREFIX + DEFAULT_ENDPOINT)
    spans: dict[tuple[str, str], tuple[int, int]] = {}
    held = list(collect_spans(stored, spans))
    gateway.paths.clear()

    existing = read_existing(again.reader, spans)
    skipped = [0]
    again.delivery.run(drop_existing(held, existing, skipped))

    assert_each_dot_once(emu, stored)
    assert skipped[0] == sum(body.dot_count for body in stored)
    assert all(path.startswith(PREFIX + "/api/v1.6/devices/") for path in gateway.paths)


def test_a_series_that_does_not_exist_is_empty_once_the_api_answers_under_the_prefix(
    emu: Emulator, gateway: Gateway
) -> None:
    reader = parts_through(gateway, emu.token, PREFIX + DEFAULT_ENDPOINT).reader

    assert reader.timestamps("never-written", "v0", 0, 2_000_000_000_000) == set()
    assert reader.timestamps("never-written", "v1", 0, 2_000_000_000_000) == set()
    # the series' 404, the device list answering under the prefix (once), the second 404
    assert gateway.paths == [
        f"{PREFIX}/api/v1.6/devices/never-written/v0/values/",
        f"{PREFIX}/api/v2.0/devices/",
        f"{PREFIX}/api/v1.6/devices/never-written/v1/values/",
    ]


def test_a_404_where_the_api_does_not_answer_is_an_error_naming_the_path_not_the_token(
    emu: Emulator, gateway: Gateway
) -> None:
    reader = parts_through(gateway, emu.token, "/gw/bulk", auth_in_query=True).reader

    with pytest.raises(BulkDotsDeliveryError) as raised:
        reader.timestamps("dev-0", "v0", 0, 2_000_000_000_000)

    message = str(raised.value)
    assert "reading back /api/v1.6/devices/dev-0/v0/values/ answered 404" in message
    assert "/api/v2.0/devices/ answered 404" in message
    assert "'endpoint' extra" in message
    assert emu.token not in message and "token=" not in message
