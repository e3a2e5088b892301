"""Every keyword argument of the operators and the hook is documented with ``:param:`` in its
class docstring; the delivery settings there say what their one declaration says; and every
argument reaches the typed object it is declared in, with that object's type."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from typing import Any

import pytest

from airflow_provider_bulkdots.delivery.settings import (
    OVERRIDE_KEYS,
    SETTINGS_BY_NAME,
    SettingsOverrides,
)
from airflow_provider_bulkdots.dots import ReshapeOptions
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from airflow_provider_bulkdots.hooks.delivery import Guarantees
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.operators.check import BulkDotsCheckOperator
from airflow_provider_bulkdots.sources import ReadOptions

CLASSES = [BulkDotsOperator, BulkDotsCheckOperator, BulkDotsHook]
#: The operator's arguments that are a field of a typed object under another name.
RENAMED = {"line_limits": "limits"}
#: Fields of the typed objects that are not operator arguments: set by the hook from its
#: resolved settings (``body_options``), a core default, or the file's suffix.
NOT_ARGUMENTS = {"max_body_bytes": ReshapeOptions, "max_label_length": ReshapeOptions}
NOT_ARGUMENTS_OF_READING = {"compression"}


def _keywords(cls: type) -> list[str]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in parameters if p.name != "self" and p.kind is not p.VAR_KEYWORD]


def _documented(cls: type) -> dict[str, str]:
    """``:param name: text`` of the class docstring, the text on one line."""
    doc = inspect.cleandoc(cls.__doc__ or "")
    found = re.findall(r"^:param (\w+): (.*?)(?=^:param |\Z)", doc, flags=re.M | re.S)
    return {name: " ".join(text.split()) for name, text in found}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_every_argument_is_documented(cls: type) -> None:
    documented = _documented(cls)
    missing = [name for name in _keywords(cls) if name not in documented]
    assert not missing, f"{cls.__name__}: no :param: for {missing}"
    assert set(documented) <= set(_keywords(cls)), "a :param: names no argument"


@pytest.mark.parametrize("cls", [BulkDotsOperator, BulkDotsHook], ids=lambda cls: cls.__name__)
def test_the_settings_are_documented_from_their_declaration(cls: type) -> None:
    documented = _documented(cls)
    for name in OVERRIDE_KEYS:
        setting = SETTINGS_BY_NAME[name]
        assert " ".join(setting.help.split()) in documented[name], name
        assert repr(setting.default) in documented[name], name


def _fields(typed: type) -> dict[str, Any]:
    hints = typing.get_type_hints(typed)
    return {field.name: hints[field.name] for field in dataclasses.fields(typed)}


def _operator_types() -> dict[str, Any]:
    return typing.get_type_hints(BulkDotsOperator.__init__)


@pytest.mark.parametrize(
    "typed",
    [SettingsOverrides, Guarantees, ReshapeOptions, ReadOptions],
    ids=lambda typed: typed.__name__,
)
def test_every_field_of_the_typed_objects_is_an_operator_argument_of_its_type(typed: type) -> None:
    """The operator's arguments flow into these objects: each field (but those the hook or
    the core set) is an argument of the same type, so no value is retyped on the way."""
    arguments = _operator_types()
    for name, kind in _fields(typed).items():
        if NOT_ARGUMENTS.get(name) is typed or (
            typed is ReadOptions and name in NOT_ARGUMENTS_OF_READING
        ):
            continue
        argument = {value: key for key, value in RENAMED.items()}.get(name, name)
        assert argument in arguments, f"{typed.__name__}.{name} is no operator argument"
        given = arguments[argument]
        if typed is ReadOptions and name == "limits":
            assert given == kind | None  # the default LineLimits() is made in read_options()
        elif typed is ReshapeOptions and name in ("variables", "context_columns"):
            continue  # taken as any sequence, kept as a tuple
        else:
            assert given == kind, f"{argument}: {given} != {typed.__name__}.{name}: {kind}"


def test_the_hook_takes_the_settings_a_task_may_set_with_their_types() -> None:
    hints = typing.get_type_hints(BulkDotsHook.__init__)
    for name, kind in _fields(SettingsOverrides).items():
        assert hints[name] == kind, name
    assert tuple(_fields(SettingsOverrides)) == OVERRIDE_KEYS
