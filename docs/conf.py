"""Sphinx configuration of the provider's documentation (MyST Markdown pages).

Built by ``scripts/test`` (so by CI) with warnings as errors, offline:
``sphinx-build -W --keep-going -b html docs docs/_build/html``.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_INIT = (ROOT / "airflow_provider_bulkdots" / "__init__.py").read_text()

project = "airflow-provider-bulkdots"
author = "airflow-provider-bulkdots developers"
copyright = "airflow-provider-bulkdots developers, Apache License 2.0"
release = re.findall(r'^__version__ = "(.+)"$', _INIT, re.MULTILINE)[0]
version = release

# The Python API page imports the package, so Airflow: give it a home of its own, never the
# user's ~/airflow, and read the source tree rather than an installed copy.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bulkdots-docs-airflow-"))
sys.path.insert(0, str(ROOT))

extensions = ["myst_parser", "sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# Anchors for "page.md#a-heading" links, the same slugs GitHub makes (the pages read on
# GitHub too).
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence", "deflist"]

# Fences without a language (the error tree) are shown as they are, not lexed as Python.
highlight_language = "text"

html_theme = "alabaster"
html_title = f"{project} {release}"
html_static_path: list[str] = []
html_theme_options = {
    "description": "Sensor history into Ubidots from Airflow, nothing sent twice",
    "github_user": "bulkdots",
    "github_repo": "airflow-provider-bulkdots",
    "github_button": False,
    "fixed_sidebar": True,
    "page_width": "1240px",
    "body_max_width": "none",
    "sidebar_width": "230px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}
