"""A dataset as the rest of the provider sees it: a re-readable stream of rows, a fingerprint
of its content, how far its reading got. The readers (:mod:`.datasets`, :mod:`.arrow`,
:mod:`.sql`) build one; nothing here reads anything."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_bulkdots.sources.lines import LineMap


@dataclass
class ReadProgress:
    """How far the reading of a dataset got, for progress lines with an ETA.

    ``total`` is the whole in ``unit`` when it is knowable: rows of a list or a DataFrame,
    rows in a Parquet file's metadata, bytes of a CSV or JSON Lines file. For ``"bytes"``,
    ``position()`` says how many the reader has consumed so far; for ``"rows"`` the caller
    counts the rows it took.
    """

    unit: str = "rows"
    total: int | None = None
    position: Callable[[], int] | None = None


@dataclass(frozen=True)
class Dataset:
    """A re-readable stream of rows, a fingerprint of what it holds, how far it was read, and
    for files the line each row starts on."""

    description: str
    fingerprint: str
    _open: Callable[[], Iterator[Any]]
    progress: ReadProgress = field(default_factory=ReadProgress)
    lines: LineMap | None = field(default=None, compare=False)
    input_rows: LineMap | None = field(default=None, compare=False)

    def rows(self) -> Iterator[Any]:
        """A fresh iterator over the rows, from the start."""
        return self._open()

    def line_of(self, row: int) -> int | None:
        """The file line input row ``row`` starts on (None for in-memory data)."""
        return self.lines.line_of(row) if self.lines is not None else None

    def row_of(self, row: int) -> int:
        """The input's number of the ``row``-th row this dataset yields: the same, unless a
        filter (an incremental load's watermarks) left rows out."""
        found = self.input_rows.line_of(row) if self.input_rows is not None else None
        return row if found is None else found
