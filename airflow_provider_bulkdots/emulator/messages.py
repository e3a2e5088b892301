"""One request as the API sees it, and its reply: what passes between the API and HTTP."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Framing(enum.Enum):
    """How the request's body was delimited, as the transport found it."""

    READ = "read"  # a valid Content-Length; the body was read whole
    NOT_DECLARED = "not_declared"  # no Content-Length nor Transfer-Encoding: an empty body
    CHUNKED = "chunked"  # Transfer-Encoding without Content-Length: body not read
    INVALID = "invalid"  # a Content-Length that is not a number (or beside Transfer-Encoding)
    TOO_LARGE = "too_large"  # longer than the transport reads: body not read
    SHORT = "short"  # the client ended its side before Content-Length bytes came

    @property
    def leaves_bytes(self) -> bool:
        """Whether unread bytes may follow on the connection (so it must close after)."""
        return self not in (Framing.READ, Framing.NOT_DECLARED)


@dataclass(frozen=True)
class Request:
    """An HTTP request, parsed: ``headers`` keys are lower case."""

    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    content_length: int | None = None
    framing: Framing | None = None  # None: READ with a content_length, else NOT_DECLARED
    host: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.framing is None:
            framing = Framing.NOT_DECLARED if self.content_length is None else Framing.READ
            object.__setattr__(self, "framing", framing)

    def header(self, name: str, default: str = "") -> str:
        """A header's value by case-insensitive name."""
        return self.headers.get(name.lower(), default)

    def param(self, name: str) -> str | None:
        """The first value of a query parameter, or None."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    """A JSON (or HTML) reply, or a misbehaving one (see the fields below).

    - ``drop``: close the connection without a reply;
    - ``close``: reply, then close the connection;
    - ``no_body``: status line and headers only (a 204);
    - ``cut``: ``"stall"`` (half the body, then silence for ``stall_s``, then a close) or
      ``"reset"`` (half the body, then a TCP reset);
    - ``delay_s``: wait this long before replying (injected latency).
    """

    status: int
    payload: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None
    drop: bool = False
    close: bool = False
    no_body: bool = False
    cut: str | None = None
    stall_s: float = 0.0
    delay_s: float = 0.0


def detail(status: int, text: str, **headers: str) -> Response:
    """A ``{"detail": text}`` reply, the API's usual error shape."""
    return Response(status, {"detail": text}, dict(headers))


NOT_FOUND = "Not found."
