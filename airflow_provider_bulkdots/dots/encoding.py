"""Value objects to compact JSON, split when one would not fit in a body."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from airflow_provider_bulkdots.dots.errors import RowRejected
from airflow_provider_bulkdots.dots.packing import fits_alone

encode_json = msgspec.json.Encoder().encode

Piece = tuple[bytes, int, int]
"""An encoded value object, its timestamp and its dot count."""


def encode_value_object(
    dots: Mapping[str, object],
    timestamp: int,
    device_json: bytes,
    max_body_bytes: int,
) -> list[Piece]:
    """Encode the dots of one device and instant as value objects carrying ``"timestamp"``.

    One object when it fits in a body, otherwise as few as fit; a single dot that cannot fit
    in any body raises RowRejected naming its variable.
    """
    obj = dict(dots)
    obj["timestamp"] = timestamp
    piece = encode_json(obj)
    if fits_alone(device_json, timestamp, len(piece), max_body_bytes):
        return [(piece, timestamp, len(dots))]
    pieces: list[Piece] = []
    current: dict[str, object] = {}
    for variable, dot in dots.items():
        single = encode_json({variable: dot, "timestamp": timestamp})
        if not fits_alone(device_json, timestamp, len(single), max_body_bytes):
            raise RowRejected(
                variable,
                dot,
                f"dot does not fit in a body of {max_body_bytes} bytes "
                f"({len(single)} bytes encoded)",
            )
        trial = encode_json({**current, variable: dot, "timestamp": timestamp})
        if current and not fits_alone(device_json, timestamp, len(trial), max_body_bytes):
            pieces.append(_piece(current, timestamp))
            current = {}
        current[variable] = dot
    if current:
        pieces.append(_piece(current, timestamp))
    return pieces


def _piece(dots: dict[str, object], timestamp: int) -> Piece:
    return (encode_json({**dots, "timestamp": timestamp}), timestamp, len(dots))
