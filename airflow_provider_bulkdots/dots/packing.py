"""Packs encoded value objects into request bodies: dense, bounded and deterministic.

Each device keeps a pending list of encoded value objects. A device whose pending objects
fill a body is emitted as a single-device body (the densest: one record header per body).
What is left at the end is packed into shared bodies, devices one after another, a device
spanning two bodies when it must. Bodies are closed *before* the object that would push
them over the limit, measured on the exact bytes sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import msgspec

from airflow_provider_bulkdots.dots.body import Body

_RECORD_OPEN = b'{"device":'
_RECORD_TS = b',"timestamp":'
_RECORD_VALUES = b',"values":['
_RECORD_CLOSE = b"]}"
# "[" + record head + record tail + "]" around the device label, timestamp and values.
SINGLE_BODY_OVERHEAD = 1 + len(_RECORD_OPEN) + len(_RECORD_TS) + len(_RECORD_VALUES) + 3
_encode = msgspec.json.Encoder().encode


def encode_label(label: str) -> bytes:
    """The label as a JSON string."""
    return _encode(label)


def record_head(device_json: bytes, timestamp: int) -> bytes:
    """The bytes that open a device record up to its first value object."""
    return b"".join((_RECORD_OPEN, device_json, _RECORD_TS, b"%d" % timestamp, _RECORD_VALUES))


def strip_timestamp(piece: bytes, timestamp: int) -> bytes:
    """The value object without its ``"timestamp"``, for the first object of a record.

    The record carries that same timestamp and the API applies it to objects that carry
    none, so the dots keep their time and the body is 27 bytes shorter.
    """
    suffix = b',"timestamp":%d}' % timestamp
    if piece.endswith(suffix):
        return piece[: -len(suffix)] + b"}"
    return piece


def fits_alone(device_json: bytes, timestamp: int, piece_size: int, max_body_bytes: int) -> bool:
    """Whether one value object fits in a body of its own."""
    return (
        SINGLE_BODY_OVERHEAD + len(device_json) + len(b"%d" % timestamp) + piece_size
        <= max_body_bytes
    )


@dataclass(slots=True)
class _Pending:
    device_json: bytes
    head: bytes = b""
    pieces: list[bytes] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    dot_counts: list[int] = field(default_factory=list)
    dots: int = 0
    # bytes of a single-device body holding ``pieces``
    body_size: int = 0


class BodyPacker:
    """Collects (device, value object) pairs and yields full bodies as they fill.

    ``max_pending_bytes`` bounds memory: past it, the device with the most pending bytes is
    emitted early, as a partial body.
    """

    def __init__(self, max_body_bytes: int, max_pending_bytes: int | None = None) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_pending_bytes = max_pending_bytes or 256 * max_body_bytes
        self._pending: dict[str, _Pending] = {}
        self._pending_bytes = 0
        self._seq = 0
        self.ready: list[Body] = []

    def drain(self) -> Iterator[Body]:
        """The bodies completed so far, in order."""
        ready, self.ready = self.ready, []
        yield from ready

    def add(self, device: str, piece: bytes, timestamp: int, dots: int) -> None:
        """Queue one encoded value object of ``device``; bodies it completes go to ``ready``.

        The caller has checked that the object fits alone in a body (``fits_alone``).
        """
        pending = self._pending.get(device)
        if pending is None:
            pending = self._pending[device] = _Pending(encode_label(device))
        if pending.pieces:
            if pending.body_size + 1 + len(piece) > self.max_body_bytes:
                split = _split_to_fit(
                    piece, timestamp, dots, self.max_body_bytes - pending.body_size - 1
                )
                if split is not None:
                    (first, first_dots), (piece, dots) = split
                    self._append(pending, first, timestamp, first_dots)
                self.ready.append(self._emit_single(pending))
                self._start(pending, piece, timestamp, dots)
            else:
                self._append(pending, piece, timestamp, dots)
        else:
            self._start(pending, piece, timestamp, dots)
        if self._pending_bytes > self.max_pending_bytes:
            largest = max(self._pending.values(), key=lambda item: item.body_size)
            self.ready.append(self._emit_single(largest))

    def _append(self, pending: _Pending, piece: bytes, timestamp: int, dots: int) -> None:
        pending.pieces.append(piece)
        pending.timestamps.append(timestamp)
        pending.dot_counts.append(dots)
        pending.dots += dots
        pending.body_size += 1 + len(piece)
        self._pending_bytes += 1 + len(piece)

    def _start(self, pending: _Pending, piece: bytes, timestamp: int, dots: int) -> None:
        pending.head = record_head(pending.device_json, timestamp)
        pending.pieces = [strip_timestamp(piece, timestamp)]
        pending.timestamps = [timestamp]
        pending.dot_counts = [dots]
        pending.dots = dots
        pending.body_size = 1 + len(pending.head) + len(pending.pieces[0]) + 3
        self._pending_bytes += pending.body_size

    def _next_seq(self) -> int:
        seq = self._seq
        self._seq += 1
        return seq

    def _emit_single(self, pending: _Pending) -> Body:
        payload = b"".join((b"[", pending.head, b",".join(pending.pieces), b"]}]"))
        body = Body(seq=self._next_seq(), payload=payload, dot_count=pending.dots)
        self._pending_bytes -= pending.body_size
        pending.pieces = []
        pending.timestamps = []
        pending.dot_counts = []
        pending.dots = 0
        pending.body_size = 0
        return body

    def flush(self) -> Iterator[Body]:
        """Pack every pending object into shared bodies, in the order devices first came."""
        yield from self.drain()
        parts: list[bytes] = []
        size = 2  # "[" and "]"; also counts the "]}" of the open record
        dots = 0
        for pending in self._pending.values():
            record_open = False
            if pending.pieces:  # the first object was stored without its timestamp
                pending.pieces[0] = (
                    pending.pieces[0][:-1] + b',"timestamp":%d}' % (pending.timestamps[0])
                )
            for piece, timestamp, piece_dots in zip(
                pending.pieces, pending.timestamps, pending.dot_counts, strict=True
            ):
                if record_open:
                    if size + 1 + len(piece) <= self.max_body_bytes:
                        parts += (b",", piece)
                        size += 1 + len(piece)
                        dots += piece_dots
                        continue
                    parts.append(_RECORD_CLOSE)
                    yield self._emit_parts(parts, dots)
                    parts, size, dots, record_open = [], 2, 0, False
                head = record_head(pending.device_json, timestamp)
                piece = strip_timestamp(piece, timestamp)
                cost = len(head) + len(piece) + 2
                if parts and size + 1 + cost > self.max_body_bytes:
                    yield self._emit_parts(parts, dots)
                    parts, size, dots = [], 2, 0
                if parts:
                    parts.append(b",")
                    cost += 1
                parts += (head, piece)
                size += cost
                dots += piece_dots
                record_open = True
            if record_open:
                parts.append(_RECORD_CLOSE)
        if parts:
            yield self._emit_parts(parts, dots)
        self._pending.clear()
        self._pending_bytes = 0

    def _emit_parts(self, parts: list[bytes], dots: int) -> Body:
        payload = b"".join((b"[", *parts, b"]"))
        return Body(seq=self._next_seq(), payload=payload, dot_count=dots)


def _split_to_fit(
    piece: bytes, timestamp: int, dots: int, room: int
) -> tuple[tuple[bytes, int], tuple[bytes, int]] | None:
    """Split a flat value object in two so that the first part fills ``room`` bytes.

    Closing a body before an object leaves up to one object's size unused; with near-equal
    objects that waste is the same in every body. Both parts carry the same timestamp, so
    every dot keeps its time. Only flat objects (numbers under plain labels) are split.
    """
    suffix = b',"timestamp":%d}' % timestamp
    limit = room - 1 - len(suffix)
    if dots < 2 or limit < 4 or not piece.endswith(suffix):
        return None
    members = piece[1 : -len(suffix)]
    if (
        members.count(b",") != dots - 1
        or members.count(b'"') != 2 * dots
        or b"{" in members
        or b"\\" in members
    ):
        return None
    cut = members.rfind(b",", 0, limit + 1)
    if cut <= 0:
        return None
    first_dots = members.count(b",", 0, cut) + 1
    first = b"{" + members[:cut] + suffix
    rest = b"{" + members[cut + 1 :] + suffix
    return (first, first_dots), (rest, dots - first_dots)
