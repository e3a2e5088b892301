"""The pipeline over large inputs: batch boundaries, laziness, density and packing."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import msgspec
import numpy as np
import pytest

from airflow_provider_bulkdots.dots import (
    InvalidRowsError,
    Report,
    ReshapeOptions,
    build_bodies,
)
from tests.dots.helpers import (
    Expected,
    assert_every_property_holds,
    assert_valid_bodies,
    decode_dots,
)

BATCH = 2048
START_MS = 1_704_067_200_000
MINUTE = 60_000
VARIABLES = ("temperature", "humidity", "pressure")


class CountingRows:
    """An iterable of generated rows that records how many were pulled."""

    def __init__(self, make_row: Any, total: int) -> None:
        self.make_row = make_row
        self.total = total
        self.pulled = 0

    def __iter__(self) -> Iterator[Any]:
        for number in range(self.total):
            self.pulled += 1
            yield self.make_row(number)


def mixed_wide_input(n_rows: int, seed: int) -> tuple[list[dict[str, Any]], Expected]:
    """Rows crossing several batches: clean batches (fast path), a batch with a bad row in
    its middle, slow-path cells (Decimal, str, bool, numpy, missing) and int device ids."""
    rnd = random.Random(seed)
    devices = ["dev-a", "dev-b", "aa:bb:cc:dd:ee:ff", 17, "ünï"]
    rows: list[dict[str, Any]] = []
    expected = Expected()
    for index in range(n_rows):
        number = index + 1
        batch, offset = divmod(index, BATCH)
        device = devices[index % len(devices)] if batch in (1, 3) else devices[index % 3]
        timestamp = START_MS + (index // len(devices)) * MINUTE
        cells: dict[str, Any] = {}
        meaning: dict[str, Any] = {}
        for variable in VARIABLES:
            value = round(rnd.uniform(-50, 150), rnd.randint(0, 4))
            cells[variable], meaning[variable] = value, value
        if batch == 1:  # slow path: odd types, and a bad row in the middle of the batch
            kind = offset % 7
            if kind == 1:
                cells["humidity"] = Decimal(str(meaning["humidity"]))
            elif kind == 2:
                cells["pressure"] = str(meaning["pressure"])
            elif kind == 3:
                cells["temperature"], meaning["temperature"] = True, 1
            elif kind == 4:
                cells["humidity"] = np.float64(meaning["humidity"])
            elif kind == 5:
                cells["pressure"], meaning["pressure"] = None, None
        if batch == 2 and offset % 5 == 0:  # missing cells the fast path can take
            cells["humidity"], meaning["humidity"] = None, None
        bad_field = None
        if number in (BATCH + BATCH // 2, BATCH + BATCH // 2 + 1):
            cells["temperature"], bad_field = "ERR", "temperature"
        elif number == 3 * BATCH + 7:
            cells["humidity"], bad_field = math.inf, "humidity"
        elif number == 3 * BATCH + 8:
            bad_field = "timestamp"
        row = {"device": device, "timestamp": timestamp if bad_field != "timestamp" else -5}
        row.update(cells)
        rows.append(row)
        if bad_field:
            expected.bad_rows[number] = {bad_field}
            continue
        for variable, value in meaning.items():
            if value is None:
                expected.missing += 1
            else:
                expected.dots.append((str(device), variable, timestamp, value, None))
    return rows, expected


@pytest.mark.parametrize("max_body_bytes", [200, 1000, 10_000])
def test_wide_input_across_batches(max_body_bytes: int) -> None:
    rows, expected = mixed_wide_input(4 * BATCH + 123, seed=max_body_bytes)
    options = ReshapeOptions(max_body_bytes=max_body_bytes, on_invalid="skip")
    assert_every_property_holds(rows, options, expected)


def test_long_input_across_batches_merges_and_keeps_every_dot() -> None:
    rows: list[dict[str, Any]] = []
    expected = Expected()
    for instant in range(700):  # 700 instants x 2 devices x 3 variables: 4200 rows
        for device in ("north", "south"):
            for variable in VARIABLES:
                value: Any = instant * 0.5
                number = len(rows) + 1
                if number == BATCH + 100:
                    value = "broken"
                    expected.bad_rows[number] = {"value"}
                elif number % 11 == 0:
                    value = Decimal(instant) / 4
                rows.append(
                    {
                        "device": device,
                        "timestamp": START_MS + instant * MINUTE,
                        "variable": variable,
                        "value": value,
                    }
                )
                if number not in expected.bad_rows:
                    expected.dots.append(
                        (device, variable, START_MS + instant * MINUTE, float(value), None)
                    )
    options = ReshapeOptions(layout="long", on_invalid="skip")
    assert_every_property_holds(rows, options, expected)
    # consecutive rows of one device and instant share one value object, across batches too
    bodies = list(build_bodies(rows, options))
    objects = sum(len(record["values"]) for b in bodies for record in json.loads(b.payload))
    assert objects <= 2 * 700 + len(bodies) + 1


def test_records_input_across_batches() -> None:
    rnd = random.Random(7)
    records: list[dict[str, Any]] = []
    expected = Expected()
    for index in range(BATCH * 2 + 50):
        number = index + 1
        ts = START_MS + index * MINUTE
        values = [{"a": rnd.randint(0, 99), "b": {"value": 1.5, "timestamp": ts - 1}}]
        if number == BATCH + 1:
            values = []
            expected.bad_rows[number] = {"values"}
        records.append({"device": f"d{index % 4}", "timestamp": ts, "values": values})
        if values:
            expected.dots += [
                (f"d{index % 4}", "a", ts, values[0]["a"], None),
                (f"d{index % 4}", "b", ts - 1, 1.5, None),
            ]
    assert_every_property_holds(
        records, ReshapeOptions(layout="records", on_invalid="skip"), expected
    )


# ------------------------------------------------------------------------------- streaming


def _wide_row(number: int) -> dict[str, Any]:
    return {
        "device": f"device-{number % 20}",
        "timestamp": START_MS + (number // 20) * MINUTE,
        **{variable: (number % 97) * 0.25 for variable in VARIABLES},
    }


def _long_row(number: int) -> dict[str, Any]:
    return {
        "device": f"device-{number % 7}",
        "timestamp": START_MS + number * MINUTE,
        "variable": VARIABLES[number % 3],
        "value": number,
    }


def _record(number: int) -> dict[str, Any]:
    return {
        "device": f"device-{number % 5}",
        "timestamp": START_MS + number * MINUTE,
        "values": [{v: number for v in VARIABLES}, {"x": 1, "timestamp": number}],
    }


@pytest.mark.parametrize(
    ("layout", "make_row"), [("wide", _wide_row), ("long", _long_row), ("records", _record)]
)
def test_build_bodies_is_lazy(layout: str, make_row: Any) -> None:
    rows = CountingRows(make_row, total=200_000)
    bodies = build_bodies(rows, ReshapeOptions(layout=layout))
    assert rows.pulled == 0  # nothing read before the first body is asked for
    first = next(bodies)
    assert first.size <= 10_000
    assert rows.pulled <= 3 * BATCH
    # and further bodies keep pulling in step, not all at once
    for _ in range(20):
        next(bodies)
    assert rows.pulled <= 10 * BATCH
    bodies.close()


def test_fail_mode_raises_only_after_the_whole_input_is_read() -> None:
    def make(number: int) -> dict[str, Any]:
        row = _wide_row(number)
        if number == 5:
            row["humidity"] = "bad"
        return row

    rows = CountingRows(make, total=5 * BATCH)
    report = Report()
    yielded = 0
    with pytest.raises(InvalidRowsError) as caught:
        for _ in build_bodies(rows, ReshapeOptions(), report):
            yielded += 1
    assert rows.pulled == 5 * BATCH == report.rows_read
    assert yielded > 0  # bodies were yielded lazily; the caller must discard them
    assert [row.row_number for row in caught.value.rows] == [6]


def test_max_pending_bytes_bounds_pending_objects_and_keeps_every_dot() -> None:
    # many devices with a few rows each: nothing fills a body, the pending bound emits early
    rows = [
        {"device": f"dev-{n % 400}", "timestamp": START_MS + (n // 400) * MINUTE, "v": n}
        for n in range(4000)
    ]
    report = Report()
    options = ReshapeOptions(max_body_bytes=1000)
    bodies = build_bodies(rows, options, report, max_pending_bytes=5000)
    first = next(bodies)
    assert report.rows_read <= BATCH  # the bound emitted bodies before the input ended
    every = [first, *bodies]
    assert_valid_bodies(every, 1000)
    assert Counter(decode_dots(every)) == Counter(
        (row["device"], "v", row["timestamp"], row["v"], None) for row in rows
    )


# -------------------------------------------------------------------------------- density


def _uniform_rows(devices: int, instants: int) -> list[dict[str, Any]]:
    rnd = random.Random(1)
    names = [f"var{k}" for k in range(5)]
    return [
        {
            "device": f"device-{d:02d}",
            "timestamp": START_MS + t * MINUTE,
            **{name: round(rnd.uniform(0, 100), 2) for name in names},
        }
        for t in range(instants)
        for d in range(devices)
    ]


def _shaped_payload(rows: list[dict[str, Any]]) -> bytes:
    """The whole input as one payload, one record per device: the densest encoding."""
    records: dict[str, dict[str, Any]] = {}
    for row in rows:
        values = {k: v for k, v in row.items() if k not in ("device", "timestamp")}
        record = records.get(row["device"])
        if record is None:
            records[row["device"]] = {
                "device": row["device"],
                "timestamp": row["timestamp"],
                "values": [values],
            }
        else:
            record["values"].append({**values, "timestamp": row["timestamp"]})
    return msgspec.json.encode(list(records.values()))


# each body repeats "[" + '{"device":"device-00","timestamp":1704067200000,"values":[' + "]}]"
RECORD_HEAD = len(b'[{"device":"device-00","timestamp":1704067200000,"values":[]}]')


@pytest.mark.parametrize(
    ("max_body_bytes", "room"),
    [
        (10_000, 10_000),  # the bound
        # in small bodies the record head each body must repeat is no longer negligible
        (2_000, 2_000 - RECORD_HEAD),
        (1_000, 1_000 - RECORD_HEAD),
    ],
)
def test_uniform_wide_input_is_packed_densely(max_body_bytes: int, room: int) -> None:
    rows = _uniform_rows(devices=20, instants=2000)
    bodies = list(build_bodies(rows, ReshapeOptions(max_body_bytes=max_body_bytes)))
    shaped = len(_shaped_payload(rows))
    bound = 1.01 * math.ceil(shaped / room) + 1
    assert len(bodies) <= bound, (len(bodies), shaped / max_body_bytes)
    assert all(body.size <= max_body_bytes for body in bodies)
    assert sum(body.dot_count for body in bodies) == 20 * 5 * 2000


def test_bodies_are_filled_to_the_limit_by_splitting_value_objects() -> None:
    rows = _uniform_rows(devices=3, instants=600)
    options = ReshapeOptions(max_body_bytes=1000)
    bodies = list(build_bodies(rows, options))
    assert_valid_bodies(bodies, 1000)
    # single-device bodies closed while the input flows are filled to within one dot and
    # the ',"timestamp":1704067200000' that the split part must carry (27 bytes)
    full = [body for body in bodies if len(json.loads(body.payload)) == 1][:-3]
    assert full
    assert min(body.size for body in full) >= 1000 - 45
    assert sum(body.size for body in full) / len(full) >= 990
    # a split shows as a device's body ending with an instant its next body starts with
    ends: dict[str, list[tuple[int, int]]] = {}
    for body in bodies:
        for record in json.loads(body.payload):
            stamps = [obj.get("timestamp", record["timestamp"]) for obj in record["values"]]
            ends.setdefault(record["device"], []).append((stamps[0], stamps[-1]))
    splits = sum(
        earlier[1] == later[0]
        for spans in ends.values()
        for earlier, later in itertools.pairwise(spans)
    )
    assert splits >= len(full) // 2, (splits, len(full))
    expected = Counter(
        (row["device"], name, row["timestamp"], value, None)
        for row in rows
        for name, value in row.items()
        if name not in ("device", "timestamp")
    )
    assert Counter(decode_dots(bodies)) == expected


def test_first_value_object_inherits_the_record_timestamp() -> None:
    rows = [
        {"device": "d", "timestamp": 1_704_067_201_000, "a": 1},
        {"device": "d", "timestamp": 1_704_067_202_000, "a": 2},
    ]
    [body] = build_bodies(rows, ReshapeOptions())
    assert body.payload == (
        b'[{"device":"d","timestamp":1704067201000,"values":[{"a":1},'
        b'{"a":2,"timestamp":1704067202000}]}]'
    )
    assert body.body_id.startswith("000000-")
