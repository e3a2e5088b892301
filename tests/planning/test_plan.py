"""The plan of a load, pure: the real pipeline's counts, time at the rate, where dots go."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.planning import make_plan
from tests.dots.test_properties import PROPERTY_SETTINGS, wide_input

T0 = 1_704_067_200_000


def rows(count: int) -> list[dict[str, Any]]:
    return [
        {"device": f"d{index % 3}", "timestamp": T0 + index * 1000, "t": index, "h": 40 + index}
        for index in range(count)
    ]


def test_the_counts_are_those_of_the_bodies_a_run_builds() -> None:
    options = ReshapeOptions(max_body_bytes=1_000)
    report = Report()
    bodies = list(build_bodies(rows(500), options, report))

    plan = make_plan(rows(500), options, rate_limit=4.0, shared_by=3)

    assert (plan.rows, plan.dots, plan.bodies, plan.bytes) == (
        500,
        1000,
        len(bodies),
        sum(body.size for body in bodies),
    )
    assert plan.requests == len(bodies)
    assert plan.seconds_at_rate == pytest.approx(len(bodies) / 4.0, abs=0.001)
    assert plan.seconds_when_shared == pytest.approx(3 * len(bodies) / 4.0, abs=0.001)
    assert plan.first_body == bodies[0].payload
    assert (plan.devices, plan.variables, len(plan.series)) == (3, 2, 6)
    assert plan.span == (T0, T0 + 499_000)
    assert plan.series[("d1", "t")] == (T0 + 1000, T0 + 499_000)
    shown = plan.as_dict()
    assert shown["start"] == "2024-01-01T00:00:00.000Z"
    assert shown["end"] == "2024-01-01T00:08:19.000Z"
    msgspec.json.encode(shown)  # JSON-ready, for XCom


def test_invalid_rows_are_named_and_fail_decides_the_verdict() -> None:
    data = rows(10)
    data[3]["t"] = "warm"
    data[7]["timestamp"] = "yesterday"

    failing = make_plan(data, ReshapeOptions(), rate_limit=4.0)
    skipping = make_plan(data, ReshapeOptions(on_invalid="skip"), rate_limit=4.0)

    assert failing.would_fail and not skipping.would_fail
    for plan in (failing, skipping):
        assert plan.invalid_rows == 2
        assert plan.invalid_reasons[0].startswith("row 4, field 't', value 'warm'")
        assert plan.invalid_reasons[1].startswith("row 8, field 'timestamp'")
    assert "the run would fail, sending nothing" in "\n".join(failing.describe())
    assert skipping.dots == 2 * 8


def test_no_rate_limit_means_no_time_and_an_empty_input_an_empty_plan() -> None:
    plan = make_plan([], ReshapeOptions(), rate_limit=0)

    assert (plan.dots, plan.bodies, plan.requests, plan.seconds_at_rate) == (0, 0, 0, None)
    assert plan.span is None and plan.first_body is None
    assert plan.as_dict()["start"] is None


def test_shared_by_must_be_a_positive_count() -> None:
    with pytest.raises(ValueError, match="shared_by"):
        make_plan(rows(1), ReshapeOptions(), rate_limit=4.0, shared_by=0)


@PROPERTY_SETTINGS
@given(wide_input())
def test_the_plan_is_the_reference_model_s_counts_and_span(
    case: tuple[list[dict[str, Any]], ReshapeOptions, Any],
) -> None:
    rows, options, expected = case
    bodies = list(build_bodies(rows, options))

    plan = make_plan(rows, options, rate_limit=4.0)

    assert (plan.dots, plan.bodies) == (len(expected.dots), len(bodies))
    assert plan.bytes == sum(body.size for body in bodies)
    assert plan.invalid_rows == len(expected.bad_rows)
    assert plan.devices == len({dot[0] for dot in expected.dots})
    assert plan.variables == len({dot[1] for dot in expected.dots})
    times = [dot[2] for dot in expected.dots]
    assert plan.span == ((min(times), max(times)) if times else None)
