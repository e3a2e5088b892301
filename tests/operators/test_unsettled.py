"""What the operator does with dots the API refused and replies that were lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_bulkdots.delivery.results import DeliverySummary, RejectedDot
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.operators.rejected import RejectedRowsWriter

REFUSED = RejectedDot(
    body_id="000003-abc",
    device="press-1",
    variable="temperature",
    timestamp=1_700_000_000_000,
    value=21.5,
    status=400,
    code=400001,
    message="Validation Error.",
    detail="item 0, values[0], variable 'temperature': value must be a number",
)


def operator(on_invalid: str) -> BulkDotsOperator:
    return BulkDotsOperator(task_id="send", data=[], on_invalid=on_invalid)


def test_refused_dots_fail_the_task_without_retry_when_asked_to_fail() -> None:
    summary = DeliverySummary(rejected=[REFUSED])

    with pytest.raises(AirflowFailException, match="the API refused 1 dot") as raised:
        operator("fail")._fail_on_unsettled(summary)

    assert "press-1/temperature at 1700000000000: Validation Error." in str(raised.value)


def test_refused_dots_are_only_reported_when_skipping() -> None:
    operator("skip")._fail_on_unsettled(DeliverySummary(rejected=[REFUSED]))


def test_lost_replies_fail_the_task_without_retry_in_either_mode() -> None:
    summary = DeliverySummary(unacknowledged_bodies=2, unacknowledged_dots=900)

    for mode in ("fail", "skip"):
        with pytest.raises(AirflowFailException, match="2 body\\(ies\\) with 900 dots"):
            operator(mode)._fail_on_unsettled(summary)


def test_refused_dots_go_to_the_rejected_file_with_the_apis_words(tmp_path: Path) -> None:
    path = tmp_path / "out" / "rejected.jsonl"

    with RejectedRowsWriter(str(path)) as writer:
        writer.write_api_rejection(REFUSED)

    (line,) = path.read_text().splitlines()
    record = json.loads(line)
    assert record["device"] == "press-1"
    assert record["variable"] == "temperature"
    assert record["timestamp"] == 1_700_000_000_000
    assert record["rule"] == "refused by the API: Validation Error."
    assert record["detail"] == REFUSED.detail
