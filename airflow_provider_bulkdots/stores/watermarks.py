"""Watermarks for incremental loads: per device and variable, the newest timestamp the API
acknowledged.

With ``incremental=True`` a run reads the watermarks of its Ubidots asset, leaves out every
reading at or before its device's and variable's watermark, and sends the rest. With a
``lag``, readings up to ``lag`` behind the watermark pass too, and are sent only when the API
does not hold them (:mod:`..planning.late`). When the run
has sent everything and every body was acknowledged, each watermark moves to the newest
timestamp sent. When it stops early (a delivery error, a lost reply), a watermark moves only up
to the newest reading of its series below the oldest one in a body not acknowledged, and only
when every device's rows came in time order (else not at all). Bodies are read back from
their exact bytes (:func:`..dots.payload.series_spans`), so a watermark never covers a dot the
API did not acknowledge.

Gaps are remembered: the spans ``[oldest, newest]`` of each series in the bodies the API
acknowledged *beyond* a body it did not (a body that kept failing, a device answered 423) are
kept beside the watermark, and the next run leaves out the readings inside them too. So the
next run sends the gap and what is new, and nothing else that was acknowledged. A span that
overlaps one of a body not acknowledged is not kept (its readings are sent again by the next
run: the watermark's rule). When a run completes with every body acknowledged, its spans are
folded into the watermark; spans at or below a watermark are dropped.

The watermarks live in the asset's state store (``context["asset_state_store"]``, Airflow
3.3+) under the key ``bulkdots_watermarks``; on older Airflow in a Variable named
``bulkdots_watermark:<hash of the asset's URI>``. Either way the value is JSON:
``{"variables": {device: {variable: epoch ms}}, "acknowledged": {device: {variable: [[from ms,
to ms], ...]}}}`` (``acknowledged``: the gaps' neighbours, absent when there are none).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.dots import Body, ReshapeOptions
from airflow_provider_bulkdots.dots.errors import RowRejected
from airflow_provider_bulkdots.dots.payload import series_spans
from airflow_provider_bulkdots.dots.timestamps import TimestampNormaliser
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.planning.late import LateCounts, without_held_late
from airflow_provider_bulkdots.sources.lines import LineMap

log = logging.getLogger(__name__)
STATE_KEY = "bulkdots_watermarks"
VARIABLE_PREFIX = "bulkdots_watermark:"


class WatermarkStore(Protocol):
    """Where one asset's watermarks are kept."""

    def load(self) -> Mapping[str, Any] | None: ...
    def save(self, value: dict[str, Any]) -> None: ...


class AssetStateWatermarks:
    """The asset's own state store (Airflow 3.3+)."""

    def __init__(self, accessor: Any) -> None:
        self.accessor = accessor

    def load(self) -> Mapping[str, Any] | None:
        value = self.accessor.get(STATE_KEY)
        return value if isinstance(value, Mapping) else None

    def save(self, value: dict[str, Any]) -> None:
        self.accessor.set(STATE_KEY, value)


class VariableWatermarks:
    """An Airflow Variable per asset: the fallback where the asset state store is missing."""

    def __init__(self, asset_uri: str) -> None:
        digest = hashlib.sha256(asset_uri.encode()).hexdigest()[:32]
        self.key = VARIABLE_PREFIX + digest
        self.asset_uri = asset_uri

    def load(self) -> Mapping[str, Any] | None:
        from airflow_provider_bulkdots.compat import Variable

        raw = Variable.get(self.key, default=None)
        value = json.loads(raw) if raw else None
        return value if isinstance(value, Mapping) else None

    def save(self, value: dict[str, Any]) -> None:
        from airflow_provider_bulkdots.compat import Variable

        description = f"airflow-provider-bulkdots watermarks of {self.asset_uri}"
        Variable.set(self.key, json.dumps(value), description=description)


Series = tuple[str, str]
"""A device and one of its variables: what a watermark is kept for."""
Ranges = dict[Series, tuple[int, int]]
Spans = dict[Series, list[tuple[int, int]]]
"""Per series, spans of instants whose readings the API acknowledged beyond its watermark."""


