"""The dot record: which dots an earlier try sent, whatever bodies they travel in now.

Body ids change when the input changes (rows appended to a SQL table change the body built
at its end; a file rewritten with rows reordered changes them all), so the ledger also keeps,
for each body it names, one *range* per device: ``[device, first, last, count, digest]``,
the body's first and last timestamp of that device, how many of its dots lie there, and an
order-free digest of their ``(variable, timestamp)`` keys (the sum of each key's 64-bit
blake2b, modulo 2**64). A body of more than :data:`MAX_NAMED_DEVICES` devices records the
rest in one range ``[None, first, last, count, digest]`` over every other device. So a body
costs a bounded number of bytes in the store however many dots it holds.

On resume, each body the ledger does not recognise by id is checked dot by dot against the
ranges of the bodies an earlier try finished (acknowledged) or may have sent (intended, not
finished):

- *acknowledged*: the dots of the body inside an acknowledged range of their device are
  exactly that range's dots (the same count and digest): they were stored; left out, no read;
- *ambiguous*: any other dot inside an acknowledged or possibly sent range (of its device, or
  a range over other devices): it may or may not have been stored; read back before it is sent;
- *new*: a dot outside every such range was never sent: sent.

A dot is a device, a variable and a timestamp (:func:`~..dots.payload.dot_key`), as the API
stores it: a value changed at an acknowledged timestamp is the same dot, not sent again.
The index of ranges held while resuming is bounded (:data:`MAX_RANGES`): beyond it,
neighbouring ranges of a device merge (their counts and digests add up), which only makes
more dots ambiguous (read back), never one left out unread. Pure: no I/O, no Airflow.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from airflow_provider_bulkdots.dots.payload import DotKey, iter_dots, payload_without

#: Devices of one body recorded by name; the others share one range.
MAX_NAMED_DEVICES = 16
#: Ranges held in memory while resuming; beyond it neighbours merge.
MAX_RANGES = 200_000
#: Ranges one body's device may meet before its dots are all read back rather than checked.
MAX_OVERLAPS = 64
_MOD = 1 << 64

#: One recorded range: ``[device or None, first, last, count, digest as 16 hex digits]``.
RangeEntry = list[object]


def key_digest(variable: str, timestamp: int) -> int:
    """The 64-bit digest of one dot's key within its device."""
    raw = f"{variable}\x00{timestamp}".encode()
    return int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "big")


@dataclass
class _Tally:
    first: int
    last: int
    count: int = 0
    digest: int = 0

    def add(self, variable: str, timestamp: int) -> None:
        self.first, self.last = min(self.first, timestamp), max(self.last, timestamp)
        self.count += 1
        self.digest = (self.digest + key_digest(variable, timestamp)) % _MOD

    def merge(self, other: _Tally) -> None:
        self.first, self.last = min(self.first, other.first), max(self.last, other.last)
        self.count += other.count
        self.digest = (self.digest + other.digest) % _MOD


def body_ranges(payload: bytes) -> list[RangeEntry]:
    """The ranges of one body's dots (what the ledger records for it)."""
    tallies: dict[str, _Tally] = {}
    for dot in iter_dots(payload):
        device, variable, timestamp = dot.key
        tally = tallies.get(device)
        if tally is None:
            tally = tallies[device] = _Tally(timestamp, timestamp)
        tally.add(variable, timestamp)
    named = sorted(tallies, key=lambda device: -tallies[device].count)[:MAX_NAMED_DEVICES]
    entries: list[RangeEntry] = [_entry(device, tallies[device]) for device in sorted(named)]
    rest = [tallies[device] for device in sorted(tallies) if device not in set(named)]
    if rest:
        others = _Tally(rest[0].first, rest[0].last)
        for tally in rest:
            others.merge(tally)
        entries.append(_entry(None, others))
    return entries


def _entry(device: str | None, tally: _Tally) -> RangeEntry:
    return [device, tally.first, tally.last, tally.count, f"{tally.digest:016x}"]


