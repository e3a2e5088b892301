"""204, 420 and 423 read as Ubidots' response-codes page defines them, against the emulator.

204 "one of the fields is incorrect and the request is not saved": refused, isolated by
splitting like a 400. 420 "you have exceeded your API limits": the plan's quota, never sent
again in place (deferred to its ``Retry-After`` or failed naming the plan limit). 423: that
device is disabled; every other device is delivered, and a retry sends only what is left.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import msgspec
import pytest

from airflow_provider_bulkdots.delivery.pacing.token import WaitTooLong
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.emulator import Emulator, Faults
from airflow_provider_bulkdots.exceptions import (
    DevicesDisabledError,
    QuotaExceededError,
    RefusedDotsError,
)
from tests.delivery.exactly_once.test_exactly_once import Parts, assert_each_dot_once, run
from tests.delivery.exactly_once.test_ledger import MemoryStore
from tests.delivery.http.test_sender import sender

T0 = 1_700_000_000_000
DEVICES = ("dev-a", "dev-b", "dev-c")


def mixed_bodies(count: int, instants: int = 4) -> list[Body]:
    """Bodies holding every device of ``DEVICES``: ``instants`` dots of ``t`` and ``h`` each."""
    made = []
    for seq in range(count):
        records = [
            {
                "device": device,
                "timestamp": T0,
                "values": [
                    {"t": float(i), "h": float(seq), "timestamp": T0 + seq * 1000 + i}
                    for i in range(instants)
                ],
            }
            for device in DEVICES
        ]
        made.append(Body(seq, msgspec.json.encode(records), len(DEVICES) * instants * 2))
    return made


def stored_per_device(emu: Emulator) -> Counter[str]:
    return Counter(dot["device"] for dot in emu.dots())


def per_device(sent: list[Body], device: str) -> int:
    return sum(body.dot_count for body in sent) // len(DEVICES)


# -- 204: refused, isolated by splitting --------------------------------------------------


def test_a_204_refuses_only_the_dots_it_names_and_stores_the_rest(emu: Emulator) -> None:
    sent = mixed_bodies(2)
    emu.set_faults(Faults(not_saved=("dev-b/h",)))

    with pytest.raises(RefusedDotsError) as caught:
        sender(emu.url, token=emu.token).send_bodies(sent)

    refused = caught.value.refused
    assert {(dot.device, dot.variable, dot.status) for dot in refused} == {("dev-b", "h", 204)}
    assert len(refused) == 8  # 4 instants x 2 bodies, each alone
    assert "not saved" in refused[0].message
    stored = stored_per_device(emu)
    assert stored == {"dev-a": 16, "dev-b": 8, "dev-c": 16}
    assert emu.stats()["duplicates"] == 0


def test_a_204_settles_the_body_so_a_retry_sends_nothing(emu: Emulator) -> None:
    sent = mixed_bodies(3)
    store = MemoryStore()
    emu.set_faults(Faults(not_saved=("dev-c",)))

    first = run(emu, sent, store, delay=0)
    requests_after_first = emu.stats()["requests"]
    retry = run(emu, sent, store, delay=0)

    assert len(first.delivery.summary.refused) == 3 * 8
    assert retry.delivery.summary.requests == 0  # finished: never read back, never resent
    assert emu.stats()["requests"] == requests_after_first
    assert stored_per_device(emu) == {"dev-a": 24, "dev-b": 24}


# -- 420: the plan's quota, never retried in place ----------------------------------------


def test_a_420_fails_naming_the_plan_limit_without_retrying(emu: Emulator) -> None:
    emu.set_faults(Faults(quota_after=1, quota_retry_after=0))

    with pytest.raises(QuotaExceededError) as caught:
        sender(emu.url, token=emu.token, max_in_flight=1).send_bodies(mixed_bodies(3))

    error = caught.value
    assert error.status == 420 and error.retry_after is None
    assert "plan's API limit is exhausted" in str(error)
    assert "You have exceeded your API limits" in str(error)
    assert emu.stats()["requests"] == {"200": 1, "420": 1}  # once, not again in place
    assert stored_per_device(emu) == {"dev-a": 8, "dev-b": 8, "dev-c": 8}


def test_a_420_with_retry_after_stops_for_the_triggerer_and_the_retry_sends_the_rest(
    emu: Emulator,
) -> None:
    sent = mixed_bodies(4)
    store = MemoryStore()
    emu.set_faults(Faults(quota_after=2, quota_retry_after=3600))
    parts = Parts(emu, store, 0, max_in_flight=1)
    parts.sender.defer_over = 600.0

    with pytest.raises(WaitTooLong) as caught:
        parts.delivery.run(iter(sent))

    assert caught.value.seconds == 3600
    assert emu.stats()["requests"] == {"200": 2, "420": 1}
    emu.set_faults(Faults())  # the quota renewed
    retry = run(emu, sent, store, delay=0)
    assert_each_dot_once(emu, sent)
    assert retry.delivery.summary.requests == 2
    assert retry.delivery.counts.reconciled_bodies == 0  # a 420 stores nothing: no read-back


def test_a_420_is_not_a_429(emu: Emulator) -> None:
    emu.set_faults(Faults(quota_after=0, quota_retry_after=1))
    with pytest.raises(QuotaExceededError):
        sender(emu.url, token=emu.token, max_in_flight=1).send_bodies(mixed_bodies(1))
    assert emu.stats()["requests"] == {"420": 1}


# -- 423: that device quarantined, every other one delivered ------------------------------


def test_a_423_keeps_back_only_the_disabled_device(emu: Emulator) -> None:
    sent = mixed_bodies(5)
    emu.set_faults(Faults(disabled_devices=("dev-b",)))
    one = sender(emu.url, token=emu.token, max_in_flight=1)

    with pytest.raises(DevicesDisabledError) as caught:
        one.send_bodies(sent)

    assert caught.value.devices == {"dev-b": per_device(sent, "dev-b")}
    assert "dev-b (40 dots)" in str(caught.value)
    assert stored_per_device(emu) == {"dev-a": 40, "dev-c": 40}
    # The first body finds dev-b out by halving (24 dots: 24, 12, 6, 3 and 1 dots answered
    # 423); later bodies are split before any request, so no other 423 comes back.
    statuses = emu.stats()["requests"]
    assert statuses["423"] == 5
    assert set(statuses) == {"200", "423"}


def test_a_retry_after_a_423_sends_only_the_disabled_device(emu: Emulator) -> None:
    sent = mixed_bodies(4)
    store = MemoryStore()
    emu.set_faults(Faults(disabled_devices=("dev-a",)))

    first = run(emu, sent, store, delay=0)

    assert first.delivery.summary.quarantined == {"dev-a": per_device(sent, "dev-a")}
    assert stored_per_device(emu) == {"dev-b": 32, "dev-c": 32}
    emu.set_faults(Faults())  # the device is enabled again
    retry = run(emu, sent, store, delay=0)

    assert_each_dot_once(emu, sent)
    assert stored_per_device(emu) == {"dev-a": 32, "dev-b": 32, "dev-c": 32}
    assert retry.delivery.counts.resent_dots == 32  # only dev-a's dots went out again
    assert not retry.delivery.summary.quarantined


def test_a_body_of_only_disabled_devices_is_withdrawn_and_sent_whole_later(
    emu: Emulator,
) -> None:
    values = [{"t": 1.0}, {"t": 2.0, "timestamp": T0 + 1}]
    records = [{"device": "dev-x", "timestamp": T0, "values": values}]
    sent = [Body(0, msgspec.json.encode(records), 2)]
    store = MemoryStore()
    emu.set_faults(Faults(disabled_devices=("dev-x",)))
    run(emu, sent, store, delay=0)
    emu.set_faults(Faults())

    retry = run(emu, sent, store, delay=0)

    assert_each_dot_once(emu, sent)
    assert retry.delivery.counts.read_requests == 0  # nothing stored before: no read-back
    assert retry.delivery.summary.requests == 1


def test_emulator_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="disabled_devices"):
        Faults(disabled_devices=("",))
    with pytest.raises(ValueError, match="quota_after"):
        Faults(quota_after=-1)
    faults: dict[str, Any] = Faults(not_saved=("a/b",), disabled_devices=("c",)).to_dict()
    assert Faults.from_dict(faults) == Faults(not_saved=("a/b",), disabled_devices=("c",))
