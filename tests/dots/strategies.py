"""Hypothesis strategies for the core's inputs, each cell tagged with what it must become.

Every generated cell carries its raw form (what goes into a row) and its meaning: a valid
reading with its expected JSON number, a missing reading, or an invalid one. The tests'
reference model reads only the tags, never the core's code.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pendulum
from hypothesis import strategies as st

try:
    import numpy as np
except ImportError:  # pragma: no cover - numpy comes with the pandas extra
    np = None  # type: ignore[assignment]

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
MAX_MS = 4_000_000_000_000  # year 2096
MIN_MS = 31_536_000_000  # 1971-01-01: epoch numbers before it are refused as implausible

VALID_DEVICES = ("dev-1", "dev_2", "aa:bb:cc:dd:ee:ff", "d", "Sensor.7", "ünï-cødé")
BAD_DEVICES = ("", "has space", "tab\there", "x" * 101, "new\nline")
VARIABLES = ("temperature", "humidity", "co2")


@dataclass(frozen=True)
class Cell:
    """A raw input value and what it means: kind "ok" (with ``expected``), "missing" or "bad"."""

    raw: Any
    kind: str
    expected: Any = None


# ---------------------------------------------------------------------------------- numbers

finite_floats = st.floats(allow_nan=False, allow_infinity=False, width=64)
ints = st.integers(min_value=-(2**53), max_value=2**53)


def _decimal_cell(value: Decimal) -> Cell:
    expected = int(value) if value == value.to_integral_value() else float(value)
    return Cell(value, "ok", expected)


_ok_numbers = [
    finite_floats.map(lambda x: Cell(x, "ok", x)),
    ints.map(lambda n: Cell(n, "ok", n)),
    ints.map(lambda n: Cell(str(n), "ok", n)),
    ints.map(lambda n: Cell(f" {n} ", "ok", n)),
    finite_floats.map(lambda x: Cell(repr(x), "ok", float(repr(x)))),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12)
    .filter(lambda d: d.is_finite())
    .map(_decimal_cell),
    st.booleans().map(lambda b: Cell(b, "ok", 1 if b else 0)),
]
if np is not None:
    _ok_numbers += [
        finite_floats.map(lambda x: Cell(np.float64(x), "ok", x)),
        st.floats(width=32, allow_nan=False, allow_infinity=False).map(
            # the shortest decimal that reads back as the float32: 21.3, not 21.299999237...
            lambda x: Cell(np.float32(x), "ok", float(str(np.float32(x))))
        ),
        st.integers(-(2**62), 2**62).map(lambda n: Cell(np.int64(n), "ok", n)),
        st.integers(0, 2**31).map(lambda n: Cell(np.uint32(n), "ok", n)),
        st.booleans().map(lambda b: Cell(np.bool_(b), "ok", 1 if b else 0)),
    ]
ok_number = st.one_of(*_ok_numbers)

# pandas' default na_values, a sample
_missing_raw: list[Any] = [None, "", "   ", math.nan, Decimal("NaN"), "nan", "NA", "null"]
_missing_raw += ["N/A", "#N/A", "<NA>", "NULL", "None", "-nan", "n/a"]
if np is not None:
    _missing_raw += [np.float64("nan"), np.float32("nan")]
missing_reading = st.sampled_from(_missing_raw).map(lambda raw: Cell(raw, "missing"))

_always_bad: list[Any] = [
    "abc",
    "1,5",
    "12 kg",
    "yes",
    "1_000",
    math.inf,
    -math.inf,
    "inf",
    "-Infinity",
    Decimal("Infinity"),
    [1],
    {"value": 1},
    dt.date(2024, 1, 1),
]
if np is not None:
    _always_bad += [np.float64("inf"), np.str_("x")]
always_bad_reading = st.sampled_from(_always_bad).map(lambda raw: Cell(raw, "bad"))

#: A wide-layout cell: missing readings are fine there.
wide_reading = st.one_of(ok_number, ok_number, ok_number, missing_reading, always_bad_reading)
#: A long-layout value: missing is invalid there.
long_value = st.one_of(
    ok_number,
    ok_number,
    ok_number,
    always_bad_reading,
    st.sampled_from([None, "", math.nan]).map(lambda raw: Cell(raw, "bad")),
)

# ------------------------------------------------------------------------------- timestamps


def _forms_of(ms: int) -> list[Cell]:
    instant = EPOCH + dt.timedelta(milliseconds=ms)
    forms = [
        Cell(ms, "ok", ms),
        Cell(float(ms), "ok", ms),
        Cell(str(ms), "ok", ms),
        Cell(instant, "ok", ms),
        Cell(instant.astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30))), "ok", ms),
        Cell(instant.isoformat().replace("+00:00", "Z"), "ok", ms),
        Cell(instant.astimezone(dt.timezone(dt.timedelta(hours=-3))).isoformat(), "ok", ms),
        Cell(instant.replace(tzinfo=None).isoformat(), "ok", ms),  # naive: read in UTC
        Cell(instant.replace(tzinfo=None), "ok", ms),
        Cell(pendulum.instance(instant), "ok", ms),
    ]
    if np is not None:
        forms += [
            Cell(np.int64(ms), "ok", ms),
            Cell(np.datetime64(ms, "ms"), "ok", ms),
        ]
    return forms


@st.composite
def ok_timestamp(draw: st.DrawFn) -> Cell:
    ms = draw(st.one_of(st.integers(MIN_MS, MIN_MS + 3), st.integers(MIN_MS, MAX_MS)))
    return draw(st.sampled_from(_forms_of(ms)))


_bad_timestamps: list[Any] = [
    -1,
    -1_000,
    -1.5,
    "garbage",
    "2024-13-45T00:00:00",
    "",
    math.nan,
    math.inf,
    None,
    True,
    False,
    [1],
    5,  # an epoch number before 1971: another unit, or a compact date
    "19580329",
]
bad_timestamp = st.sampled_from(_bad_timestamps).map(lambda raw: Cell(raw, "bad"))
any_timestamp = st.one_of(ok_timestamp(), ok_timestamp(), ok_timestamp(), bad_timestamp)
ok_timestamp_values = st.one_of(st.integers(MIN_MS, MIN_MS + 3), st.integers(MIN_MS, MAX_MS))

# ----------------------------------------------------------------------------------- labels

ok_device = st.one_of(
    st.sampled_from(VALID_DEVICES).map(lambda d: Cell(d, "ok", d)),
    st.integers(0, 5).map(lambda n: Cell(n, "ok", str(n))),
)
bad_device = st.sampled_from([*BAD_DEVICES, None, 1.5, True]).map(lambda d: Cell(d, "bad"))
any_device = st.one_of(ok_device, ok_device, ok_device, ok_device, bad_device)

ok_variable = st.sampled_from((*VARIABLES, "x", "a:b", "v-" + "w" * 98)).map(
    lambda v: Cell(v, "ok", v)
)
bad_variable = st.sampled_from(["", "two words", "y" * 101, "timestamp", None]).map(
    lambda v: Cell(v, "bad")
)
any_variable = st.one_of(ok_variable, ok_variable, ok_variable, bad_variable)

# ---------------------------------------------------------------------------------- context

SITE_ALPHABET = 'abcXYZ019 é€😀-_/"\\\t'

ok_site = st.one_of(
    st.none().map(lambda _: Cell(None, "ok", None)),
    st.just(Cell("", "ok", None)),
    st.text(alphabet=SITE_ALPHABET, max_size=30).map(lambda s: Cell(s, "ok", s or None)),
    st.integers(-1000, 1000).map(lambda n: Cell(n, "ok", n)),
)
bad_site = st.sampled_from(["é" * 600, "z" * 1100]).map(lambda s: Cell(s, "bad"))
any_site = st.one_of(ok_site, ok_site, ok_site, bad_site)
