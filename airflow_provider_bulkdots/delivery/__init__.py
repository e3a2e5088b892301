"""Delivery to the bulk endpoint, free of Airflow.

settings (what to push and how hard) · auth (the token on a request) · attempt (one request
and what its reply means) · retry (the bounded retry loop) · limiter (the pace, as the sender
sees it) · pacing (one pace per token, shared across processes) · progress (lines with an
ETA) · split (a refused payload in halves) · window (bodies in flight) · sender (bodies,
composed of these) · results (what a delivery reports) · ledger (intents and
acknowledgements that outlive a crash) · readback (the read endpoint) · reconcile (unknown
outcomes reconciled by reading back) · existing (skip_existing) · exactly_once (the sender, the
ledger and reconciliation composed).
"""

from __future__ import annotations

from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.retry import RetryPolicy
from airflow_provider_bulkdots.delivery.http.sender import OnResult, Sender
from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer, WaitTooLong
from airflow_provider_bulkdots.delivery.reporting.results import (
    DeliverySummary,
    RefusedDot,
    SendResult,
)
from airflow_provider_bulkdots.delivery.settings import (
    DEFAULT_ENDPOINT,
    DEFAULT_HOST,
    EXTRA_KEYS,
    OVERRIDE_KEYS,
    DeliverySettings,
    SettingsOverrides,
    resolve_settings,
)

__all__ = [
    "DEFAULT_ENDPOINT",
    "DEFAULT_HOST",
    "EXTRA_KEYS",
    "OVERRIDE_KEYS",
    "DeliverySettings",
    "DeliverySummary",
    "OnResult",
    "Pacer",
    "RefusedDot",
    "RetryPolicy",
    "SendResult",
    "Sender",
    "SettingsOverrides",
    "TokenAuth",
    "TokenPacer",
    "WaitTooLong",
    "resolve_settings",
]