class Watermarks:
    """Filters rows by the stored watermarks and advances them over acknowledged bodies.

    A watermark is kept per device and variable, so a body boundary that splits one instant's
    readings of a device between two bodies is tracked exactly.
    """

    def __init__(self, store: WatermarkStore, options: ReshapeOptions, lag_ms: int = 0) -> None:
        if options.layout == "records":
            raise ConfigurationError("incremental=True needs the wide or long layout")
        self.store = store
        self.options = options
        self.lag_ms = lag_ms  # readings this far behind a watermark are looked at again
        loaded = store.load() or {}
        self.stored = _flatten(loaded)
        self.spans = _flatten_spans(loaded)
        self._by_device: dict[str, dict[str, int]] = {}
        for (device, variable), millis in self.stored.items():
            self._by_device.setdefault(device, {})[variable] = millis
        self._spans_of: dict[str, dict[str, list[tuple[int, int]]]] = {}
        for (device, variable), spans in self.spans.items():
            self._spans_of.setdefault(device, {})[variable] = spans
        #: Per body (seq) acknowledged except some devices (423): those devices.
        self._held_devices: dict[int, set[str]] = {}
        self._timestamp = _normaliser(options)
        self._reserved = options.reserved_columns()
        self._newest_read: dict[str, int] = {}
        self.in_time_order = True
        self.rows_skipped = 0
        self._ranges: dict[int, Ranges] = {}
        self._acknowledged: set[int] = set()
        self._exhausted = False
        # which input row each row passed on is (rows left out shift the two apart)
        self._input_rows = LineMap()

    def wrap(self, dataset: Any) -> Any:
        """``dataset`` with only the readings newer than their watermark, fingerprinted so."""
        from airflow_provider_bulkdots.sources import Dataset

        fingerprint = f"{dataset.fingerprint}|{self.digest()}"
        return Dataset(
            f"{dataset.description} (incremental)",
            hashlib.sha256(fingerprint.encode()).hexdigest(),
            lambda: self.keep(dataset.rows()),
            lines=dataset.lines,  # by the rows' numbers in the input, kept by ``keep``
            input_rows=self._input_rows,
        )

    def digest(self) -> str:
        """A hash of the watermarks this run filters by."""
        marks = {**_nest(self.stored, self.spans), "lag_ms": self.lag_ms}
        return hashlib.sha256(json.dumps(marks, sort_keys=True).encode()).hexdigest()

    # -- rows ------------------------------------------------------------------------------

    def keep(self, rows: Iterator[Any]) -> Iterator[Any]:
        """Each row without its readings at or before their watermark; a row left without
        readings is dropped; rows that cannot be read pass to the core, which names them.
        Each row passed on is marked with its number in the input, so rejections name it."""
        self._input_rows.reset()
        passed = 0
        for number, row in enumerate(rows, start=1):
            found = self._read(row)
            if found is not None:
                row = self._without_sent(row, *found)
                if row is None:
                    self.rows_skipped += 1
                    continue
            passed += 1
            self._input_rows.mark(passed, number)
            yield row

    def _without_sent(self, row: Any, device: str, millis: int) -> Any:
        """The row without its readings already sent, or None when none is left."""
        if millis < self._newest_read.get(device, -1):
            self.in_time_order = False
        else:
            self._newest_read[device] = millis
        marks = self._by_device.get(device) or {}
        spans = self._spans_of.get(device) or {}
        if not spans and (not marks or millis > max(marks.values()) - self.lag_ms):
            return row
        return self._newer_readings(row, marks, millis, spans)

    def _read(self, row: Any) -> tuple[str, int] | None:
        if not isinstance(row, Mapping):
            return None
        options = self.options
        device = options.device if options.device is not None else row.get(options.device_column)
        if not isinstance(device, str):
            return None
        try:
            return device, self._timestamp(row.get(options.timestamp_column))
        except RowRejected:
            return None

    def _newer_readings(
        self,
        row: Mapping[str, Any],
        marks: dict[str, int],
        millis: int,
        spans: dict[str, list[tuple[int, int]]],
    ) -> Any:
        """The row without readings already sent, or None when none is left."""
        options = self.options

        def sent_already(name: str) -> bool:
            return millis <= marks.get(name, -1) - self.lag_ms or _within(spans.get(name), millis)

        if options.layout == "long":
            return None if sent_already(str(row.get(options.variable_column))) else row
        variables = options.variables or [key for key in row if key not in self._reserved]
        sent = {name for name in variables if sent_already(name)}
        if not sent:
            return row
        if all(name in sent or _is_empty(row.get(name)) for name in variables):
            return None
        return {key: value for key, value in row.items() if key not in sent}

    # -- bodies ----------------------------------------------------------------------------

    def unheld(
        self, bodies: Iterator[Body], reader_of: Callable[[], SeriesReader], counts: LateCounts
    ) -> Iterator[Body]:
        """With a lag, the bodies without the late readings the API already holds."""
        if not self.lag_ms:
            return bodies
        return without_held_late(bodies, self.stored, reader_of, counts)

    def track(self, bodies: Iterator[Body]) -> Iterator[Body]:
        """Pass the bodies on, noting the instants each holds."""
        for body in bodies:
            self._ranges[body.seq] = series_spans(body.payload)
            yield body
        self._exhausted = True

    # -- saving ----------------------------------------------------------------------------

    def save(
        self, finished: Iterable[int], held: Mapping[int, Iterable[str]] | None = None
    ) -> None:
        """Store the watermarks advanced over the ``finished`` bodies (by seq: acknowledged in
        this try or an earlier one), and the spans acknowledged beyond them, if any changed;
        re-read first, merged. ``held``: bodies acknowledged but for some devices (423)."""
        self._held_devices = {seq: set(devices) for seq, devices in (held or {}).items()}
        self._acknowledged = set(finished) | set(self._held_devices)
        advanced = self.advanced()
        spans = self.acknowledged_spans()
        complete = self._complete()
        if not advanced and not spans and not (complete and self.spans):
            return
        loaded = self.store.load() or {}
        merged, merged_spans = _flatten(loaded), _flatten_spans(loaded)
        for series, millis in advanced.items():
            merged[series] = max(merged.get(series, -1), millis)
        for series, found in spans.items():
            merged_spans.setdefault(series, []).extend(found)
        if complete:  # every reading read was acknowledged, this run or before: no gap left
            for series, found in merged_spans.items():
                merged[series] = max([merged.get(series, -1), *(high for _, high in found)])
            merged_spans = {}
        self.store.save(_nest(merged, _pruned(merged_spans, merged)))
        log.info(
            "Watermarks advanced for %d series (device, variable); acknowledged spans kept "
            "beyond a gap for %d series",
            len(advanced),
            len(spans),
        )

    def _complete(self) -> bool:
        """Whether the run read everything and every body was acknowledged whole."""
        whole = self._acknowledged - set(self._held_devices)
        return self._exhausted and whole.issuperset(self._ranges)

    def _acked_series(self, seq: int, series: Series) -> bool:
        held = self._held_devices.get(seq)
        return seq in self._acknowledged and (held is None or series[0] not in held)

    def acknowledged_spans(self) -> Spans:
        """Per series, the spans of acknowledged bodies that overlap no body not acknowledged
        (what the next run leaves out beyond the watermark)."""
        unacked: Spans = {}
        for seq, ranges in self._ranges.items():
            for series, span in ranges.items():
                if not self._acked_series(seq, series):
                    unacked.setdefault(series, []).append(span)
        if not unacked:
            return {}
        found: Spans = {}
        for seq, ranges in self._ranges.items():
            for series, (low, high) in ranges.items():
                others = unacked.get(series, [])
                if not others or not self._acked_series(seq, series):
                    continue
                if not any(low <= o_high and o_low <= high for o_low, o_high in others):
                    found.setdefault(series, []).append((low, high))
        return found

    def advanced(self) -> dict[Series, int]:
        """Where each watermark moves: to the newest instant of its series such that every
        reading of the series up to it was acknowledged (all of them when the run completed).

        Without completion this relies on time order: a series' readings not yet sent are
        then newer than those sent, so only the bodies not acknowledged bound the watermark.
        """
        complete = self._complete()
        if not complete and not self.in_time_order:
            log.warning("Rows were not in time order: watermarks stay until a run completes")
            return {}
        unsent: dict[Series, int] = {}  # per series, its oldest reading in a body not acked
        for seq, ranges in self._ranges.items():
            for series, (low, _) in ranges.items():
                if not self._acked_series(seq, series):
                    unsent[series] = min(unsent.get(series, low), low)
        newest: dict[Series, int] = {}
        for seq, ranges in self._ranges.items():
            for series, (low, high) in ranges.items():
                if self._acked_series(seq, series):
                    limit = unsent.get(series)
                    certain = high if limit is None or high < limit else low
                    if limit is None or certain < limit:
                        newest[series] = max(newest.get(series, -1), certain)
        return {key: ms for key, ms in newest.items() if ms > self.stored.get(key, -1)}


