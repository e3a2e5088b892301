"""Provider metadata read by Airflow's ProvidersManager (entry point apache_airflow_provider)."""

from __future__ import annotations

from typing import Any

from airflow_provider_bulkdots import __version__
from airflow_provider_bulkdots.delivery.settings import SETTINGS

#: The connection form's fields: one per delivery setting, from its one declaration.
CONNECTION_FIELDS: dict[str, dict[str, Any]] = {
    setting.name: setting.form_field() for setting in SETTINGS
}

#: How the form shows Airflow's own fields (the provider-info schema's kebab-case keys).
#: The port stays visible: Airflow 3.3's Test button sends port 0 for an empty one, and the
#: API server then refuses to test "a different destination" than the stored connection.
UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "login", "extra"],
    "relabeling": {"host": "API URL", "password": "Token"},
    "placeholders": {
        "host": "https://industrial.api.ubidots.com",
        "port": "443",
        "password": "BBFF-...",
    },
}


#: The how-to guides, as the official providers name them: pages of the documentation tree
#: (``docs/``, Sphinx), by their path in the source repository.
HOW_TO_GUIDES: list[str] = [
    "/docs/operators/bulkdots.md",
    "/docs/plan-check-correct.md",
    "/docs/sources.md",
    "/docs/assets.md",
    "/docs/scaling-out.md",
]

#: The provider's options in Airflow's configuration (``[bulkdots]``), as official providers
#: declare theirs: ``airflow config list`` shows them, ``AIRFLOW__BULKDOTS__<KEY>`` sets them.
CONFIG: dict[str, Any] = {
    "bulkdots": {
        "description": "Options of the Ubidots bulk dots provider (airflow-provider-bulkdots).\n",
        "options": {
            "rate_state_dir": {
                "description": (
                    "Directory of the shared pace of each token on this machine (one small "
                    "JSON file per token, named by a hash of host and token). It must belong "
                    "to the user running the tasks and be writable by no one else, or tasks "
                    "refuse it by name. Empty: airflow-bulkdots-rate-<uid> in the system's "
                    "temp directory (given up for pacing in each process, with a warning, "
                    "if another user holds it). Replaces $BULKDOTS_RATE_STATE_DIR "
                    "(deprecated, still read).\n"
                ),
                "version_added": "0.2.0",
                "type": "string",
                "example": "/var/lib/airflow/bulkdots-rate",
                "default": "",
            }
        },
    }
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
                "how-to-guide": HOW_TO_GUIDES,
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
                "python-modules": [
                    "airflow_provider_bulkdots.operators.bulkdots",
                    "airflow_provider_bulkdots.operators.check",
                ],
            }
        ],
        "cli": ["airflow_provider_bulkdots.cli.get_cli_commands"],
        "asset-uris": [
            {
                "schemes": ["ubidots"],
                "handler": "airflow_provider_bulkdots.sources.assets.sanitize_uri",
            }
        ],
        "extra-links": ["airflow_provider_bulkdots.links.ubidots.UbidotsDevicesLink"],
        "config": CONFIG,
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_bulkdots.hooks.bulkdots.BulkDotsHook",
                "hook-name": "Ubidots bulk dots",
                "connection-type": "bulkdots",
                "conn-fields": CONNECTION_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
