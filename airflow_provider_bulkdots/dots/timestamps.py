"""Timestamps of any accepted form to integer epoch milliseconds, without guessing.

Naive times are read in the configured zone as pandas' ``tz_localize(ambiguous="raise",
nonexistent="raise")`` does: a wall time that does not exist there (a DST gap) or exists
twice (a DST fold) is refused. Epoch numbers that land before 1971 in ``timestamp_unit`` are
refused with a hint: they are almost always another unit or a compact date (``19580329``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from airflow_provider_bulkdots.dots.errors import RowRejected
from airflow_provider_bulkdots.dots.text import DEFAULT_NA_VALUES

_MS_PER_UNIT: dict[str, float] = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_INT_DIVISOR: dict[str, int] = {"us": 1000, "ns": 1_000_000}
_CACHE_LIMIT = 4096  # rows come roughly in time order: recent instants are what repeats
MAX_MILLIS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
# Epoch numbers before this instant (1971-01-01T00:00:00Z) are refused as implausible.
MIN_EPOCH_MILLIS = 31_536_000_000
if TYPE_CHECKING:
    from airflow_provider_bulkdots.dots.options import ReshapeOptions

_RULE_UNPARSEABLE = "must be a datetime, an ISO-8601 string or an epoch number (unit {unit})"
_UTC_SUFFIXES = (" UTC", " GMT", "UTC", "GMT")
_MISSING_TEXT = DEFAULT_NA_VALUES | {"NaT", "nat"}


class TimestampNormaliser:
    """Turns datetimes, dates, ISO-8601 strings and epoch numbers into epoch milliseconds.

    ``timestamp_format`` (a strftime pattern, as pandas' ``format=``) reads text, and integers
    such as ``19580329``, with that pattern instead. Results are memoised per distinct value
    and type: rows of many devices share an instant, and ``True == 1`` must not turn a
    boolean into a timestamp.
    """

    def __init__(
        self,
        field: str,
        unit: str,
        tzinfo: dt.tzinfo,
        timestamp_format: str | None = None,
        na_values: frozenset[str] = _MISSING_TEXT,
    ) -> None:
        self.field = field
        self.unit = unit
        self.tzinfo = tzinfo
        self.timestamp_format = timestamp_format
        self.na_values = na_values | {"NaT"}
        self._cache: dict[object, tuple[type, int]] = {}
        self._utc = getattr(tzinfo, "key", None) in ("UTC", "Etc/UTC") or tzinfo is dt.timezone.utc

    def __call__(self, value: object) -> int:
        try:
            kind, millis = self._cache[value]
            if kind is type(value):
                return millis
        except (KeyError, TypeError):
            pass
        try:
            millis = self._convert(value)
        except RowRejected as error:
            if error.value is value:
                raise
            # a string parsed to a datetime, or a Decimal: report the value as given
            raise self._reject(value, error.rule) from None
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        with contextlib.suppress(TypeError):  # unhashable values are not memoised
            self._cache[value] = (type(value), millis)
        return millis

    def _reject(self, value: object, rule: str) -> RowRejected:
        return RowRejected(self.field, value, rule)

    def _convert(self, value: object) -> int:
        if value is None or _is_missing_marker(value):
            raise self._reject(value, "must not be missing")
        if isinstance(value, bool):
            raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))
        if isinstance(value, int):
            if self.timestamp_format is not None:
                return self._from_format(str(value), value)
            return self._epoch(self._from_int(value), value)
        if isinstance(value, float | Decimal):
            return self._from_number(value)
        if isinstance(value, dt.datetime):
            return self._from_datetime(value)
        if isinstance(value, dt.date):  # a date alone: midnight in the zone
            return self._from_datetime(dt.datetime(value.year, value.month, value.day))
        if isinstance(value, str):
            return self._from_string(value)
        if type(value).__module__ == "numpy":
            return self._from_numpy(value)
        raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))

    def _checked(self, millis: int, value: object) -> int:
        if millis < 0:
            raise self._reject(value, "must not be negative (before 1970)")
        if millis > MAX_MILLIS:
            raise self._reject(value, f"must be before the year 10000 (unit {self.unit})")
        return millis

    def _epoch(self, millis: int, value: object) -> int:
        """An epoch number's milliseconds, refused when implausible for the unit."""
        millis = self._checked(millis, value)
        if millis < MIN_EPOCH_MILLIS:
            instant = (_EPOCH + dt.timedelta(milliseconds=millis)).isoformat()
            raise self._reject(
                value,
                f"as an epoch number in unit {self.unit!r} this is {instant}, before 1971: "
                "set timestamp_unit to the unit the numbers are in, or timestamp_format "
                "(e.g. '%Y%m%d') if they are dates",
            )
        return millis

    def _from_int(self, value: int) -> int:
        if self.unit == "ms":
            return value
        if self.unit == "s":
            return value * 1000
        return value // _INT_DIVISOR[self.unit]

    def _from_number(self, value: float | Decimal) -> int:
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not finite:
            missing = value.is_nan() if isinstance(value, Decimal) else value != value
            raise self._reject(value, "must not be missing" if missing else "must be finite")
        if self.timestamp_format is not None:
            raise self._reject(value, f"must be text in timestamp_format {self.timestamp_format!r}")
        millis = float(value) * _MS_PER_UNIT[self.unit]
        if not -1 < millis <= MAX_MILLIS:
            return self._checked(-1 if millis < 0 else MAX_MILLIS + 1, value)
        return self._epoch(round(millis), value)

    def _from_datetime(self, value: dt.datetime) -> int:
        if type(value).__name__ == "Timestamp" and hasattr(value, "value"):
            return self._from_pandas(value)
        if value.tzinfo is None or value.utcoffset() is None:
            value = self._localised(value)
        delta = value - _EPOCH
        millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return self._checked(millis, value)

    def _from_pandas(self, value: dt.datetime) -> int:
        nanos: int = value.value  # type: ignore[attr-defined]
        if value.tzinfo is not None or self._utc:
            return self._checked(nanos // 1_000_000, value)
        wall = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=nanos // 1000)
        return self._from_datetime(wall)

    def _localised(self, value: dt.datetime) -> dt.datetime:
        """A naive wall time in the zone; refused in a DST gap or fold (pandas: "raise")."""
        first = value.replace(tzinfo=self.tzinfo, fold=0)
        second = value.replace(tzinfo=self.tzinfo, fold=1)
        if first.utcoffset() == second.utcoffset():
            return first
        zone = getattr(self.tzinfo, "key", str(self.tzinfo))
        if first.astimezone(dt.timezone.utc).astimezone(self.tzinfo).replace(tzinfo=None) != value:
            raise self._reject(value, f"does not exist in {zone} (skipped by a DST change)")
        raise self._reject(value, f"is ambiguous in {zone} (repeated by a DST change)")

    def _from_string(self, value: str) -> int:
        text = value.strip()
        if not text or text in self.na_values:
            raise self._reject(value, "must not be missing")
        if self.timestamp_format is not None:
            return self._from_format(text, value)
        if text[0].isdigit() and text.replace(".", "", 1).isdigit() and text.isascii():
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is not None:
                if number == number.to_integral_value():
                    return self._epoch(self._from_int(int(number)), value)
                return self._from_number(number)
        for suffix in _UTC_SUFFIXES:  # "2024-03-01 00:00:00 UTC", as pandas reads it
            if text.endswith(suffix) and text[: -len(suffix)].rstrip()[-1:].isdigit():
                text = text[: -len(suffix)].rstrip() + "+00:00"
                break
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = self._parse_with_pendulum(text, value)
        return self._from_datetime(parsed)

    def _from_format(self, text: str, value: object) -> int:
        assert self.timestamp_format is not None
        try:
            parsed = dt.datetime.strptime(text, self.timestamp_format)
        except ValueError:
            raise self._reject(
                value, f"does not match timestamp_format {self.timestamp_format!r}"
            ) from None
        return self._from_datetime(parsed)

    def _parse_with_pendulum(self, text: str, value: str) -> dt.datetime:
        import pendulum

        try:
            parsed = pendulum.parse(text, tz=None, strict=True)
        except Exception as error:
            raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit)) from error
        if not isinstance(parsed, dt.datetime):
            raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))
        return parsed

    def _from_numpy(self, value: object) -> int:
        kind = getattr(getattr(value, "dtype", None), "kind", "")
        if kind == "M":  # datetime64: read as naive in the configured zone
            if str(value) == "NaT":
                raise self._reject(value, "must not be missing")
            wall = value.astype("datetime64[us]").item()  # type: ignore[attr-defined]
            if not isinstance(wall, dt.datetime):
                raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))
            return self._from_datetime(wall)
        if kind in "iu":
            if self.timestamp_format is not None:
                return self._from_format(str(value), value)
            return self._epoch(self._from_int(int(value)), value)  # type: ignore[call-overload]
        if kind == "f":
            return self._from_number(float(value))  # type: ignore[arg-type]
        raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))


def normaliser_for(options: ReshapeOptions, field: str | None = None) -> TimestampNormaliser:
    """The timestamp reader of ``options`` (its column, unit, zone, format, missing text)."""
    return TimestampNormaliser(
        field or options.timestamp_column,
        options.timestamp_unit,
        options.tzinfo(),
        options.timestamp_format,
        options.text_conventions().na_values,
    )


def _is_missing_marker(value: object) -> bool:
    """NaT (pandas, a datetime subclass) and pandas' NA."""
    name = type(value).__name__
    return name in ("NaTType", "NAType")


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