@dataclass
class Range:
    first: int
    last: int
    count: int
    digest: int
    acknowledged: bool
    device_named: bool = True  # False: a range over the devices a body did not name


@dataclass
class _DeviceRanges:
    """One device's ranges, sorted by their first timestamp once :meth:`seal` ran."""

    ranges: list[Range] = field(default_factory=list)
    firsts: list[int] = field(default_factory=list)
    reach: list[int] = field(default_factory=list)  # the latest ``last`` up to each range

    def seal(self) -> None:
        self.ranges.sort(key=lambda item: (item.first, item.last))
        self.firsts = [item.first for item in self.ranges]
        self.reach = []
        latest: int | None = None
        for item in self.ranges:
            latest = item.last if latest is None else max(latest, item.last)
            self.reach.append(latest)

    def overlapping(self, low: int, high: int) -> list[Range]:
        """The ranges that hold a timestamp between ``low`` and ``high``."""
        found = []
        index = bisect_right(self.firsts, high) - 1
        while index >= 0 and self.reach[index] >= low:
            if self.ranges[index].last >= low:
                found.append(self.ranges[index])
            index -= 1
        return found

    def coalesce(self) -> None:
        """Merge neighbours pairwise: half the ranges, each covering both."""
        self.ranges.sort(key=lambda item: (item.first, item.last))
        merged: list[Range] = []
        for index in range(0, len(self.ranges), 2):
            pair = self.ranges[index : index + 2]
            merged.append(_merged(pair))
        self.ranges = merged


def _merged(pair: list[Range]) -> Range:
    if len(pair) == 1:
        return pair[0]
    one, two = pair
    return Range(
        min(one.first, two.first),
        max(one.last, two.last),
        one.count + two.count,
        (one.digest + two.digest) % _MOD,
        one.acknowledged and two.acknowledged,
        one.device_named and two.device_named,
    )


#: A range of the record with the keys ``(variable, timestamp)`` of a body's device inside it.
Touch = tuple["Range | None", list[tuple[str, int]]]


@dataclass
class Classified:
    """A body's dots sorted by what an earlier try did with them."""

    acknowledged: int = 0  # dots left out: an earlier try's acknowledged range holds them
    ambiguous: bytes = b""  # dots to read back before sending
    ambiguous_dots: int = 0
    new: bytes = b""  # dots to send
    new_dots: int = 0
    untouched: bool = False  # no dot in any range: ``new`` is the payload as it was
    unacknowledged: bytes = b""  # the ambiguous and the new dots together


