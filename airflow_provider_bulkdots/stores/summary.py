"""The task's XCom ``summary``, built in one place from the typed results of its steps.

One word, one meaning: a *row* is an input record, a *dot* one value, a *body* one payload
(it may take several requests), a *request* one HTTP call.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_bulkdots.delivery.exactly_once.delivery import ExactlyOnceCounts
from airflow_provider_bulkdots.delivery.reporting.results import DeliverySummary
from airflow_provider_bulkdots.dots.report import Report

#: The keys of the summary, each with what it counts (docs/operators/bulkdots.md lists the same).
SUMMARY_KEYS: dict[str, str] = {
    "rows_read": "input rows read",
    "invalid_rows": "invalid input rows, left out (with on_invalid='skip')",
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
    "refused_dots": "dots the API refused (400, 204 'not saved'), isolated and reported",
    "quarantined_dots": "dots of devices the API answered 423 (disabled) for, not sent",
    "quarantined_devices": "those devices, each with its dots not sent",
    "resumed_bodies": "bodies an earlier, unfinished try had acknowledged, not sent again",
    "resumed_dots": "dots of those bodies",
    "already_delivered_bodies": "bodies a completed earlier try had delivered, not sent again",
    "already_delivered_dots": "dots of those bodies",
    "acknowledged_dots_skipped": "dots of bodies changed since an earlier try (the input "
    "changed) that its dot record shows acknowledged, not sent again",
    "ambiguous_dots_read_back": "dots of changed bodies inside a range an earlier try "
    "acknowledged or may have sent, read back before sending",
    "reconciled_bodies": "bodies whose reply was lost, reconciled by reading the API back",
    "resent_dots": "dots of those bodies not found by the read-back, sent again",
    "skipped_existing_dots": "dots left out because their series already held them",
    "read_requests": "read requests (read-back and skip_existing)",
    "lost_reply_bodies": "bodies whose reply was lost and that were neither reconciled nor resent",
    "lost_reply_dots": "dots of those bodies",
    "possible_duplicate_bodies": "bodies resent after a lost reply (may be stored twice)",
    "possible_duplicate_dots": "dots of those resends",
    "coordinator_fallbacks": "times the rate coordinator did not answer and the machine paced "
    "alone",
    "seconds": "wall time of the task's execute",
}


#: Old keys, still in the summary with the value of their new key (docs/glossary.md): read
#: the new ones. Removed in a later major version.
DEPRECATED_SUMMARY_KEYS: dict[str, str] = {
    "rejected_rows": "invalid_rows",
    "api_rejected_dots": "refused_dots",
    "unknown_outcome_bodies": "lost_reply_bodies",
    "unknown_outcome_dots": "lost_reply_dots",
}


def with_deprecated_keys(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` with the old keys after the new ones (same values), for readers not yet
    moved to the new keys."""
    old = {key: summary[new] for key, new in DEPRECATED_SUMMARY_KEYS.items() if new in summary}
    return {**summary, **old}


def task_summary(
    report: Report, delivery: DeliverySummary, spared: ExactlyOnceCounts, seconds: float
) -> dict[str, Any]:
    """The JSON-ready summary, keys in :data:`SUMMARY_KEYS` order, then the deprecated ones
    (:data:`DEPRECATED_SUMMARY_KEYS`)."""
    summary = {
        "rows_read": report.rows_read,
        "invalid_rows": report.invalid_rows,
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
        "refused_dots": len(delivery.refused),
        "quarantined_dots": delivery.quarantined.total(),
        "quarantined_devices": dict(sorted(delivery.quarantined.items())),
        "resumed_bodies": spared.resumed_bodies,
        "resumed_dots": spared.resumed_dots,
        "already_delivered_bodies": spared.already_delivered_bodies,
        "already_delivered_dots": spared.already_delivered_dots,
        "acknowledged_dots_skipped": spared.acknowledged_dots_skipped,
        "ambiguous_dots_read_back": spared.ambiguous_dots_read_back,
        "reconciled_bodies": spared.reconciled_bodies,
        "resent_dots": spared.resent_dots,
        "skipped_existing_dots": spared.skipped_existing_dots,
        "read_requests": spared.read_requests,
        "lost_reply_bodies": delivery.lost_reply_bodies,
        "lost_reply_dots": delivery.lost_reply_dots,
        "possible_duplicate_bodies": delivery.possible_duplicate_bodies,
        "possible_duplicate_dots": delivery.possible_duplicate_dots,
        "coordinator_fallbacks": delivery.coordinator_fallbacks,
        "seconds": round(seconds, 3),
    }
    return with_deprecated_keys(summary)


