"""Every keyword argument of the operator and the hook is documented with ``:param:`` in its
class docstring, and the delivery settings there say what their one declaration says."""

from __future__ import annotations

import inspect
import re

import pytest

from airflow_provider_bulkdots.delivery.settings import OVERRIDE_KEYS, SETTINGS_BY_NAME
from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator

CLASSES = [BulkDotsOperator, BulkDotsHook]


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


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_the_settings_are_documented_from_their_declaration(cls: type) -> None:
    documented = _documented(cls)
    for name in OVERRIDE_KEYS:
        setting = SETTINGS_BY_NAME[name]
        assert " ".join(setting.help.split()) in documented[name], name
        assert repr(setting.default) in documented[name], name
