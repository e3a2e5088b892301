"""BulkDotsCheckOperator: is everything there? Read the API back and compare with the source.

Takes the same arguments as :class:`~.bulkdots.BulkDotsOperator` (the source is read and
reshaped as the load did), waits out the API's processing delay, reads each series back over
its span with the hook's reader (paged, taking turns of the token's shared pace) and counts
the differences (:mod:`..planning.check`). The load's own arguments that send (resume,
reconcile, ...) are accepted and unused.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_bulkdots.dots import Report, build_bodies
from airflow_provider_bulkdots.exceptions import CheckFailedError, ConfigurationError
from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.planning.check import (
    CheckCounts,
    Difference,
    ExpectedDots,
    Window,
    run_check,
    window_spans,
)
from airflow_provider_bulkdots.planning.differences import DifferencesFile

if TYPE_CHECKING:
    from airflow_provider_bulkdots.compat import Context
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

#: Differences named in the log (every one goes to ``differences_path``).
LOGGED_DIFFERENCES = 20


class BulkDotsCheckOperator(BulkDotsOperator):
    """Check that Ubidots holds exactly the source's dots; fail beyond ``tolerance``.

    ``data`` and the reading options as for the load. ``window_devices``,
    ``window_variables``, ``window_start`` and ``window_end`` (datetime, ISO text or epoch
    ms) narrow the check; with ``data=None`` they name what to check (duplicates only).
    ``processing_delay`` seconds are waited first (the API stores asynchronously).
    Pushes the counts under the XCom key ``check``; differences go to ``differences_path``
    (a local JSON Lines file, 0600). Returns the counts.

    :param data: the source, as the load's ``data`` (templated); ``None``: check only for
        duplicates in the window.
    :param tolerance: how many differences pass the check.
    :param differences_path: a local JSON Lines file (0600) for every difference (templated).
    :param processing_delay: seconds waited first, for the API to store the writes.
    :param window_devices: only these devices (templated).
    :param window_variables: only these variables (templated).
    :param window_start: the window's first instant: datetime, ISO text or epoch ms
        (templated).
    :param window_end: the window's last instant, as ``window_start`` (templated).

    Every other keyword is the load's (:class:`~.bulkdots.BulkDotsOperator`).
    """

    template_fields: Sequence[str] = (
        *BulkDotsOperator.template_fields,
        "differences_path",
        "window_devices",
        "window_variables",
        "window_start",
        "window_end",
    )
    ui_color = "#e3f4d7"

    def __init__(
        self,
        *,
        data: Any = None,
        tolerance: int = 0,
        differences_path: str | None = None,
        processing_delay: float = 5.0,
        window_devices: Sequence[str] | None = None,
        window_variables: Sequence[str] | None = None,
        window_start: Any = None,
        window_end: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(data=data, **kwargs)
        self.tolerance, self.differences_path = tolerance, differences_path
        self.processing_delay = processing_delay
        self.window_devices, self.window_variables = window_devices, window_variables
        self.window_start, self.window_end = window_start, window_end

    def window(self) -> Window:
        """The window from the (rendered) ``window_*`` arguments."""
        return Window(
            devices=frozenset(self.window_devices) if self.window_devices else None,
            variables=frozenset(self.window_variables) if self.window_variables else None,
            start_ms=epoch_ms(self.window_start, "window_start"),
            end_ms=epoch_ms(self.window_end, "window_end"),
        )

    def expected(self, hook: BulkDotsHook, window: Window) -> ExpectedDots:
        """The source's dots inside ``window``: read and reshaped as the load did."""
        # Invalid rows were not sent (skip) or nothing was (fail): expect the valid ones.
        options = hook.body_options(dataclasses.replace(self.reshape_options(), on_invalid="skip"))
        dataset = self.open_input(options)
        expected = ExpectedDots(window)
        expected.add(build_bodies(dataset.rows(), options, Report(line_of=dataset.line_of)))
        self.log.info(
            "Source %s: %d dots in %d series.",
            dataset.description,
            sum(len(points) for points in expected.series.values()),
            len(expected.series),
        )
        return expected

    def wait_for_processing(self, seconds: float) -> None:
        """Wait out the API's processing delay (tests pass 0)."""
        if seconds > 0:
            self.log.info("Waiting %.1f s for the API to process the writes.", seconds)
            time.sleep(seconds)

    def execute(self, context: Context) -> dict[str, Any]:  # type: ignore[override]
        hook = self.make_hook()
        window = self.window()
        if self.data is None:
            spans, expected = window_spans(window), None
        else:
            source = self.expected(hook, window)
            spans, expected = source.spans(), source.series
        self.wait_for_processing(self.processing_delay)
        try:
            with DifferencesFile(self.differences_path) as out:
                counts = run_check(hook.get_reader(), spans, expected, self._reporting(out.write))
        finally:
            hook.close()
        result = self._result(counts)
        context["ti"].xcom_push(key="check", value=result)
        if not result["passed"]:
            raise CheckFailedError(result, self.tolerance)
        return result

    def _reporting(self, write: Callable[[Difference], None]) -> Callable[[Difference], None]:
        logged = [0]

        def report(difference: Difference) -> None:
            write(difference)
            if logged[0] < LOGGED_DIFFERENCES:
                logged[0] += 1
                self.log.warning("Difference: %s", difference.as_dict())

        return report

    def _result(self, counts: CheckCounts) -> dict[str, Any]:
        result: dict[str, Any] = counts.as_dict()
        result["tolerance"] = self.tolerance
        result["passed"] = counts.differences <= self.tolerance
        self.log.info(
            "Check: %d series, %d dots expected; %d missing, %d unexpected, %d duplicate "
            "timestamps, %d value mismatches. Read cost: %d requests, %d dots read.",
            counts.series,
            counts.expected_dots,
            counts.missing_dots,
            counts.unexpected_dots,
            counts.duplicate_timestamps,
            counts.value_mismatches,
            counts.read_requests,
            counts.dots_read,
        )
        return result


def epoch_ms(value: Any, name: str) -> int | None:
    """Epoch milliseconds of a window bound: ``None``, an int (ms), a datetime or ISO text."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{name} must be a datetime, ISO text or epoch ms", setting=name)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str):
        try:
            value = pendulum.parse(value)
        except ValueError as exc:  # pendulum's ParserError is one
            message = f"{name}: cannot read {value!r}: {exc}"
            raise ConfigurationError(message, setting=name) from None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ConfigurationError(f"{name} must carry a timezone, got {value!r}", setting=name)
        return int(value.timestamp() * 1000)
    raise ConfigurationError(f"{name} must be a datetime, ISO text or epoch ms", setting=name)
