"""Every name the provider takes from Airflow itself, imported in this one module.

The provider supports Airflow 3.2 and newer (``apache-airflow>=3.2.0`` in ``pyproject.toml``):
3.2 is the first minor that builds a connection form from the provider's declarative
``conn-fields``; on 3.1 the form would need a second declaration in WTForms, and
``AirflowFailException`` lived elsewhere. When a name moves between supported minors, the
bridge goes here (try the new location, fall back to the old), never into the modules that
use it; ``tests/test_compat.py`` keeps Airflow imports out of every other module.

Airflow providers (``airflow.providers...``) are packages of their own, not part of this rule.
"""

from __future__ import annotations

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import Asset, BaseHook, BaseOperator, Context, ObjectStoragePath, Variable
from airflow.sdk.exceptions import AirflowFailException
from airflow.sdk.log import mask_secret


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


AIRFLOW_V_3_3_PLUS = _minor(AIRFLOW_VERSION) >= (3, 3)
"""Airflow 3.3 brings ``context["task_state_store"]`` and ``asset_state_store``."""

__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowFailException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "Context",
    "ObjectStoragePath",
    "Variable",
    "mask_secret",
]
