"""Bodies held on local disk until the whole input is known to be valid."""

from __future__ import annotations

import struct
import tempfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from airflow_provider_bulkdots.dots.body import Body

_FRAME = struct.Struct("<QQI")  # seq, dot_count, payload length


def spool_bodies(bodies: Iterable[Body]) -> Iterator[Body]:
    """Consume every body now (so any InvalidRowsError is raised before a single send),
    then return an iterator that reads them back from a temporary file, in order."""
    spool = tempfile.TemporaryFile(prefix="bulkdots-spool-")  # noqa: SIM115 - closed by the reader
    try:
        for body in bodies:
            spool.write(_FRAME.pack(body.seq, body.dot_count, body.size))
            spool.write(body.payload)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return _read_back(spool)


def _read_back(spool: BinaryIO) -> Iterator[Body]:
    with spool:
        while header := spool.read(_FRAME.size):
            seq, dot_count, size = _FRAME.unpack(header)
            yield Body(seq=seq, payload=spool.read(size), dot_count=dot_count)
