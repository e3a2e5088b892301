"""A request body ready to send: the unit of chunking, sending and resuming."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Body:
    """One request body: its exact bytes, its position in the stream and its dot count.

    ``body_id`` is stable: the same rows and options give the same ids in the same order,
    so a retried task can tell which bodies an earlier try already had acknowledged.
    """

    seq: int
    payload: bytes = field(repr=False)
    dot_count: int
    body_id: str = ""

    def __post_init__(self) -> None:
        if not self.body_id:
            digest = hashlib.blake2b(self.payload, digest_size=8).hexdigest()
            object.__setattr__(self, "body_id", f"{self.seq:06d}-{digest}")

    @property
    def size(self) -> int:
        """Bytes on the wire."""
        return len(self.payload)
