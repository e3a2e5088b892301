"""Value objects to compact JSON, split when one would not fit in a body."""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from airflow_provider_bulkdots.dots.errors import RowRejected, UnsafeBodyError
from airflow_provider_bulkdots.dots.packing import fits_alone

encode_json = msgspec.json.Encoder().encode

Piece = tuple[bytes, int, int]
"""An encoded value object, its timestamp and its dot count."""

_UNSAFE_TOKENS = (b"null", b"NaN", b"Infinity")
_decode_json = msgspec.json.Decoder().decode  # refuses NaN and Infinity tokens


def json_unsafe_reason(payload: bytes) -> str | None:
    """Why ``payload`` carries null, NaN or Infinity as a JSON value, None when it does not.

    The scan for the three words is cheap; only a payload holding one (a label "nullable",
    say) is decoded to tell a value from text inside a string.
    """
    if not any(token in payload for token in _UNSAFE_TOKENS):
        return None
    try:
        decoded = _decode_json(payload)
    except msgspec.DecodeError as error:
        return f"not strict JSON ({error})"
    return "holds null" if _holds_null(decoded) else None


def _holds_null(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_holds_null(item) for item in value.values())
    if isinstance(value, list):
        return any(_holds_null(item) for item in value)
    return False


def check_body_payload(payload: bytes, seq: int) -> None:
    """The final check of every body: raise UnsafeBodyError if it holds null/NaN/Infinity."""
    reason = json_unsafe_reason(payload)
    if reason is not None:
        raise UnsafeBodyError(f"body {seq} {reason}: refusing to send it (a bug: please report it)")


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
    reason = json_unsafe_reason(piece)
    if reason is not None:
        raise RowRejected("(value object)", dots, f"would be sent with {reason}")
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
