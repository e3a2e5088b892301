"""Splitting a payload in two by dots: each dot exactly once, with its effective timestamp."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.dots.payload import (
    CannotSplitError,
    count_dots,
    iter_dots,
    split_payload,
)

DOCS_EXAMPLE = (
    b'[{"device":"first-device","timestamp":1588864653968,"values":[{"temperature":24,'
    b'"humidity":88},{"temperature":21,"humidity":86,"timestamp":1588864653900}]},'
    b'{"device":"second-device","timestamp":1588864653968,"values":[{"temperature":45,'
    b'"humidity":{"value":2,"timestamp":1588864653900}}]}]'
)


def _dots(payload: bytes) -> list[tuple[str, str, Any, Any]]:
    return [(d.device, d.variable, d.timestamp, d.dot) for d in iter_dots(payload)]


def test_docs_example_splits_into_halves_keeping_timestamps() -> None:
    original = DOCS_EXAMPLE
    first, second = split_payload(original)
    assert count_dots(original) == 6
    assert (count_dots(first), count_dots(second)) == (3, 3)
    assert _dots(first) + _dots(second) == _dots(original)
    assert msgspec.json.decode(first) == [
        {
            "device": "first-device",
            "timestamp": 1588864653968,
            "values": [
                {"temperature": 24, "humidity": 88},
                {"temperature": 21, "timestamp": 1588864653900},
            ],
        }
    ]
    assert original == DOCS_EXAMPLE


def test_effective_timestamps() -> None:
    stamps = {(d, v): t for d, v, t, _ in _dots(DOCS_EXAMPLE)}
    assert stamps[("first-device", "temperature")] in (1588864653968, 1588864653900)
    assert stamps[("second-device", "humidity")] == 1588864653900
    assert stamps[("second-device", "temperature")] == 1588864653968


def test_output_is_compact() -> None:
    first, second = split_payload(
        b'[ {"device": "d", "timestamp": 1, "values": [{"a": 1, "b": 2}]} ]'
    )
    assert first == b'[{"device":"d","timestamp":1,"values":[{"a":1}]}]'
    assert second == b'[{"device":"d","timestamp":1,"values":[{"b":2}]}]'


@pytest.mark.parametrize(
    "payload",
    [
        b'[{"device":"d","timestamp":1,"values":[{"a":1}]}]',
        b'[{"device":"d","timestamp":1,"values":[{"timestamp":2}]}]',
        b"[]",
    ],
)
def test_fewer_than_two_dots_cannot_split(payload: bytes) -> None:
    with pytest.raises(CannotSplitError, match="cannot be split"):
        split_payload(payload)


@pytest.mark.parametrize("payload", [b"{", b'{"device":"d"}', b'[{"device":"d","values":3}]'])
def test_not_a_payload(payload: bytes) -> None:
    with pytest.raises(CannotSplitError):
        split_payload(payload)


labels = st.text("abcxyz-_0123456789", min_size=1, max_size=6).filter(lambda s: s != "timestamp")
stamps = st.integers(0, 2**45)
dot = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.fixed_dictionaries({"value": st.integers(0, 9)}, optional={"timestamp": stamps}),
)


@st.composite
def value_objects(draw: st.DrawFn) -> dict[str, Any]:
    obj: dict[str, Any] = draw(st.dictionaries(labels, dot, max_size=5))
    if draw(st.booleans()):
        obj["timestamp"] = draw(stamps)
    return obj


records = st.lists(
    st.fixed_dictionaries(
        {"device": labels, "timestamp": stamps, "values": st.lists(value_objects(), max_size=4)}
    ),
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(records)
def test_every_dot_exactly_once_in_order(data: list[dict[str, Any]]) -> None:
    payload = msgspec.json.encode(data)
    total = count_dots(payload)
    if total < 2:
        with pytest.raises(CannotSplitError):
            split_payload(payload)
        return
    first, second = split_payload(payload)
    assert count_dots(first) == (total + 1) // 2
    assert count_dots(second) == total // 2
    assert _dots(first) + _dots(second) == _dots(payload)
    assert len(first) < len(payload) and len(second) < len(payload)
    for half in (first, second):
        for record in msgspec.json.decode(half):
            assert record["values"], "no empty record"


def test_ids_and_parts_are_built_and_read_in_one_place() -> None:
    from airflow_provider_bulkdots.dots.body import Body
    from airflow_provider_bulkdots.dots.payload import (
        body_id,
        half_path,
        is_half,
        is_resend,
        resend_base,
        resend_id,
    )

    payload = b'[{"device":"d","timestamp":1,"values":[{"v":1}]}]'
    assert Body(7, payload, 1).body_id == body_id(7, payload)
    assert body_id(7, payload).startswith("000007-") and len(body_id(7, payload)) == 23
    resend = resend_id(body_id(7, payload), 2)
    assert resend.endswith("~r2") and is_resend(resend) and not is_resend(body_id(7, payload))
    assert resend_base(resend) == body_id(7, payload)
    assert half_path(half_path("", 0), 1) == "01" and is_half("01")
    assert not is_half("*") and not is_half("-")