def _normaliser(options: ReshapeOptions) -> TimestampNormaliser:
    """The core's own timestamp reader for ``options`` (with its reading conventions, such
    as a timestamp_format, where the core has them), so rows are filtered as they are read."""
    from airflow_provider_bulkdots.dots import timestamps

    for_options = getattr(timestamps, "normaliser_for", None)
    if for_options is not None:
        return for_options(options)
    return TimestampNormaliser(options.timestamp_column, options.timestamp_unit, options.tzinfo())


def _is_empty(value: Any) -> bool:
    """A cell that holds no reading (the core counts it as missing)."""
    return value is None or value == "" or (isinstance(value, float) and value != value)


def _within(spans: list[tuple[int, int]] | None, millis: int) -> bool:
    return bool(spans) and any(low <= millis <= high for low, high in spans or ())


def _flatten_spans(value: Mapping[str, Any]) -> Spans:
    acknowledged = value.get("acknowledged") or {}
    return {
        (device, variable): [(int(low), int(high)) for low, high in spans]
        for device, per_variable in acknowledged.items()
        for variable, spans in per_variable.items()
    }


def _pruned(spans: Spans, marks: Mapping[Series, int]) -> Spans:
    """Spans above their watermark only, overlapping ones merged, in order."""
    kept: Spans = {}
    for series, found in spans.items():
        mark = marks.get(series, -1)
        merged: list[tuple[int, int]] = []
        for low, high in sorted(span for span in found if span[1] > mark):
            if merged and low <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        if merged:
            kept[series] = merged
    return kept


