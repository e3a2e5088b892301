"""The in-flight window: bounded, lazy, reports in the caller's thread, stops on the first
error after reporting what was in flight."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from airflow_provider_bulkdots.delivery.http.window import InFlightWindow


def test_every_item_is_reported_once_in_the_callers_thread() -> None:
    caller = threading.get_ident()
    done: list[tuple[int, int, int]] = []
    window: InFlightWindow[int, int] = InFlightWindow(3, threading.Event())
    window.run(range(50), lambda n: n * n, lambda n, r: done.append((n, r, threading.get_ident())))
    assert sorted((n, r) for n, r, _ in done) == [(n, n * n) for n in range(50)]
    assert {thread for _, _, thread in done} == {caller}


def test_items_are_pulled_only_as_room_frees_up() -> None:
    pulled = 0
    reported = 0
    most_ahead = 0

    def source() -> Iterator[int]:
        nonlocal pulled, most_ahead
        for n in range(100):
            pulled += 1
            most_ahead = max(most_ahead, pulled - reported)
            yield n

    def on_done(n: int, r: int) -> None:
        nonlocal reported
        reported += 1

    InFlightWindow[int, int](2, threading.Event()).run(source(), lambda n: n, on_done)
    assert reported == 100
    assert most_ahead <= 2 * 2 + 1


def test_an_error_stops_new_work_reports_the_rest_and_is_raised() -> None:
    stop = threading.Event()
    started: list[int] = []
    release = threading.Event()

    def work(n: int) -> int:
        started.append(n)
        if n == 0:
            release.set()
            raise ValueError("first item failed")
        assert release.wait(5), "the others run on only once the first has failed"
        return n

    reported: list[int] = []

    def on_done(n: int, r: int) -> None:
        reported.append(n)

    with pytest.raises(ValueError, match="first item failed"):
        InFlightWindow[int, int](2, stop).run(range(1000), work, on_done)
    assert stop.is_set()
    assert len(started) < 10, "no new item after the error"
    assert set(reported) <= set(started) - {0}


def test_an_error_from_the_source_is_raised_after_the_work_in_flight() -> None:
    """Work that started is finished and reported; work not yet started is cancelled."""

    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise RuntimeError("unreadable input")

    ran: list[int] = []
    reported: list[int] = []

    def work(n: int) -> int:
        ran.append(n)
        return n

    with pytest.raises(RuntimeError, match="unreadable input"):
        InFlightWindow[int, int](4, threading.Event()).run(
            source(), work, lambda n, r: reported.append(n)
        )
    assert sorted(reported) == sorted(ran)
    assert set(ran) <= {1, 2}