class DotIndex:
    """The ranges of the bodies an earlier try finished or may have sent, by device."""

    def __init__(self, max_ranges: int = MAX_RANGES) -> None:
        self.max_ranges = max_ranges
        self._devices: dict[str, _DeviceRanges] = defaultdict(_DeviceRanges)
        self._others = _DeviceRanges()  # ranges over the devices a body did not name
        self._size = 0
        self._sealed = False

    def __len__(self) -> int:
        return self._size

    def add(self, entries: Iterable[object], acknowledged: bool) -> int:
        """Add one body's recorded ranges (``acknowledged``: the body was finished); how many
        entries were not ranges (damaged, left out)."""
        damaged = 0
        for entry in entries:
            parsed = _parse(entry, acknowledged)
            if parsed is None:
                damaged += 1
                continue
            device, item = parsed
            target = self._others if device is None else self._devices[device]
            target.ranges.append(item)
            self._size += 1
        self._sealed = False
        if self._size > self.max_ranges:
            self._coalesce()
        return damaged

    def _coalesce(self) -> None:
        for ranges in [*self._devices.values(), self._others]:
            ranges.coalesce()
        self._size = sum(len(r.ranges) for r in [*self._devices.values(), self._others])

    def classify(self, payload: bytes) -> Classified:
        """Which dots of ``payload`` were acknowledged, may have been, or are new."""
        self._seal()
        by_device: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for dot in iter_dots(payload):
            device, variable, timestamp = dot.key
            by_device[device].append((variable, timestamp))
        stored: set[DotKey] = set()
        doubtful: set[DotKey] = set()
        for device, keys in by_device.items():
            sure, maybe = self._device_keys(device, keys)
            stored.update((device, *key) for key in sure)
            doubtful.update((device, *key) for key in maybe - sure)
        return _split(payload, stored, doubtful)

    def touching(self, device: str, keys: list[tuple[str, int]]) -> list[Touch]:
        """The ranges that hold some of one device's keys in a body, each with those keys
        (a range ``None``: too many ranges met, every key of the device is in doubt)."""
        self._seal()
        keys = sorted(keys, key=lambda key: key[1])
        stamps = [timestamp for _, timestamp in keys]
        mine = self._devices.get(device)
        low, high = stamps[0], stamps[-1]
        candidates = (mine.overlapping(low, high) if mine else []) + self._others.overlapping(
            low, high
        )
        if len(candidates) > MAX_OVERLAPS:
            return [(None, keys)]
        touches: list[Touch] = []
        for item in candidates:
            start, end = bisect_left(stamps, item.first), bisect_right(stamps, item.last)
            if start < end:
                touches.append((item, keys[start:end]))
        return touches

    def _seal(self) -> None:
        if not self._sealed:
            for ranges in [*self._devices.values(), self._others]:
                ranges.seal()
            self._sealed = True

    def _device_keys(
        self, device: str, keys: list[tuple[str, int]]
    ) -> tuple[set[tuple[str, int]], set[tuple[str, int]]]:
        """Of one device's keys in a body: those surely stored, those in any range."""
        keys = sorted(keys, key=lambda key: key[1])
        stamps = [timestamp for _, timestamp in keys]
        low, high = stamps[0], stamps[-1]
        mine = self._devices.get(device)
        candidates = (mine.overlapping(low, high) if mine else []) + self._others.overlapping(
            low, high
        )
        if len(candidates) > MAX_OVERLAPS:  # input far from time order: read back them all
            return set(), set(keys)
        sure: set[tuple[str, int]] = set()
        maybe: set[tuple[str, int]] = set()
        for item in candidates:
            start, end = bisect_left(stamps, item.first), bisect_right(stamps, item.last)
            inside = keys[start:end]
            maybe.update(inside)
            if item.device_named and item.acknowledged and _matches(inside, item):
                sure.update(inside)
        return sure, maybe


def _matches(inside: list[tuple[str, int]], item: Range) -> bool:
    if len(inside) != item.count:
        return False
    total = sum(key_digest(variable, timestamp) for variable, timestamp in inside)
    return total % _MOD == item.digest


def _split(payload: bytes, stored: set[DotKey], doubtful: set[DotKey]) -> Classified:
    if not stored and not doubtful:
        return Classified(untouched=True, new=payload)
    result = Classified()
    for dot in iter_dots(payload):
        if dot.key in stored:
            result.acknowledged += 1
        elif dot.key in doubtful:
            result.ambiguous_dots += 1
        else:
            result.new_dots += 1
    if result.ambiguous_dots:
        result.ambiguous = payload_without(payload, lambda key: key not in doubtful)
    if result.new_dots:
        result.new = payload_without(payload, lambda key: key in stored or key in doubtful)
    if result.ambiguous_dots or result.new_dots:
        result.unacknowledged = payload_without(payload, lambda key: key in stored)
    return result


def _parse(entry: object, acknowledged: bool) -> tuple[str | None, Range] | None:
    """One stored range, or ``None`` when it is not one."""
    if not isinstance(entry, list) or len(entry) != 5:
        return None
    device, first, last, count, digest = entry
    if device is not None and not isinstance(device, str):
        return None
    if not isinstance(first, int) or not isinstance(last, int) or not isinstance(count, int):
        return None
    if not isinstance(digest, str) or len(digest) != 16:
        return None
    try:
        value = int(digest, 16)
    except ValueError:
        return None
    return device, Range(first, last, count, value, acknowledged, device is not None)