def _flatten(value: Mapping[str, Any]) -> dict[Series, int]:
    variables = value.get("variables") or {}
    return {
        (device, variable): int(millis)
        for device, per_variable in variables.items()
        for variable, millis in per_variable.items()
    }


def _nest(flat: Mapping[Series, int], spans: Spans | None = None) -> dict[str, Any]:
    variables: dict[str, dict[str, int]] = {}
    for (device, variable), millis in sorted(flat.items()):
        variables.setdefault(device, {})[variable] = millis
    nested: dict[str, Any] = {"variables": variables}
    if spans:
        acknowledged: dict[str, dict[str, list[list[int]]]] = {}
        for (device, variable), found in sorted(spans.items()):
            acknowledged.setdefault(device, {})[variable] = [[low, high] for low, high in found]
        nested["acknowledged"] = acknowledged
    return nested


class NoWatermarks:
    """Stands in for Watermarks when the load is not incremental: changes nothing."""

    def unheld(self, bodies: Iterator[Body], reader_of: Any, counts: Any) -> Iterator[Body]:
        return bodies

    def wrap(self, dataset: Any) -> Any:
        return dataset

    def track(self, bodies: Iterator[Body]) -> Iterator[Body]:
        return bodies

    def save(self, finished: Iterable[int], held: Any = None) -> None:
        pass


def watermark_store(context: Any, asset: Any) -> WatermarkStore:
    """The asset's state store where Airflow has one (3.3+), else a Variable."""
    accessors = context.get("asset_state_store") if hasattr(context, "get") else None
    if accessors is not None:
        try:
            return AssetStateWatermarks(accessors[asset])
        except (KeyError, ValueError):
            pass
    return VariableWatermarks(str(asset.uri))
