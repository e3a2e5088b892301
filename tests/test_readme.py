"""The README's first screen shows a complete example DAG: the one in example_dags/, verbatim."""

from __future__ import annotations

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
