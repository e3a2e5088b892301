"""Timestamps of any accepted form to integer epoch milliseconds."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from decimal import Decimal, InvalidOperation

from airflow_provider_bulkdots.dots.errors import RowRejected

_MS_PER_UNIT: dict[str, float] = {"s": 1000.0, "ms": 1.0, "us": 1e-3, "ns": 1e-6}
_INT_DIVISOR: dict[str, int] = {"us": 1000, "ns": 1_000_000}
_CACHE_LIMIT = 4096  # rows come roughly in time order: recent instants are what repeats
MAX_MILLIS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_RULE_UNPARSEABLE = "must be a datetime, an ISO-8601 string or an epoch number (unit {unit})"


class TimestampNormaliser:
    """Turns datetimes, ISO-8601 strings and epoch numbers into epoch milliseconds.

    Results are memoised per distinct value and type: rows of many devices share an
    instant, and ``True == 1`` must not turn a boolean into a timestamp.
    """

    def __init__(self, field: str, unit: str, tzinfo: dt.tzinfo) -> None:
        self.field = field
        self.unit = unit
        self.tzinfo = tzinfo
        self._cache: dict[object, tuple[type, int]] = {}

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
        if isinstance(value, bool) or value is None:
            raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))
        if isinstance(value, int):
            return self._checked(self._from_int(value), value)
        if isinstance(value, float | Decimal):
            return self._from_number(value)
        if isinstance(value, dt.datetime):
            return self._from_datetime(value)
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

    def _from_int(self, value: int) -> int:
        if self.unit == "ms":
            return value
        if self.unit == "s":
            return value * 1000
        return value // _INT_DIVISOR[self.unit]

    def _from_number(self, value: float | Decimal) -> int:
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not finite:
            raise self._reject(value, "must be finite")
        millis = float(value) * _MS_PER_UNIT[self.unit]
        if not -1 < millis <= MAX_MILLIS:
            return self._checked(-1 if millis < 0 else MAX_MILLIS + 1, value)
        return self._checked(round(millis), value)

    def _from_datetime(self, value: dt.datetime) -> int:
        if value.tzinfo is None or value.utcoffset() is None:
            value = value.replace(tzinfo=self.tzinfo)
        delta = value - _EPOCH
        millis = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
        return self._checked(millis, value)

    def _from_string(self, value: str) -> int:
        text = value.strip()
        if not text:
            raise self._reject(value, "must not be empty")
        if text[0].isdigit() and text.replace(".", "", 1).isdigit():
            try:
                number = Decimal(text)
            except InvalidOperation:
                number = None
            if number is not None:
                if number == number.to_integral_value():
                    return self._checked(self._from_int(int(number)), value)
                return self._from_number(number)
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            parsed = self._parse_with_pendulum(text, value)
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
            text = str(value)
            if text == "NaT":
                raise self._reject(value, "must not be NaT")
            return self._from_string(text)
        if kind in "iu":
            return self._checked(self._from_int(int(value)), value)  # type: ignore[call-overload]
        if kind == "f":
            return self._from_number(float(value))  # type: ignore[arg-type]
        raise self._reject(value, _RULE_UNPARSEABLE.format(unit=self.unit))


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
