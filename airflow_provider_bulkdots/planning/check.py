"""Check a load: read each series back over its span and compare it with the source.

The source's dots come from the very bodies a run builds (:class:`ExpectedDots`); the API's
from the read endpoint (paged, at the token's pace: the hook's
:class:`~..delivery.readback.SeriesReader`). Four kinds of difference, each counted:

- ``missing_dots``: a timestamp of the source the series does not hold;
- ``unexpected_dots``: dots at a timestamp the source does not have (within the span read);
- ``duplicate_timestamps``: timestamps the series holds more than once;
- ``value_mismatches``: a timestamp held, but none of its stored values is the source's.

Within one series the source's last value at a timestamp is the expected one (a later row
of the same instant overrides an earlier, as the API's newest-first reads show it). Pure of
Airflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_bulkdots.delivery.exactly_once.readback import StoredDot
from airflow_provider_bulkdots.dots import Body
from airflow_provider_bulkdots.dots.payload import iter_dots

Series = tuple[str, str]
#: The kinds of difference, each with the count it adds to.
KINDS: dict[str, str] = {
    "missing_dot": "missing_dots",
    "unexpected_dot": "unexpected_dots",
    "duplicate_timestamp": "duplicate_timestamps",
    "value_mismatch": "value_mismatches",
}
#: Relative tolerance of a value comparison (the API stores doubles; JSON numbers round-trip).
VALUE_REL_TOL = 1e-9


class DotsReader(Protocol):
    """What the check reads with: the hook's ``SeriesReader`` (paged, paced)."""

    requests: int

    def dots(self, device: str, variable: str, start_ms: int, end_ms: int) -> list[StoredDot]: ...


@dataclass(frozen=True)
class Window:
    """What to check: series of these devices and variables, dots in ``[start_ms, end_ms]``.

    ``None`` leaves that side open. Without a source, devices, variables and both ends are
    needed (only duplicate timestamps can then be found).
    """

    devices: frozenset[str] | None = None
    variables: frozenset[str] | None = None
    start_ms: int | None = None
    end_ms: int | None = None

    def holds(self, device: str, variable: str, timestamp: int) -> bool:
        """Whether a dot is inside the window."""
        return (
            (self.devices is None or device in self.devices)
            and (self.variables is None or variable in self.variables)
            and (self.start_ms is None or timestamp >= self.start_ms)
            and (self.end_ms is None or timestamp <= self.end_ms)
        )


@dataclass(frozen=True, slots=True)
class Difference:
    """One difference between the source and the API, at one timestamp of one series."""

    kind: str
    device: str
    variable: str
    timestamp: int
    expected: float | None
    stored: tuple[float | None, ...]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready line of the differences file."""
        return {
            "kind": self.kind,
            "device": self.device,
            "variable": self.variable,
            "timestamp": self.timestamp,
            "expected": self.expected,
            "stored": list(self.stored),
        }


@dataclass
class CheckCounts:
    """What a check found and what its reads cost."""

    series: int = 0
    expected_dots: int = 0
    dots_read: int = 0
    read_requests: int = 0
    missing_dots: int = 0
    unexpected_dots: int = 0
    duplicate_timestamps: int = 0
    value_mismatches: int = 0

    def add(self, difference: Difference) -> None:
        """Count one difference under its kind (an unexpected timestamp: each of its dots)."""
        name = KINDS[difference.kind]
        weight = len(difference.stored) if difference.kind == "unexpected_dot" else 1
        setattr(self, name, getattr(self, name) + weight)

    @property
    def differences(self) -> int:
        """Every difference counted, all kinds together."""
        return (
            self.missing_dots
            + self.unexpected_dots
            + self.duplicate_timestamps
            + self.value_mismatches
        )

    def as_dict(self) -> dict[str, int]:
        """The JSON-ready counts (the XCom ``check``)."""
        return {
            "series": self.series,
            "expected_dots": self.expected_dots,
            "missing_dots": self.missing_dots,
            "unexpected_dots": self.unexpected_dots,
            "duplicate_timestamps": self.duplicate_timestamps,
            "value_mismatches": self.value_mismatches,
            "differences": self.differences,
            "read_requests": self.read_requests,
            "dots_read": self.dots_read,
        }


@dataclass
class ExpectedDots:
    """The source's dots per series, each timestamp with its value, inside a window."""

    window: Window = field(default_factory=Window)
    series: dict[Series, dict[int, float | None]] = field(default_factory=dict)

    def add(self, bodies: Iterable[Body]) -> None:
        """Take the dots of bodies a run would send."""
        for body in bodies:
            for dot in iter_dots(body.payload):
                if not isinstance(dot.timestamp, int | float):
                    continue
                timestamp = int(dot.timestamp)
                if self.window.holds(dot.device, dot.variable, timestamp):
                    points = self.series.setdefault((dot.device, dot.variable), {})
                    points[timestamp] = dot_value(dot.dot)

    def spans(self) -> dict[Series, tuple[int, int]]:
        """Each series with the first and last timestamp of its source dots."""
        return {series: (min(points), max(points)) for series, points in self.series.items()}


