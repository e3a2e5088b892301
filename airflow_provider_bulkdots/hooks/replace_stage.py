"""``replace=True`` as a stage of a delivery: the input's spans deleted and confirmed empty
before the write.

The rules are :mod:`..planning.replace`'s; here the marker goes beside the delivery's ledger
(the task state store), so a retry of the task knows the delete was done.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from airflow_provider_bulkdots.dots import Body
from airflow_provider_bulkdots.hooks.delivery import BodyStage, DatasetDelivery
from airflow_provider_bulkdots.planning.replace import (
    CONFIRM_POLL_SECONDS,
    Confirm,
    ReplaceCounts,
    ReplaceMarker,
    replacing,
)

if TYPE_CHECKING:
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook


def replace_stage(hook: BulkDotsHook, *, confirm_timeout: float, log: Any) -> BodyStage:
    """The stage that deletes each series' span through ``hook`` and lets the bodies through
    once every span reads back empty (within ``confirm_timeout`` seconds)."""

    def stage(bodies: Iterator[Body], delivery: DatasetDelivery) -> Iterator[Body]:
        ledger = delivery.ledger
        marker = (
            ReplaceMarker(ledger.store, f"{ledger.prefix}/replace", ledger.fingerprint)
            if ledger is not None
            else ReplaceMarker(None, "", "")
        )
        counts = ReplaceCounts()
        confirm = Confirm(timeout=confirm_timeout, poll=CONFIRM_POLL_SECONDS)
        held = replacing(
            bodies, delivery.report, hook.get_deleter, hook.get_reader, marker, confirm, counts
        )
        log.info(
            "replace: %d series; %s (%d delete and %d read requests).",
            counts.series,
            "deleted by an earlier try" if counts.resumed else "spans deleted and confirmed empty",
            counts.delete_requests,
            counts.read_requests,
        )
        return held

    return stage
