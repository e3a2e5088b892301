"""Optional dependencies: imported when a source needs them, with the extra that brings them."""

from __future__ import annotations

import importlib
from types import ModuleType


def import_extra(module: str, extra: str, purpose: str, also: str = "") -> ModuleType:
    """``module``, or an ImportError naming the extra to install for ``purpose``."""
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs the '{extra}' extra: "
            f"pip install 'airflow-provider-bulkdots[{extra}]'{also}"
        ) from error
