"""Every name the provider takes from Airflow itself, imported in this one module.

The provider supports Airflow 3.3 (``apache-airflow>=3.3.1,<3.4`` in ``pyproject.toml``;
docs/installation.md, "Compatibility", says why): every name below is where 3.3 puts it. When a
name moves in a later minor, the bridge goes here (try the new location, fall back to the old),
never into the modules that use it; ``tests/test_compat.py`` keeps Airflow imports out of every
other module.

Names from Airflow's own providers (``airflow.providers...``) come through here too: the
standard provider's ``DateTimeTrigger`` (Airflow 3 always installs that provider) and the
OpenLineage classes (extra ``openlineage``), each imported when first needed, not at every DAG
parse, and the latter only when the extra is installed.
"""

from __future__ import annotations

from typing import Any

from airflow import __version__ as AIRFLOW_VERSION
from airflow.sdk import (
    Asset,
    BaseHook,
    BaseOperator,
    BaseOperatorLink,
    Context,
    ObjectStoragePath,
    Variable,
    get_current_context,
)
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
from airflow.sdk.log import mask_secret


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


AIRFLOW_V_3_3_PLUS = _minor(AIRFLOW_VERSION) >= (3, 3)
"""Airflow 3.3 brings ``context["task_state_store"]`` and ``asset_state_store`` (always true
in the supported range; kept for the fallback paths and their tests)."""


def provider_option(section: str, key: str) -> str | None:
    """The option ``[section] key`` of Airflow's configuration (``airflow.cfg`` or
    ``AIRFLOW__SECTION__KEY``), ``None`` when it is not set or empty."""
    from airflow.sdk.configuration import conf

    value = conf.get(section, key, fallback=None)
    return value if value and str(value).strip() else None


def current_context() -> Context | None:
    """The running task's context (a TaskFlow task calling the hook), ``None`` outside one."""
    try:
        return get_current_context()
    except RuntimeError:  # not inside a task's execute
        return None


def cli_command_types() -> tuple[Any, Any, Any]:
    """``ActionCommand``, ``GroupCommand`` and ``Arg`` of the ``airflow`` command line.

    Imported on call: only ``airflow`` itself asks for the provider's commands.
    """
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand

    return ActionCommand, GroupCommand, Arg


def date_time_trigger() -> type[Any]:
    """Airflow's ``DateTimeTrigger``: the trigger a task defers to for a wait until a moment."""
    from airflow.providers.standard.triggers.temporal import DateTimeTrigger

    return DateTimeTrigger


def openlineage_classes() -> tuple[type[Any], type[Any]]:
    """OpenLineage's ``Dataset`` and ``OperatorLineage``; ImportError without extra openlineage."""
    from airflow.providers.common.compat.openlineage.facet import Dataset
    from airflow.providers.openlineage.extractors import OperatorLineage

    return Dataset, OperatorLineage


__all__ = [
    "AIRFLOW_VERSION",
    "AIRFLOW_V_3_3_PLUS",
    "AirflowFailException",
    "AirflowSkipException",
    "Asset",
    "BaseHook",
    "BaseOperator",
    "BaseOperatorLink",
    "Context",
    "ObjectStoragePath",
    "Variable",
    "cli_command_types",
    "current_context",
    "date_time_trigger",
    "get_current_context",
    "mask_secret",
    "openlineage_classes",
    "provider_option",
]
