"""One error hierarchy: the tree drawn in exceptions.py (and docs/errors.md) is the real one."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from airflow_provider_bulkdots import exceptions
from airflow_provider_bulkdots.dots import DotsOptionsError, InvalidRowsError, ReshapeOptions

ERRORS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
_TREE_LINE = re.compile(r"^(?P<indent>[ │├└─]*)(?P<name>[A-Z]\w+)")


def drawn_tree() -> dict[str, str | None]:
    """Each class of the docstring's tree with its drawn parent."""
    doc = exceptions.__doc__ or ""
    block = doc.split("::", 1)[1].strip("\n").split("\n\n")[0]
    parents: dict[str, str | None] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = _TREE_LINE.match(line.strip("\n")[4:])
        assert match, line
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parents[match["name"]] = stack[-1][1] if stack else None
        stack.append((depth, match["name"]))
    return parents


def test_the_drawn_tree_is_the_class_tree() -> None:
    classes = {
        name: cls
        for name, cls in inspect.getmembers(exceptions, inspect.isclass)
        if issubclass(cls, exceptions.BulkDotsError)
    }
    tree = drawn_tree()
    assert set(tree) == set(classes), "every error is drawn, and only errors"
    for name, parent in tree.items():
        own_parent = next(
            (base.__name__ for base in classes[name].__bases__ if base.__name__ in classes), None
        )
        assert own_parent == parent, name


def test_the_errors_page_draws_the_same_tree() -> None:
    if not ERRORS_PAGE.is_file():
        pytest.skip("no docs here: these are the tests of an installed wheel")
    doc = exceptions.__doc__ or ""
    block = doc.split("::", 1)[1].strip("\n").split("\n\n")[0]
    drawn = "\n".join(line[4:] for line in block.splitlines())
    assert f"```\n{drawn}\n```" in ERRORS_PAGE.read_text()


def test_core_errors_are_provider_errors_and_value_errors() -> None:
    assert issubclass(InvalidRowsError, exceptions.BulkDotsError)
    assert issubclass(DotsOptionsError, exceptions.ConfigurationError)
    assert issubclass(InvalidRowsError, ValueError) and issubclass(DotsOptionsError, ValueError)
    with pytest.raises(exceptions.BulkDotsError, match="max_body_bytes"):
        ReshapeOptions(max_body_bytes=100)


def test_error_data_is_declared_on_the_classes() -> None:
    """No attribute is attached at run time: each one a caller reads is declared."""
    declared = {
        exceptions.BulkDotsError: {"summary"},
        exceptions.ConfigurationError: {"setting"},
        exceptions.InvalidRowsError: {"rows", "total"},
        exceptions.BulkDotsApiError: {"status", "code", "message", "detail", "location"},
        exceptions.BulkDotsDeliveryError: {"reason", "status", "attempts", "retry_after"},
        exceptions.RefusedDotsError: {"refused", "task_ids"},
    }
    for cls, names in declared.items():
        annotated = set().union(*(vars(k).get("__annotations__", {}) for k in cls.__mro__))
        assert names <= annotated, cls.__name__


def test_the_old_names_of_refused_dots_still_work_with_a_deprecation_warning() -> None:
    from airflow_provider_bulkdots.delivery.reporting.results import (
        DeliverySummary,
        RefusedDot,
        SendResult,
    )

    dot = RefusedDot("b", "d", "v", 1, 2.0, 400, 400001, "bad")
    with pytest.warns(DeprecationWarning, match="use RefusedDotsError"):
        old = exceptions.RejectedDotsError
    assert old is exceptions.RefusedDotsError
    error = exceptions.RefusedDotsError([dot], ["t"])
    with pytest.warns(DeprecationWarning, match="use refused"):
        assert error.rejected == [dot]
    summary = DeliverySummary(refused=[dot])
    with pytest.warns(DeprecationWarning, match="use refused"):
        assert summary.rejected == [dot]
    result = SendResult(seq=0, body_id="b", dots=1, size=10, refused=[dot])
    with pytest.warns(DeprecationWarning, match="use refused"):
        assert result.rejected == [dot]
    with pytest.raises(AttributeError):
        _ = exceptions.NoSuchError  # type: ignore[attr-defined]