def _count(number: int, one: str, many: str | None = None) -> str:
    return f"{number:,} {one if number == 1 else (many or one + 's')}"


def _dots_in(dots: int, bodies: int) -> str:
    return f"{_count(dots, 'dot')} in {_count(bodies, 'body', 'bodies')}"


def _sent_lines(summary: dict[str, Any]) -> list[str]:
    lines = [
        f"Read: {_count(summary['rows_read'], 'row')} -> "
        f"{_dots_in(summary['dots'], summary['bodies'])} ({summary['bytes']:,} bytes).",
        f"Sent: {_dots_in(summary['dots_sent'], summary['bodies_sent'])} acknowledged, "
        f"{_count(summary['requests'], 'request')} ({summary['retries']:,} retried, "
        f"{summary['throttled']:,} throttled).",
    ]
    if summary["resumed_bodies"]:
        lines.append(
            f"Not sent again: {_dots_in(summary['resumed_dots'], summary['resumed_bodies'])} "
            "an earlier try had acknowledged."
        )
    if summary["already_delivered_bodies"]:
        spared = _dots_in(summary["already_delivered_dots"], summary["already_delivered_bodies"])
        lines.append(f"Not sent again: {spared} a completed earlier try had delivered.")
    if summary["acknowledged_dots_skipped"] or summary["ambiguous_dots_read_back"]:
        lines.append(
            f"Input changed since an earlier try: "
            f"{_count(summary['acknowledged_dots_skipped'], 'dot')} it had acknowledged not "
            f"sent again, {_count(summary['ambiguous_dots_read_back'], 'dot')} read back first."
        )
    if summary["reconciled_bodies"]:
        lines.append(
            f"Reconciled: {_count(summary['reconciled_bodies'], 'body', 'bodies')} whose reply "
            f"was lost, read back; {_count(summary['resent_dots'], 'dot')} not found there were "
            "sent again."
        )
    if summary["skipped_existing_dots"]:
        lines.append(
            f"Not sent: {_count(summary['skipped_existing_dots'], 'dot')} "
            "their series already held."
        )
    if summary["read_requests"]:
        lines.append(f"Reads: {_count(summary['read_requests'], 'read request')}.")
    return lines


def _doubt_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    if summary["lost_reply_bodies"]:
        lines.append(
            "Uncertain: "
            f"{_dots_in(summary['lost_reply_dots'], summary['lost_reply_bodies'])} "
            "lost their reply and were not resent (the API may or may not hold them)."
        )
    if summary["possible_duplicate_bodies"]:
        lines.append(
            "Uncertain: "
            f"{_dots_in(summary['possible_duplicate_dots'], summary['possible_duplicate_bodies'])}"
            " were resent after a lost reply (may be stored twice)."
        )
    if not lines:
        lines.append("Uncertain: nothing (every body's outcome is known).")
    return lines


def _refused_lines(summary: dict[str, Any], rejected_path: str | None) -> list[str]:
    lines = []
    where = f"written to {rejected_path}" if rejected_path else "listed above (no rejected_path)"
    if summary["invalid_rows"]:
        lines.append(f"Invalid: {_count(summary['invalid_rows'], 'row')} left out, {where}.")
    if summary["refused_dots"]:
        lines.append(f"Refused by the API: {_count(summary['refused_dots'], 'dot')}, {where}.")
    for device, dots in summary["quarantined_devices"].items():
        lines.append(f"Not sent: {_count(dots, 'dot')} of device {device} (disabled: 423).")
    return lines


def _pace_lines(summary: dict[str, Any]) -> list[str]:
    fallbacks = summary.get("coordinator_fallbacks", 0)
    if not fallbacks:
        return []
    return [
        f"Paced alone: the rate coordinator did not answer ({_count(fallbacks, 'time')}); "
        "this machine paced the token by itself meanwhile."
    ]


def summary_lines(summary: dict[str, Any], rejected_path: str | None = None) -> list[str]:
    """The summary as a short block a person reads, one fact per line (the XCom keeps the
    machine-readable dict): what was sent, what was not sent again, what is uncertain, where
    rejected rows went."""
    return [
        *_sent_lines(summary),
        *_doubt_lines(summary),
        *_refused_lines(summary, rejected_path),
        *_pace_lines(summary),
        f"Took: {summary['seconds']:,.1f} s.",
    ]
