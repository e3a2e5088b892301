"""The task's XCom ``summary``, built in one place from the typed results of its steps.

One word, one meaning: a *row* is an input record, a *dot* one value, a *body* one payload
(it may take several requests), a *request* one HTTP call.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_bulkdots.delivery.exactly_once import ExactlyOnceCounts
from airflow_provider_bulkdots.delivery.results import DeliverySummary
from airflow_provider_bulkdots.dots.report import Report

#: The keys of the summary, each with what it counts (the README lists the same).
SUMMARY_KEYS: dict[str, str] = {
    "rows_read": "input rows read",
    "rejected_rows": "input rows refused by the checks (with on_invalid='skip')",
    "missing_readings": "empty cells of the wide layout, left out",
    "dots": "dots built from the rows",
    "bodies": "bodies built",
    "bytes": "bytes of the bodies built",
    "dots_sent": "dots the API acknowledged in this try",
    "bodies_sent": "bodies the API acknowledged in this try",
    "bytes_sent": "bytes of those bodies",
    "requests": "HTTP requests made (retries and split halves included)",
    "retries": "requests that were retries",
    "throttled": "429/420 replies received",
    "body_splits": "times a body was halved (a 413; a 400 or 204 isolating refused dots; a 423)",
    "api_rejected_dots": "dots the API refused (400, 204 'not saved'), isolated and reported",
    "quarantined_dots": "dots of devices the API answered 423 (disabled) for, not sent",
    "quarantined_devices": "those devices, each with its dots not sent",
    "resumed_bodies": "bodies an earlier, unfinished try had acknowledged, not sent again",
    "resumed_dots": "dots of those bodies",
    "already_delivered_bodies": "bodies a completed earlier try had delivered, not sent again",
    "already_delivered_dots": "dots of those bodies",
    "reconciled_bodies": "bodies of unknown outcome settled by reading the API back",
    "resent_dots": "dots of those bodies not found by the read-back, sent again",
    "skipped_existing_dots": "dots left out because their series already held them",
    "read_requests": "read requests (read-back and skip_existing)",
    "unknown_outcome_bodies": "bodies whose reply was lost and that were not resent",
    "unknown_outcome_dots": "dots of those bodies",
    "possible_duplicate_bodies": "bodies resent after a lost reply (may be stored twice)",
    "possible_duplicate_dots": "dots of those resends",
    "seconds": "wall time of the task's execute",
}


def task_summary(
    report: Report, delivery: DeliverySummary, spared: ExactlyOnceCounts, seconds: float
) -> dict[str, Any]:
    """The JSON-ready summary, keys in :data:`SUMMARY_KEYS` order."""
    return {
        "rows_read": report.rows_read,
        "rejected_rows": report.rejected_rows,
        "missing_readings": report.missing_readings,
        "dots": report.dots,
        "bodies": report.bodies,
        "bytes": report.bytes,
        "dots_sent": delivery.dots,
        "bodies_sent": delivery.bodies,
        "bytes_sent": delivery.bytes,
        "requests": delivery.requests,
        "retries": delivery.retries,
        "throttled": delivery.throttled,
        "body_splits": delivery.splits,
        "api_rejected_dots": len(delivery.rejected),
        "quarantined_dots": delivery.quarantined.total(),
        "quarantined_devices": dict(sorted(delivery.quarantined.items())),
        "resumed_bodies": spared.resumed_bodies,
        "resumed_dots": spared.resumed_dots,
        "already_delivered_bodies": spared.already_delivered_bodies,
        "already_delivered_dots": spared.already_delivered_dots,
        "reconciled_bodies": spared.reconciled_bodies,
        "resent_dots": spared.resent_dots,
        "skipped_existing_dots": spared.skipped_existing_dots,
        "read_requests": spared.read_requests,
        "unknown_outcome_bodies": delivery.unacknowledged_bodies,
        "unknown_outcome_dots": delivery.unacknowledged_dots,
        "possible_duplicate_bodies": delivery.possible_duplicate_bodies,
        "possible_duplicate_dots": delivery.possible_duplicate_dots,
        "seconds": round(seconds, 3),
    }