def dot_value(dot: object) -> float | None:
    """The number of a dot as the bulk endpoint takes it (a number or ``{"value": ...}``)."""
    value = dot.get("value") if isinstance(dot, dict) else dot
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def same_value(expected: float | None, stored: float | None) -> bool:
    """Whether a stored value is the source's (within :data:`VALUE_REL_TOL`)."""
    if expected is None or stored is None:
        return expected is stored
    return math.isclose(expected, stored, rel_tol=VALUE_REL_TOL, abs_tol=0.0)


def compare_series(
    series: Series, expected: Mapping[int, float | None] | None, stored: Sequence[StoredDot]
) -> Iterator[Difference]:
    """The differences of one series, by timestamp; ``expected=None``: duplicates only."""
    device, variable = series
    held: dict[int, list[float | None]] = {}
    for dot in stored:
        held.setdefault(dot.timestamp, []).append(dot.value)
    for timestamp in sorted(set(held) | set(expected or ())):
        values = tuple(held.get(timestamp, ()))
        want = expected.get(timestamp) if expected is not None else None
        for kind in _kinds(timestamp, values, expected):
            yield Difference(kind, device, variable, timestamp, want, values)


def _kinds(
    timestamp: int, values: tuple[float | None, ...], expected: Mapping[int, float | None] | None
) -> list[str]:
    kinds = ["duplicate_timestamp"] if len(values) > 1 else []
    if expected is None:
        return kinds
    if timestamp not in expected:
        kinds.append("unexpected_dot")
    elif not values:
        kinds.append("missing_dot")
    elif not any(same_value(expected[timestamp], value) for value in values):
        kinds.append("value_mismatch")
    return kinds


def run_check(
    reader: DotsReader,
    spans: Mapping[Series, tuple[int, int]],
    expected: Mapping[Series, Mapping[int, float | None]] | None,
    on_difference: Callable[[Difference], None],
) -> CheckCounts:
    """Read every series over its span, compare, report each difference; return the counts."""
    counts = CheckCounts(series=len(spans))
    counts.expected_dots = sum(len(points) for points in (expected or {}).values())
    for series, (low, high) in sorted(spans.items()):
        stored = reader.dots(series[0], series[1], low, high)
        counts.dots_read += len(stored)
        points = None if expected is None else expected.get(series, {})
        for difference in compare_series(series, points, stored):
            counts.add(difference)
            on_difference(difference)
    counts.read_requests = reader.requests
    return counts


def window_spans(window: Window) -> dict[Series, tuple[int, int]]:
    """The series and span of a window checked without a source (everything must be given)."""
    if not window.devices or not window.variables:
        raise ValueError("a check without data needs window_devices and window_variables")
    if window.start_ms is None or window.end_ms is None:
        raise ValueError("a check without data needs window_start and window_end")
    return {
        (device, variable): (window.start_ms, window.end_ms)
        for device in sorted(window.devices)
        for variable in sorted(window.variables)
    }
