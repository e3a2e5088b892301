"""Cross-version imports live in one module: airflow_provider_bulkdots/compat.py."""

from __future__ import annotations

import ast
from importlib import metadata
from pathlib import Path

import airflow_provider_bulkdots
from airflow_provider_bulkdots import compat

PACKAGE_DIR = Path(airflow_provider_bulkdots.__file__).parent


def _airflow_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            if module == "airflow" or module.startswith("airflow."):  # providers' too
                found.append(f"{path.relative_to(PACKAGE_DIR)}:{node.lineno} imports {module}")
    return found


def test_only_the_compat_module_imports_from_airflow() -> None:
    offenders = [
        line
        for path in sorted(PACKAGE_DIR.rglob("*.py"))
        if path.name != "compat.py" or path.parent != PACKAGE_DIR
        for line in _airflow_imports(path)
    ]
    assert offenders == [], (
        "import these names from airflow_provider_bulkdots.compat (add them there, with a "
        "fallback if their place differs between supported Airflow minors):\n"
        + "\n".join(offenders)
    )


def test_compat_reports_the_running_airflow() -> None:
    installed = metadata.version("apache-airflow-core")
    assert installed == compat.AIRFLOW_VERSION
    major, minor = (int(part) for part in installed.split(".")[:2])
    assert (major, minor) >= (3, 3), "below the supported range (apache-airflow>=3.3.1)"


def test_every_exported_name_resolves() -> None:
    for name in compat.__all__:
        assert getattr(compat, name) is not None, name
