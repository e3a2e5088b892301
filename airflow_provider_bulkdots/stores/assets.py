"""The operator's Assets: a file Asset given as ``data`` is its inlet; ``ubidots_asset`` is its
outlet, which Airflow marks updated when the task succeeds (so downstream DAGs run on it)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.sources.assets import is_asset, ubidots_asset


def attach_assets(operator: Any, data: Any, target: Any, incremental: bool) -> Any:
    """Record the inlet and outlet Assets on ``operator``; returns the Ubidots Asset or None.

    An incremental load keeps its watermarks with the Ubidots Asset, so it needs one.
    """
    if is_asset(data) and data not in operator.inlets:
        operator.inlets = [*operator.inlets, data]
    outlet = ubidots_asset(target) if target is not None else None
    if outlet is None:
        outlet = next((asset for asset in operator.outlets if is_asset(asset)), None)
    elif outlet not in operator.outlets:
        operator.outlets = [*operator.outlets, outlet]
    if incremental and outlet is None:
        raise ConfigurationError(
            "incremental=True keeps its watermarks with the Ubidots Asset: give "
            "ubidots_asset='ubidots://<host>/<devices>' (or an Asset in outlets)"
        )
    return outlet


def note_delivery(context: Any, outlet: Any, summary: dict[str, Any]) -> None:
    """Put the delivery's counts on the Ubidots Asset's event, for DAGs downstream."""
    events = context.get("outlet_events") if outlet is not None else None
    if events is None:
        return
    counts = ("rows_read", "dots_sent", "requests", "invalid_rows", "rejected_rows")
    events[outlet].extra.update({key: summary[key] for key in counts if key in summary})
