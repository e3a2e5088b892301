"""Provider metadata read by Airflow's ProvidersManager (entry point apache_airflow_provider)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bulkdots import __version__


def _field(label: str, json_type: str, default: Any, description: str) -> dict[str, Any]:
    return {
        "label": label,
        "description": description,
        "schema": {"type": [json_type, "null"], "default": default},
    }


CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    "max_body_bytes": _field(
        "Max body bytes", "integer", 10000, "Largest request body sent (API limit 10,000 bytes)."
    ),
    "rate_limit": _field(
        "Rate limit (requests/s)", "number", 4, "Requests per second for this token; 0 for none."
    ),
    "max_in_flight": _field(
        "Max requests in flight", "integer", 4, "Requests sent concurrently by one task."
    ),
    "timeout": _field("Timeout (s)", "number", 30, "Connect and read timeout of each request."),
    "max_retries": _field(
        "Max retries", "integer", 8, "Retries of one request after 429, 5xx or a network error."
    ),
    "max_retry_seconds": _field(
        "Max total retry time (s)", "number", 300, "Total time one request may spend retrying."
    ),
    "endpoint": _field(
        "Endpoint path", "string", "/api/v1.6/devices/_/bulk/values", "Path of the bulk endpoint."
    ),
    "token_in_query": _field(
        "Token in query string",
        "boolean",
        False,
        "Send ?token= instead of X-Auth-Token (discouraged).",
    ),
    "retry_unknown_outcome": _field(
        "Retry unknown outcomes",
        "boolean",
        True,
        "Resend a request whose reply was lost (may store its dots twice).",
    ),
}


def get_provider_info() -> dict[str, Any]:
    """Describe the package, its hook and its connection form to Airflow."""
    return {
        "package-name": "airflow-provider-bulkdots",
        "name": "Bulk dots (Ubidots)",
        "description": "Backfill sensor history into Ubidots through the bulk dots endpoint.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "Ubidots bulk dots",
                "external-doc-url": "https://docs.ubidots.com/reference/bulk-values",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": "Ubidots bulk dots",
                "python-modules": ["airflow_provider_bulkdots.hooks.bulkdots"],
            }
        ],
        "operators": [
            {
                "integration-name": "Ubidots bulk dots",
                "python-modules": ["airflow_provider_bulkdots.operators.bulkdots"],
            }
        ],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_bulkdots.hooks.bulkdots.BulkDotsHook",
                "hook-name": "Ubidots bulk dots",
                "connection-type": "bulkdots",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "login", "port", "extra"],
                    "relabeling": {"host": "API URL", "password": "Token"},
                    "placeholders": {
                        "host": "https://industrial.api.ubidots.com",
                        "password": "BBFF-...",
                    },
                },
            }
        ],
    }
