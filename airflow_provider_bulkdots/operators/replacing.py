"""``replace=True`` in the operator: the spans deleted and confirmed empty before the write.

The rules are :mod:`..planning.replace`'s; here the marker goes beside the task's delivery
ledger (its task state store), so a retry of the task knows the delete was done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from airflow_provider_bulkdots.dots import Body, Report
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.planning.replace import (
    Confirm,
    ReplaceCounts,
    ReplaceMarker,
    replacing,
)

if TYPE_CHECKING:
    from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
    from airflow_provider_bulkdots.operators.loading import LoadingOperator

#: Seconds between two read-backs of a span not yet empty.
CONFIRM_POLL_SECONDS = 1.0


def check_replace(operator: LoadingOperator) -> None:
    """Refuse what cannot be combined with ``replace`` (before reading anything)."""
    if operator.incremental or operator.skip_existing:
        raise ConfigurationError(
            "replace=True takes the whole input as the truth of its span: it cannot be "
            "combined with incremental or skip_existing",
            setting="replace",
        )


def replaced(
    operator: LoadingOperator,
    bodies: Iterator[Body],
    hook: BulkDotsHook,
    report: Report,
    ledger: DeliveryLedger | None,
) -> Iterator[Body]:
    """With ``replace``, the bodies once the input's spans are confirmed empty; else as given."""
    if not operator.replace:
        return bodies
    check_replace(operator)
    marker = (
        ReplaceMarker(ledger.store, f"{ledger.prefix}/replace", ledger.fingerprint)
        if ledger is not None
        else ReplaceMarker(None, "", "")
    )
    counts = ReplaceCounts()
    confirm = Confirm(timeout=operator.reconcile_timeout, poll=CONFIRM_POLL_SECONDS)
    held = replacing(bodies, report, hook.get_deleter, hook.get_reader, marker, confirm, counts)
    operator.log.info(
        "replace: %d series; %s (%d delete and %d read requests).",
        counts.series,
        "deleted by an earlier try" if counts.resumed else "spans deleted and confirmed empty",
        counts.delete_requests,
        counts.read_requests,
    )
    return held
