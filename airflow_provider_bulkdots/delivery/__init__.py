"""Delivery to the bulk endpoint, free of Airflow: settings, pacing, retries, the sender."""

from __future__ import annotations

from airflow_provider_bulkdots.delivery.limiter import RateLimiter
from airflow_provider_bulkdots.delivery.results import DeliverySummary, RejectedDot, SendResult
from airflow_provider_bulkdots.delivery.retry import RetryPolicy
from airflow_provider_bulkdots.delivery.sender import OnResult, Sender, TokenAuth
from airflow_provider_bulkdots.delivery.settings import (
    DEFAULT_ENDPOINT,
    DEFAULT_HOST,
    EXTRA_KEYS,
    OVERRIDE_KEYS,
    DeliverySettings,
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
    "RateLimiter",
    "RejectedDot",
    "RetryPolicy",
    "SendResult",
    "Sender",
    "TokenAuth",
    "resolve_settings",
]
