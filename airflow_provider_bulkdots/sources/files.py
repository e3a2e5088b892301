"""Files as streams of bytes: compression inferred from the suffix, content identity."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO, Any, cast

from airflow_provider_bulkdots.dots.errors import DatasetError

# As pandas' compression="infer": the last suffix names the compression (zstd on Python 3.14+).
COMPRESSION_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
COMPRESSIONS = ("infer", "gzip", "bz2", "xz", "zstd", None)
# Checksums object stores report for an object's exact bytes, in order of preference.
_CHECKSUM_KEYS = ("ETag", "etag", "md5Hash", "md5", "crc32c", "checksum", "ContentMD5")
_LOCAL_PROTOCOLS = ("file", "local")
# What a damaged compressed file raises while it is read (gzip's BadGzipFile is an OSError).
DECOMPRESSION_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, lzma.LZMAError, zlib.error)
_READ_BYTES = 1 << 20


def split_suffixes(name: str, compression: str | None) -> tuple[str, str | None]:
    """The format suffix of ``name`` and its compression (``"infer"`` reads the suffix)."""
    lowered = name.lower()
    found = None
    for suffix, kind in COMPRESSION_SUFFIXES.items():
        if lowered.endswith(suffix):
            lowered, found = lowered[: -len(suffix)], kind
            break
    if compression not in COMPRESSIONS:
        raise DatasetError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    chosen = found if compression == "infer" else compression
    dot = lowered.rfind(".")
    return (lowered[dot:] if dot > lowered.rfind("/") else ""), chosen


OnOpen = Callable[[IO[bytes]], None]
"""Called with the file as stored (before decompression), e.g. to follow the read position."""


@contextmanager
def open_bytes(
    path: Any, compression: str | None, on_open: OnOpen | None = None
) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed."""
    with path.open("rb") as raw:
        if on_open is not None:
            on_open(raw)
        if compression is None:
            yield raw
        elif compression == "gzip":
            with gzip.GzipFile(fileobj=raw) as stream:
                yield cast(IO[bytes], stream)
        elif compression == "bz2":
            with bz2.BZ2File(raw) as stream:
                yield stream
        elif compression == "xz":
            with lzma.LZMAFile(raw) as stream:
                yield stream
        else:
            yield from _zstd(raw)


def _zstd(raw: IO[bytes]) -> Iterator[IO[bytes]]:
    """Zstandard through the standard library's ``compression.zstd`` (Python 3.14+)."""
    import importlib

    try:
        zstd = importlib.import_module("compression.zstd")
    except ImportError:
        raise DatasetError(
            "reading .zst files needs Python 3.14 or later (compression.zstd); "
            "decompress the file first, or give compression=None for a plain file"
        ) from None
    with zstd.ZstdFile(raw) as stream:
        yield stream


def content_identity(path: Any) -> dict[str, object]:
    """Size plus what identifies the bytes: the store's checksum/ETag, else a SHA-256 of them.

    Never the modification time: the same bytes written again are the same input.
    """
    info = path.stat()
    size = _stat_field(info, "st_size", "size")
    protocol = getattr(path, "protocol", "file")
    protocol = protocol[0] if isinstance(protocol, tuple | list) else protocol
    if protocol not in _LOCAL_PROTOCOLS:
        checksum = _stat_field(info, *_CHECKSUM_KEYS)
        if checksum is not None:
            return {"size": size, "checksum": checksum}
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(_READ_BYTES):
            digest.update(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def _stat_field(info: Any, *names: str) -> str | None:
    for name in names:
        value = info.get(name) if isinstance(info, Mapping) else getattr(info, name, None)
        if value is not None:
            return str(value)
    return None
