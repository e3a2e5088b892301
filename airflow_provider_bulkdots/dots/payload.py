"""A body's bytes and what they mean: the one owner of the payload contract.

A payload is the JSON list the bulk endpoint takes: records ``{"device", "timestamp",
"values": [value object, ...]}`` where each value object maps variable labels to dots and may
carry its own ``"timestamp"`` (a dot given as an object may carry its own too). Everything
that reads or builds a payload, a body id, a resend id or a part path asks this module:

- a body's id, ``<seq, six digits>-<blake2b-64 of its bytes>``: :func:`body_id`; stable, so
  the same rows and options give the same ids in the same order, and a retried task can tell
  which bodies an earlier try had acknowledged;
- a resend's id, ``<body_id>~r<n>``: the dots of a body not found when it was read back, sent
  again (:func:`resend_id`, :func:`resend_base`, :func:`is_resend`);
- a part of a body, as the delivery ledger records it: ``"0"``, ``"01"``, ... a split half by
  its path of halves (``"0"`` the first half, ``"01"`` that half's second half:
  :func:`half_path`, :func:`is_half`, :func:`half_at`); ``"*"`` the whole body
  (:data:`WHOLE_BODY`); ``"-"`` marks a withdrawn intent (:data:`WITHDRAWN`);
- reading a payload: :func:`iter_dots` (each dot with its effective timestamp),
  :func:`count_dots`, :func:`devices_of`, :func:`dot_key`, :func:`series_spans`;
- payloads made from one: :func:`split_payload` (for a 413 or a 400 to isolate),
  :func:`payload_without` (leaving out dots already stored), :func:`without_halves`.

Splitting keeps the order of the dots, sends each exactly once, and copies the record's and the
value object's timestamps into each half, so every dot keeps its effective timestamp. Pure: no
I/O, no Airflow.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import msgspec

_TIMESTAMP = "timestamp"
#: The part of a ledger entry that closes the whole body.
WHOLE_BODY = "*"
#: The first item of a ledger intent entry ``["-", body_id]`` that withdraws an intent.
WITHDRAWN = "-"
#: The separator of a resend's id: ``<body_id>~r<n>``.
RESEND_MARK = "~r"

Series = tuple[str, str]
DotKey = tuple[str, str, int]


class CannotSplitError(ValueError):
    """The payload holds fewer than two dots, or is not an endpoint payload."""


# -- ids and parts ---------------------------------------------------------------------------


def body_id(seq: int, payload: bytes) -> str:
    """The id of the body at ``seq`` holding ``payload``."""
    digest = hashlib.blake2b(payload, digest_size=8).hexdigest()
    return f"{seq:06d}-{digest}"


def resend_id(base: str, resends: int) -> str:
    """The id of the ``resends``-th resend of the body ``base``."""
    return f"{base}{RESEND_MARK}{resends}"


def resend_base(any_id: str) -> str:
    """The id of the body a resend id belongs to (the id itself for a body)."""
    return any_id.split(RESEND_MARK, 1)[0]


def is_resend(any_id: str) -> bool:
    """Whether ``any_id`` names a resend rather than a body."""
    return resend_base(any_id) != any_id


def half_path(parent: str, step: int) -> str:
    """The path of half ``step`` (0 or 1) of the part at ``parent`` (``""``: the body)."""
    return f"{parent}{step}"


def is_half(part: str) -> bool:
    """Whether a ledger part names a split half (not :data:`WHOLE_BODY`)."""
    return part.isdigit()


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DotRef:
    """One dot of a payload, where it was and when it applies."""

    record: int
    value_object: int
    device: str
    variable: str
    timestamp: int | float | None
    dot: Any

    @property
    def value(self) -> Any:
        """The dot's value (the dot itself, or its ``"value"`` when given as an object)."""
        return self.dot.get("value") if isinstance(self.dot, dict) else self.dot

    @property
    def key(self) -> DotKey:
        """What identifies the stored dot: :func:`dot_key`."""
        return dot_key(self.device, self.variable, self.timestamp)


def _decode(payload: bytes) -> list[dict[str, Any]]:
    try:
        records = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise CannotSplitError(f"payload is not valid JSON: {exc}") from None
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise CannotSplitError("payload is not a JSON list of records")
    for number, record in enumerate(records):
        values = record.get("values")
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise CannotSplitError(f"record {number} has no list of value objects")
    return records


def _variables(value_object: dict[str, Any]) -> list[str]:
    return [key for key in value_object if key != _TIMESTAMP]


