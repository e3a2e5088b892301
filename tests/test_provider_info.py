"""The package registers with Airflow: the provider, its hook and the connection form."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from airflow_provider_bulkdots import __version__
from airflow_provider_bulkdots.delivery.settings import EXTRA_KEYS
from airflow_provider_bulkdots.get_provider_info import get_provider_info


def test_airflow_lists_the_provider_and_its_connection_type() -> None:
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow",
            "providers",
            "get",
            "airflow-provider-bulkdots",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=True,
    )
    table = next(line for line in listed.stdout.splitlines() if line.startswith("[{"))
    assert json.loads(table) == [{"Provider": "airflow-provider-bulkdots", "Version": __version__}]


def test_the_connection_type_has_its_hook_and_form() -> None:
    from airflow.providers_manager import ProvidersManager

    hooks = ProvidersManager().hooks
    hook = hooks["bulkdots"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_bulkdots.hooks.bulkdots.BulkDotsHook"
    assert hook.connection_id_attribute_name == "bulkdots_conn_id"

    (connection_type,) = get_provider_info()["connection-types"]
    fields = connection_type["conn-fields"]
    assert tuple(fields) == EXTRA_KEYS
    behaviour = connection_type["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "API URL", "password": "Token"}
    assert "extra" in behaviour["hidden-fields"]


def test_provider_info_matches_the_schema_shipped_inside_airflow() -> None:
    import airflow
    import jsonschema

    schema_path = Path(airflow.__file__).parent / "provider_info.schema.json"
    schema = json.loads(schema_path.read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    assert info["package-name"] == "airflow-provider-bulkdots"
    assert info["versions"] == [__version__]


def test_the_how_to_guides_are_pages_of_the_docs() -> None:
    (integration,) = get_provider_info()["integrations"]
    guides = integration["how-to-guide"]
    assert "/docs/operators/bulkdots.md" in guides
    root = Path(__file__).resolve().parents[1]
    if not (root / "docs" / "conf.py").is_file():
        return  # beside an installed wheel: no docs tree to look into
    assert [guide for guide in guides if not (root / guide.lstrip("/")).is_file()] == []


def test_the_installed_metadata_reports_the_package_version() -> None:
    assert metadata.version("airflow-provider-bulkdots") == __version__
