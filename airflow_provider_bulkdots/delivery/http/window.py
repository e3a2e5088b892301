"""A bounded in-flight window: run work on items from ``max_in_flight`` threads, lazily.

Items are pulled from their iterable only as room frees up (at most ``2 * max_in_flight``
pulled and not yet reported), so a long stream never sits in memory. Each result is handed to
``on_done`` in the caller's thread, in completion order. An exception from the source, from a
work item or from ``on_done`` stops the window: no new item starts, the ``stop`` event is set
(work that waits should watch it), items in flight finish and are still reported, then the
first exception is raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

#: The shortest time the window waits for a result before it ticks again.
MIN_TICK_SECONDS = 0.05


class InFlightWindow(Generic[Item, Result]):
    """Runs ``work(item)`` for each item with at most ``max_in_flight`` at once.

    ``tick()`` runs in the caller's thread about every ``tick_seconds`` while work is in
    flight (progress lines).
    """

    def __init__(
        self,
        max_in_flight: int,
        stop: threading.Event,
        tick: Callable[[], None] = lambda: None,
        tick_seconds: float = 30.0,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.stop = stop
        self._tick = tick
        self._tick_seconds = max(tick_seconds, MIN_TICK_SECONDS)
        self._error: BaseException | None = None

    def run(
        self,
        items: Iterable[Item],
        work: Callable[[Item], Result],
        on_done: Callable[[Item, Result], None],
    ) -> None:
        """Run every item (or until the first error); raise that error at the end."""
        self._error = None
        source = iter(items)
        pending: dict[Future[Result], Item] = {}
        pool = ThreadPoolExecutor(self.max_in_flight, thread_name_prefix="bulkdots")
        try:
            exhausted = False
            while True:
                exhausted = exhausted or self._fill(source, pending, pool, work)
                if not pending:
                    break
                done, _ = wait(pending, timeout=self._tick_seconds, return_when=FIRST_COMPLETED)
                for future in done:
                    self._report(pending.pop(future), future, on_done)
                if self._error is not None:
                    pending = {f: item for f, item in pending.items() if not f.cancel()}
                self._tick()
        except BaseException as exc:
            self._fail(exc)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if self._error is not None:
            raise self._error

    def _fill(
        self,
        source: Iterator[Item],
        pending: dict[Future[Result], Item],
        pool: ThreadPoolExecutor,
        work: Callable[[Item], Result],
    ) -> bool:
        """Start items until the window is full; whether the source is exhausted."""
        while self._error is None and len(pending) < 2 * self.max_in_flight:
            try:
                item = next(source)
            except StopIteration:
                return True
            except BaseException as exc:
                self._fail(exc)
                return True
            pending[pool.submit(work, item)] = item
        return False

    def _report(
        self, item: Item, future: Future[Result], on_done: Callable[[Item, Result], None]
    ) -> None:
        if future.cancelled():
            return
        try:
            on_done(item, future.result())
        except BaseException as exc:
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self._error is None:
            self._error = exc
        self.stop.set()
