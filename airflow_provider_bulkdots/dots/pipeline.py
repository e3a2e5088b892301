"""Rows in, request bodies out: batch, reshape and encode, pack, summarise.

Each step is a generator; nothing is read before the caller asks for the next body, and
memory stays bounded by one batch of rows plus the packer's pending objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, Protocol

from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.encoding import Piece, check_body_payload
from airflow_provider_bulkdots.dots.errors import InvalidRowsError
from airflow_provider_bulkdots.dots.long import LongReshaper
from airflow_provider_bulkdots.dots.options import ReshapeOptions
from airflow_provider_bulkdots.dots.packing import BodyPacker
from airflow_provider_bulkdots.dots.records import RecordsReshaper
from airflow_provider_bulkdots.dots.report import Report
from airflow_provider_bulkdots.dots.spool import spool_bodies
from airflow_provider_bulkdots.dots.wide import WideReshaper

BATCH_ROWS = 2048


class Reshaper(Protocol):
    def encoded(
        self, batches: Iterator[tuple[int, list[Any]]]
    ) -> Iterator[tuple[list[str], list[Piece]]]: ...


def batched_rows(rows: Iterable[Any], size: int = BATCH_ROWS) -> Iterator[tuple[int, list[Any]]]:
    """Lists of up to ``size`` rows, each with the 1-based number of its first row."""
    iterator = iter(rows)
    number = 1
    while batch := list(islice(iterator, size)):
        yield number, batch
        number += len(batch)


def make_reshaper(options: ReshapeOptions, report: Report) -> Reshaper:
    """The reshaper of the options' layout."""
    if options.layout == "wide":
        return WideReshaper(options, report)
    if options.layout == "long":
        return LongReshaper(options, report)
    return RecordsReshaper(options, report)


def build_bodies(
    rows: Iterable[Any],
    options: ReshapeOptions,
    report: Report | None = None,
    *,
    max_pending_bytes: int | None = None,
) -> Iterator[Body]:
    """Reshape, validate, encode and chunk ``rows`` into request bodies, lazily.

    Invalid rows go to ``report``. With ``on_invalid="fail"``, InvalidRowsError is raised once
    the whole input has been read, listing the first invalid rows, *after* the bodies before
    it were yielded: to send nothing from an invalid input, use :func:`checked_bodies`.
    """
    report = report if report is not None else Report()
    reshaper = make_reshaper(options, report)
    packer = BodyPacker(options.max_body_bytes, max_pending_bytes)
    add = packer.add
    ready = packer.ready
    counted_batches = _counting(batched_rows(rows), report)
    for devices, pieces in reshaper.encoded(counted_batches):
        for device, (piece, timestamp, dots) in zip(devices, pieces, strict=True):
            add(device, piece, timestamp, dots)
        if ready:
            yield from _accounted(packer.drain(), report)
    yield from _accounted(packer.flush(), report)
    if options.on_invalid == "fail" and report.invalid_rows:
        raise InvalidRowsError(report.invalid_sample, report.invalid_rows)


def checked_bodies(
    rows: Iterable[Any],
    options: ReshapeOptions,
    report: Report | None = None,
    tap: Callable[[Iterator[Body]], Iterator[Body]] | None = None,
) -> Iterator[Body]:
    """The bodies to send: the one place that makes ``on_invalid="fail"`` send nothing.

    With ``"fail"`` the whole input is read and checked first (the bodies wait in a temporary
    file, see :mod:`.spool`), so InvalidRowsError is raised here, before the caller holds a
    single body. With ``"skip"`` bodies come as they are built. ``tap`` sees the bodies as they
    are built, before any spooling (progress marks how far into the input each one reaches).
    """
    bodies = build_bodies(rows, options, report)
    if tap is not None:
        bodies = tap(bodies)
    if options.on_invalid == "fail":
        return spool_bodies(bodies)
    return bodies


def _counting(
    batches: Iterator[tuple[int, list[Any]]], report: Report
) -> Iterator[tuple[int, list[Any]]]:
    for number, batch in batches:
        report.rows_read += len(batch)
        yield number, batch


def _accounted(bodies: Iterable[Body], report: Report) -> Iterator[Body]:
    for body in bodies:
        check_body_payload(body.payload, body.seq)
        report.bodies += 1
        report.bytes += body.size
        report.dots += body.dot_count
        yield body
