"""A request body ready to send: the unit of chunking, sending and resuming."""

from __future__ import annotations

from dataclasses import dataclass, field

from airflow_provider_bulkdots.dots.payload import body_id


@dataclass(frozen=True, slots=True)
class Body:
    """One request body: its exact bytes, its position in the stream and its dot count.

    ``body_id`` is :func:`~.payload.body_id` of its seq and bytes unless given (a resend's id
    is :func:`~.payload.resend_id`): stable, so a retried task can tell which bodies an
    earlier try already had acknowledged.
    """

    seq: int
    payload: bytes = field(repr=False)
    dot_count: int
    body_id: str = ""

    def __post_init__(self) -> None:
        if not self.body_id:
            object.__setattr__(self, "body_id", body_id(self.seq, self.payload))

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return len(self.payload)
