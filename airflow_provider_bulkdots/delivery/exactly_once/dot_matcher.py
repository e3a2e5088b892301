"""Changed bodies matched against the dot record across bodies, as they stream by.

A changed input is often cut into bodies otherwise (rows appended re-cut the bodies built near
the end; a packer that groups a device's rows re-cuts them all), so an acknowledged range's
dots may now lie in two or three bodies. Each acknowledged range therefore tallies the dots
found inside it body after body: once it has met as many dots as it recorded, with the same
digest, they are exactly its dots, acknowledged; more, or another digest, and its dots are in
doubt. Dots inside a range still being tallied are *held* (not sent) until then; at the end
of the input, or once :data:`MAX_HELD_DOTS` are held, what is held is released: dots since
confirmed are left out, the others are read back. So memory stays bounded, and a dot is left
out unread only when a range matched exactly. Pure: no I/O, no Airflow.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from airflow_provider_bulkdots.delivery.exactly_once.dot_record import (
    DotIndex,
    Range,
    key_digest,
)
from airflow_provider_bulkdots.dots.payload import DotKey, iter_dots, payload_without

#: Dots held while their ranges are tallied, before they are released.
MAX_HELD_DOTS = 200_000
_MOD = 1 << 64


@dataclass
class _Tally:
    count: int = 0
    digest: int = 0
    members: list[DotKey] = field(default_factory=list)


@dataclass
class Sorted:
    """What to do now with a body's dots (the held ones come back from :meth:`release`)."""

    acknowledged: int = 0
    ambiguous: bytes = b""
    ambiguous_dots: int = 0
    new: bytes = b""
    new_dots: int = 0
    held_dots: int = 0
    untouched: bool = False  # in no range: ``new`` is the payload as it was


@dataclass
class Released:
    """A held part of a body, released: its confirmed dots left out, the others in doubt."""

    seq: int
    acknowledged: int
    ambiguous: bytes
    ambiguous_dots: int


class DotMatcher:
    """Sorts each changed body's dots against ``index``, tallying ranges across bodies."""

    def __init__(self, index: DotIndex, max_held: int = MAX_HELD_DOTS) -> None:
        self.index = index
        self.max_held = max_held
        self.held_dots = 0
        self._tallies: dict[int, _Tally] = {}
        self._closed: set[int] = set()
        self._confirmed: set[DotKey] = set()
        self._held: list[tuple[int, bytes]] = []

    def sort(self, seq: int, payload: bytes) -> Sorted:
        """The body's dots: acknowledged, in doubt, new, or held."""
        by_device: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for dot in iter_dots(payload):
            device, variable, timestamp = dot.key
            by_device[device].append((variable, timestamp))
        touched: set[DotKey] = set()
        open_keys: set[DotKey] = set()
        for device, keys in by_device.items():
            for item, inside in self.index.touching(device, keys):
                found = [(device, *key) for key in inside]
                touched.update(found)
                if item is not None and item.acknowledged and item.device_named:
                    open_keys.update(self._tally(item, found))
        if not touched:
            return Sorted(new=payload, untouched=True)
        return self._sorted(seq, payload, touched, open_keys)

    def _tally(self, item: Range, found: list[DotKey]) -> list[DotKey]:
        """Add a body's dots to a range's tally; the dots whose range is still open."""
        ident = id(item)
        if ident in self._closed:
            return []
        tally = self._tallies.setdefault(ident, _Tally())
        tally.count += len(found)
        tally.digest = (tally.digest + sum(key_digest(k[1], k[2]) for k in found)) % _MOD
        tally.members.extend(found)
        if tally.count < item.count:
            return found
        if tally.count == item.count and tally.digest == item.digest:
            self._confirmed.update(tally.members)
        del self._tallies[ident]
        self._closed.add(ident)
        return []

    def _sorted(
        self, seq: int, payload: bytes, touched: set[DotKey], open_keys: set[DotKey]
    ) -> Sorted:
        result = Sorted()
        confirmed, held, doubtful = self._confirmed, set(), set()
        for dot in iter_dots(payload):
            if dot.key in confirmed:
                result.acknowledged += 1
            elif dot.key in open_keys:
                held.add(dot.key)
                result.held_dots += 1
            elif dot.key in touched:
                doubtful.add(dot.key)
                result.ambiguous_dots += 1
            else:
                result.new_dots += 1
        confirmed.difference_update(key for key in touched if key not in held)
        if held:
            self._held.append((seq, payload_without(payload, lambda key: key not in held)))
            self.held_dots += result.held_dots
        if doubtful:
            result.ambiguous = payload_without(payload, lambda key: key not in doubtful)
        if result.new_dots:
            result.new = payload_without(payload, lambda key: key in touched)
        return result

    def release(self) -> list[Released]:
        """Every held part: its dots confirmed since left out, the others in doubt."""
        released = []
        for seq, part in self._held:
            keys = [dot.key for dot in iter_dots(part)]
            confirmed = sum(1 for key in keys if key in self._confirmed)
            rest = payload_without(part, lambda key: key in self._confirmed)
            released.append(Released(seq, confirmed, rest, len(keys) - confirmed))
        self._held, self.held_dots = [], 0
        self._confirmed = set()
        for tally in self._tallies.values():  # released: what completes later is its rest
            tally.members = []
        return released
