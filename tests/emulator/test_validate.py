"""The schema check and JSON parsing, alone, plus a fuzz test."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_bulkdots.emulator.validate import (
    Dot,
    JSONParseError,
    SchemaError,
    parse_body,
    validate,
)
from tests.emulator.conftest import EXAMPLE


def test_example_gives_effective_timestamps() -> None:
    assert validate(EXAMPLE) == [
        Dot("first-device", "temperature", 1588864653968, 24.0, None),
        Dot("first-device", "humidity", 1588864653968, 88.0, None),
        Dot("first-device", "temperature", 1588864653900, 21.0, None),
        Dot("first-device", "humidity", 1588864653900, 86.0, None),
        Dot("second-device", "temperature", 1588864653968, 45.0, None),
        Dot("second-device", "humidity", 1588864653900, 2.0, None),
    ]


def test_dot_timestamp_beats_value_object_beats_record() -> None:
    body = [
        {
            "device": "d",
            "timestamp": 1,
            "values": [{"timestamp": 2, "a": 1, "b": {"value": 2, "timestamp": 3, "context": {}}}],
        }
    ]
    assert [d.timestamp for d in validate(body)] == [2, 3]


def test_spec_parse_error_message_is_pythons() -> None:
    body = b'[\n   {\n    "device": "first-device-1\tx"}]'
    with pytest.raises(JSONParseError) as info:
        parse_body(body)
    # Exactly the example in the endpoint's documentation.
    assert info.value.detail == (
        "JSON parse error - Invalid control character at: line 3 column 30 (char 36)"
    )


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity"])
def test_nan_literals_are_parse_errors(literal: bytes) -> None:
    with pytest.raises(JSONParseError, match="Out of range float"):
        parse_body(b'[{"device":"d","timestamp":1,"values":[{"t":' + literal + b"}]}]")


def _item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"device": "d", "timestamp": 1, "values": [{"t": 1}]}
    item.update(overrides)
    return item


BAD = [
    ({"not": "a list"}, "body must be a JSON list of objects"),
    ([], "body must not be an empty list"),
    ([1], "item 0: must be an object"),
    ([_item(), {"timestamp": 1, "values": [{"t": 1}]}], "item 1, device: this field is required"),
    ([{"device": "d", "values": [{"t": 1}]}], "item 0, timestamp: this field is required"),
    ([{"device": "d", "timestamp": 1}], "item 0, values: this field is required"),
    ([_item(extra=1)], "item 0: unknown key 'extra'"),
    ([_item(device="a b")], "item 0, device: label must be 1 to 100 characters"),
    ([_item(device="")], "item 0, device: label must be 1 to 100 characters"),
    ([_item(device="x" * 101)], "item 0, device: label must be 1 to 100 characters"),
    ([_item(device=5)], "item 0, device: label must be a string"),
    ([_item(timestamp=-1)], "item 0, timestamp must be a non-negative integer"),
    ([_item(timestamp=1.5)], "item 0, timestamp must be a non-negative integer"),
    ([_item(timestamp=True)], "item 0, timestamp must be a non-negative integer"),
    ([_item(timestamp="1")], "item 0, timestamp must be a non-negative integer"),
    ([_item(timestamp=10**20)], "item 0, timestamp must be a non-negative integer"),
    ([_item(values=[])], "item 0, values: must be a non-empty list"),
    ([_item(values={"t": 1})], "item 0, values: must be a non-empty list"),
    ([_item(values=[5])], "item 0, values[0]: must be an object"),
    ([_item(values=[{}])], "item 0, values[0]: must name at least one variable"),
    ([_item(values=[{"timestamp": 5}])], "item 0, values[0]: must name at least one variable"),
    ([_item(values=[{"t": 1, "timestamp": "x"}])], "item 0, values[0], timestamp must be"),
    (
        [_item(), _item(), _item(), _item(values=[{"t": 1}, {"t": 1}, {"humidity": "88"}])],
        "item 3, values[2], variable 'humidity': value must be a number",
    ),
    ([_item(values=[{"t": True}])], "variable 't': value must be a number"),
    ([_item(values=[{"t": None}])], "variable 't': value must be a number"),
    ([_item(values=[{"t": [1]}])], "variable 't': value must be a number"),
    ([_item(values=[{"t": 1e400}])], "variable 't': value must be a number"),
    ([_item(values=[{"t": 10**400}])], "variable 't': value must be a number"),
    ([_item(values=[{"a b": 1}])], "variable 'a b': label must be 1 to 100"),
    ([_item(values=[{"\ud800": 1}])], "label must be valid unicode"),
    ([_item(values=[{"t": {"timestamp": 1}}])], "variable 't': value is required"),
    ([_item(values=[{"t": {"value": "1"}}])], "variable 't': value must be a number"),
    ([_item(values=[{"t": {"value": 1, "unit": "C"}}])], "variable 't': unknown key 'unit'"),
    ([_item(values=[{"t": {"value": 1, "timestamp": -5}}])], "variable 't': timestamp must"),
    ([_item(values=[{"t": {"value": 1, "context": "x"}}])], "context must be an object"),
    (
        [_item(values=[{"t": {"value": 1, "context": {"s": "x" * 1100}}}])],
        "context is 1108 bytes encoded, at most 1024",
    ),
]


@pytest.mark.parametrize(("body", "detail"), BAD)
def test_bad_bodies_name_item_and_field(body: Any, detail: str) -> None:
    with pytest.raises(SchemaError) as info:
        validate(body)
    assert detail in info.value.detail


def test_context_up_to_one_kilobyte_is_kept() -> None:
    context = {"s": "x" * (1024 - len('{"s":""}'))}
    (dot,) = validate([_item(values=[{"t": {"value": 1.5, "context": context}}])])
    assert dot.context == context


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["device", "timestamp", "values", "value", "context", "t", "a b", ""])
            | st.text(max_size=4),
            children,
            max_size=4,
        )
    ),
    max_leaves=30,
)


def _near_valid() -> st.SearchStrategy[Any]:
    dot = json_values | st.fixed_dictionaries(
        {"value": json_values}, optional={"timestamp": json_values, "context": json_values}
    )
    group = st.dictionaries(st.sampled_from(["t", "h", "timestamp", "a b"]), dot, max_size=3)
    item = st.fixed_dictionaries(
        {"device": json_values | st.just("dev"), "timestamp": json_values | st.just(1)},
        optional={"values": st.lists(group, max_size=3) | json_values},
    )
    return st.lists(item | json_values, max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(json_values, _near_valid()))
def test_fuzz_validator_raises_only_its_own_error(payload: Any) -> None:
    try:
        dots = validate(payload)
    except SchemaError:
        return
    assert dots
    for dot in dots:
        assert isinstance(dot.value, float)
        assert json.dumps(dot.value, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_parser_raises_only_its_own_error(raw: bytes) -> None:
    try:
        payload = parse_body(raw)
    except JSONParseError as exc:
        assert exc.detail.startswith("JSON parse error - ")
        return
    with contextlib.suppress(SchemaError):
        validate(payload)
