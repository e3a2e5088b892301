"""The XCom summary: one builder, each key documented (docs/operators) with what it counts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from airflow_provider_bulkdots.delivery.exactly_once.delivery import ExactlyOnceCounts
from airflow_provider_bulkdots.delivery.reporting.results import DeliverySummary
from airflow_provider_bulkdots.dots.report import Report
from airflow_provider_bulkdots.stores.summary import (
    DEPRECATED_SUMMARY_KEYS,
    SUMMARY_KEYS,
    summary_lines,
    task_summary,
)

OPERATOR_PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "bulkdots.md"


def test_the_summary_has_exactly_the_documented_keys_in_order() -> None:
    summary = task_summary(Report(), DeliverySummary(), ExactlyOnceCounts(), 1.23456)
    assert list(summary) == [*SUMMARY_KEYS, *DEPRECATED_SUMMARY_KEYS]
    for old, new in DEPRECATED_SUMMARY_KEYS.items():
        assert summary[old] == summary[new]
    assert summary["seconds"] == 1.235


def test_counts_come_from_the_typed_results_under_names_that_say_what_they_count() -> None:
    report = Report(rows_read=10, dots=30, bodies=3, bytes=900, invalid_rows=1)
    delivery = DeliverySummary(
        requests=7,
        bodies=2,
        dots=20,
        bytes=600,
        retries=3,
        splits=1,
        statuses=Counter({"200": 4, "429": 2, "503": 1}),
        lost_reply_bodies=1,
        lost_reply_dots=10,
        possible_duplicate_bodies=1,
        possible_duplicate_dots=10,
    )
    summary = task_summary(
        report, delivery, ExactlyOnceCounts(resumed_bodies=4, resumed_dots=40), 2.0
    )
    assert (summary["requests"], summary["bodies_sent"], summary["bodies"]) == (7, 2, 3)
    assert (summary["lost_reply_bodies"], summary["lost_reply_dots"]) == (1, 10)
    assert (summary["resumed_bodies"], summary["resumed_dots"]) == (4, 40)
    assert (summary["throttled"], summary["body_splits"]) == (2, 1)


def test_the_operator_page_lists_every_key() -> None:
    if not OPERATOR_PAGE.is_file():
        pytest.skip("no docs here: these are the tests of an installed wheel")
    text = OPERATOR_PAGE.read_text()
    section = text[text.index("- **XCom**") : text.index("- **Fan-out**")]
    for key in SUMMARY_KEYS:
        assert f"`{key}`" in section, key


def test_the_logged_block_says_each_fact_on_its_own_short_line() -> None:
    report = Report(rows_read=10, dots=30, bodies=3, bytes=900, invalid_rows=1)
    delivery = DeliverySummary(requests=7, bodies=2, dots=20, bytes=600, retries=3)
    spared = ExactlyOnceCounts(
        resumed_bodies=4, resumed_dots=40, reconciled_bodies=2, resent_dots=5, read_requests=6
    )
    lines = summary_lines(task_summary(report, delivery, spared, 2.0), "/data/rejected.jsonl")
    assert lines == [
        "Read: 10 rows -> 30 dots in 3 bodies (900 bytes).",
        "Sent: 20 dots in 2 bodies acknowledged, 7 requests (3 retried, 0 throttled).",
        "Not sent again: 40 dots in 4 bodies an earlier try had acknowledged.",
        "Reconciled: 2 bodies whose reply was lost, read back; 5 dots not found there were "
        "sent again.",
        "Reads: 6 read requests.",
        "Uncertain: nothing (every body's outcome is known).",
        "Invalid: 1 row left out, written to /data/rejected.jsonl.",
        "Took: 2.0 s.",
    ]
    assert all(len(line) <= 100 and "{" not in line for line in lines)


def test_the_block_names_what_is_uncertain_and_where_refusals_are_listed() -> None:
    delivery = DeliverySummary(
        lost_reply_bodies=1,
        lost_reply_dots=10,
        possible_duplicate_bodies=2,
        possible_duplicate_dots=12,
        quarantined=Counter({"pump-7": 3}),
    )
    lines = summary_lines(task_summary(Report(), delivery, ExactlyOnceCounts(), 0.5))
    assert (
        "Uncertain: 10 dots in 1 body lost their reply and were not resent "
        "(the API may or may not hold them)." in lines
    )
    assert (
        "Uncertain: 12 dots in 2 bodies were resent after a lost reply (may be stored twice)."
        in lines
    )
    assert "Not sent: 3 dots of device pump-7 (disabled: 423)." in lines