def iter_dots(payload: bytes) -> Iterator[DotRef]:
    """Every dot of a payload in order, with its effective timestamp."""
    for r, record in enumerate(_decode(payload)):
        for v, value_object in enumerate(record["values"]):
            for variable in _variables(value_object):
                dot = value_object[variable]
                timestamp = record.get(_TIMESTAMP)
                if _TIMESTAMP in value_object:
                    timestamp = value_object[_TIMESTAMP]
                if isinstance(dot, dict) and _TIMESTAMP in dot:
                    timestamp = dot[_TIMESTAMP]
                yield DotRef(r, v, str(record.get("device", "")), variable, timestamp, dot)


def devices_of(payload: bytes) -> set[str]:
    """The device labels a payload holds dots of."""
    return {str(record.get("device", "")) for record in _decode(payload)}


def count_dots(payload: bytes) -> int:
    """How many dots a payload holds."""
    return sum(
        len(_variables(value_object))
        for record in _decode(payload)
        for value_object in record["values"]
    )


def dot_key(device: str, variable: str, timestamp: object) -> DotKey:
    """What identifies a stored dot: its series and its timestamp in ms."""
    return device, variable, int(timestamp) if isinstance(timestamp, int | float) else -1


def series_spans(payload: bytes) -> dict[Series, tuple[int, int]]:
    """Each series of a payload with the first and last timestamp of its dots there."""
    spans: dict[Series, tuple[int, int]] = {}
    for dot in iter_dots(payload):
        device, variable, ts = dot.key
        low, high = spans.get((device, variable), (ts, ts))
        spans[(device, variable)] = (min(low, ts), max(high, ts))
    return spans


# -- payloads made from a payload ------------------------------------------------------------


def split_payload(payload: bytes) -> tuple[bytes, bytes]:
    """Two payloads holding the first ``ceil(N/2)`` and the last ``floor(N/2)`` dots.

    Raises :class:`CannotSplitError` for a payload of fewer than two dots.
    """
    records = _decode(payload)
    total = sum(len(_variables(vo)) for record in records for vo in record["values"])
    if total < 2:
        raise CannotSplitError(f"a payload of {total} dot(s) cannot be split")
    cut = (total + 1) // 2
    halves: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
    seen = 0
    for record in records:
        parts: tuple[list[dict[str, Any]], list[dict[str, Any]]] = ([], [])
        for value_object in record["values"]:
            variables = _variables(value_object)
            before = max(0, min(len(variables), cut - seen))
            seen += len(variables)
            for half, names in ((0, variables[:before]), (1, variables[before:])):
                if not names and variables:
                    continue
                if not variables and half != (0 if seen < cut else 1):
                    continue  # an empty value object stays on one side only
                keep = set(names)
                parts[half].append(
                    {k: dot for k, dot in value_object.items() if k in keep or k == _TIMESTAMP}
                )
        for half in (0, 1):
            if parts[half]:
                halves[half].append(
                    {k: parts[half] if k == "values" else value for k, value in record.items()}
                )
    return msgspec.json.encode(halves[0]), msgspec.json.encode(halves[1])


def half_at(payload: bytes, path: str) -> bytes:
    """The split half at ``path`` (``"0"`` first half, ``"01"`` its second half, ...)."""
    for step in path:
        payload = split_payload(payload)[int(step)]
    return payload


def payload_without(payload: bytes, found: Callable[[DotKey], bool]) -> bytes:
    """``payload`` without the dots ``found`` accepts; ``b""`` when none is left.

    Records and value objects keep their timestamps, so every kept dot keeps its own.
    """
    kept_records = []
    for record in _decode(payload):
        kept_objects = []
        for value_object in record["values"]:
            stamp = value_object.get(_TIMESTAMP, record.get(_TIMESTAMP))
            kept = {}
            for name, dot in value_object.items():
                if name == _TIMESTAMP:
                    continue
                own = dot.get(_TIMESTAMP, stamp) if isinstance(dot, dict) else stamp
                if not found(dot_key(str(record.get("device", "")), name, own)):
                    kept[name] = dot
            if kept:
                if _TIMESTAMP in value_object:
                    kept[_TIMESTAMP] = value_object[_TIMESTAMP]
                kept_objects.append(kept)
        if kept_objects:
            kept_records.append({**record, "values": kept_objects})
    return msgspec.json.encode(kept_records) if kept_records else b""


def without_halves(payload: bytes, paths: Iterable[str]) -> bytes:
    """``payload`` without the dots of its acknowledged split halves (``payload`` on doubt)."""
    stored: Counter[DotKey] = Counter()
    try:
        for path in paths:
            for dot in iter_dots(half_at(payload, path)):
                stored[dot.key] += 1
    except (CannotSplitError, IndexError, ValueError):
        return payload
    return payload_without(payload, lambda key: key in stored)
