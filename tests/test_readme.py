"""The README's first screen: the two commands, install, connection, then a complete example DAG
(the one in example_dags/, verbatim); below it, links to the docs pages, each of which exists.
The installation page lists what pyproject.toml declares."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_dags" / "bulkdots_daily_backfill.py"


def test_the_readme_example_dag_is_the_tested_example_file() -> None:
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("no README here")
    source = EXAMPLE.read_text()
    code = source[source.index("from __future__") :].strip()
    text = readme.read_text()
    first_block = text[text.index("```python\n") + len("```python\n") :]
    assert first_block[: first_block.index("\n```")].strip() == code
    assert text.index("```python\n") < 2500  # on the first screen


def test_the_first_screen_goes_commands_install_connection_dag() -> None:
    readme = ROOT / "README.md"
    if not readme.is_file():
        pytest.skip("no README here")
    text = readme.read_text()
    steps = [
        "./scripts/demo",
        "./scripts/test",
        "pip install airflow-provider-bulkdots",
        "AIRFLOW_CONN_BULKDOTS_DEFAULT=",
        "```python\n",
    ]
    at = [text.index(step) for step in steps]
    assert at == sorted(at), "commands, then install, then the connection, then the DAG"


def test_the_readme_points_to_pages_that_exist() -> None:
    readme = ROOT / "README.md"
    if not readme.is_file() or not (ROOT / "docs" / "conf.py").is_file():
        pytest.skip("no README and docs here")
    prefix = "https://github.com/bulkdots/airflow-provider-bulkdots/blob/main/"
    linked = re.findall(re.escape(prefix) + r"([^)#\s]+)", readme.read_text())
    assert any(path.startswith("docs/") for path in linked)
    missing = [path for path in linked if not (ROOT / path).is_file()]
    assert missing == []


def test_the_installation_page_lists_the_declared_requirements() -> None:
    page = ROOT / "docs" / "installation.md"
    if not page.is_file() or not (ROOT / "pyproject.toml").is_file():
        pytest.skip("no docs here")
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    text = page.read_text()
    for requirement in project["dependencies"]:
        assert f"| `{requirement}` |" in text, requirement
    for extra, requirements in project["optional-dependencies"].items():
        if extra != "dev":
            listed = ", ".join(f"`{requirement}`" for requirement in requirements)
            assert f"| `{extra}` | {listed} |" in text, extra
