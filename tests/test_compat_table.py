"""scripts/compat --write-docs puts its table, dated, between the markers of the docs page."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "compat.py"


def _script() -> ModuleType:
    if not SCRIPT.is_file():
        pytest.skip("no scripts here: these are the tests of an installed wheel")
    pytest.importorskip("packaging")
    spec = importlib.util.spec_from_file_location("bulkdots_compat_script", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_docs_page_holds_a_dated_table_between_the_markers() -> None:
    compat = _script()
    text = compat.DOCS_PAGE.read_text()
    block = text[text.index(compat.TABLE_BEGIN) : text.index(compat.TABLE_END)]
    assert re.search(r"^Run on \d{4}-\d{2}-\d{2}, at commit `[0-9a-f]{7,}`", block, re.M)
    assert "| Airflow | Python |" in block


def test_write_docs_replaces_the_table_and_dates_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compat = _script()
    page = tmp_path / "installation.md"
    page.write_text(f"before\n\n{compat.TABLE_BEGIN}\nold table\n{compat.TABLE_END}\n\nafter\n")
    monkeypatch.setattr(compat, "DOCS_PAGE", page)
    compat.write_docs("| Airflow | Python |\n|---|---|\n| 3.3.1 | 3.12 |")
    text = page.read_text()
    assert "old table" not in text and text.startswith("before\n") and text.endswith("after\n")
    assert re.search(
        r"^Run on \d{4}-\d{2}-\d{2}, (at commit `[0-9a-f]+`|outside a git)", text, re.M
    )
    assert "| 3.3.1 | 3.12 |\n" + compat.TABLE_END in text
