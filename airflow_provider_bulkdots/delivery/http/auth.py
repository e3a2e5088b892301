"""The token: checked, put on a request in one place, and kept out of every text.

``X-Auth-Token`` by default; ``?token=`` when the connection opts into ``auth_in_query``
(discouraged by the API, since the URL then holds the token). A token sent in the query is
also removed from urllib3's log lines, which carry the URL (:class:`UrlTokenFilter`).

Redaction matches the token in *every* URL spelling, not a list of known ones: each character
as itself or percent-encoded (UTF-8 or latin-1 bytes, either hex case), a space also as ``+``
(how ``requests`` writes the query: ``quote_plus``). A token with a space, ``+``, ``/`` or
``%`` is thus accepted and still never shown (:func:`token_pattern`).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from urllib.parse import quote, quote_plus

import requests
from requests.auth import AuthBase

from airflow_provider_bulkdots.delivery.pacing.token import pacer_key
from airflow_provider_bulkdots.exceptions import ConfigurationError

REDACTED = "***"
HEADER = "X-Auth-Token"
QUERY_PARAMETER = "token"
#: The loggers of urllib3 that may write a request's URL.
URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)


def check_token(token: str, where: str = "the connection's password") -> str:
    """``token`` stripped, or a :class:`ConfigurationError` that never shows it.

    A token must fit in an HTTP header: one line of latin-1 characters.
    """
    token = token.strip()
    if not token:
        raise ConfigurationError(f"no token: set it as {where}", setting="token")
    if any(char in token for char in "\r\n\0"):
        raise ConfigurationError(
            f"the token ({where}) holds a line break or NUL; it must be one line",
            setting="token",
        )
    try:
        token.encode("latin-1")
    except UnicodeEncodeError:
        raise ConfigurationError(
            f"the token ({where}) holds characters outside latin-1; an HTTP header cannot carry it",
            setting="token",
        ) from None
    return token


class TokenAuth(AuthBase):
    """The one place the token is put on a request: ``X-Auth-Token``, or ``?token=``."""

    def __init__(self, token: str, in_query: bool = False) -> None:
        self._token = check_token(token)
        self.in_query = in_query
        if in_query:
            URL_TOKEN_FILTER.add(self._token)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if self.in_query:
            request.prepare_url(request.url, {QUERY_PARAMETER: self._token})
        else:
            request.headers[HEADER] = self._token
        return request

    def __repr__(self) -> str:
        return f"TokenAuth(token='{REDACTED}', in_query={self.in_query})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenAuth) and (other._token, other.in_query) == (
            self._token,
            self.in_query,
        )

    def __hash__(self) -> int:
        return hash((TokenAuth, self.in_query))

    def redact(self, text: str) -> str:
        """``text`` with the token (plain or URL-quoted) replaced by ``***``."""
        return redact_tokens(text, frozenset({self._token}))

    def pacer_key(self, base_url: str) -> str:
        """The name of this token's shared pace on ``base_url``: a hash, never the token."""
        return pacer_key(base_url, self._token)


def _char_spellings(char: str) -> str:
    """A regex of every way a URL may spell ``char``: itself, or its bytes percent-encoded."""
    spellings = {re.escape(char)}
    for encoding in ("utf-8", "latin-1"):
        try:
            raw = char.encode(encoding)
        except UnicodeEncodeError:
            continue
        spellings.add("".join(f"%(?i:{byte:02x})" for byte in raw))
    if char == " ":
        spellings.add(r"\+")
    return "(?:" + "|".join(sorted(spellings)) + ")"


@functools.lru_cache(maxsize=64)
def token_pattern(token: str) -> re.Pattern[str]:
    """The token in any spelling: plain, ``quote``, ``quote_plus``, what ``requests`` sends."""
    return re.compile("".join(_char_spellings(char) for char in token))


def url_spellings(token: str) -> frozenset[str]:
    """The usual URL spellings of ``token`` (for maskers that match literal strings only)."""
    return frozenset({quote(token, safe=""), quote_plus(token), quote(token)}) - {token}


def redact_tokens(text: str, tokens: frozenset[str]) -> str:
    """``text`` with each of ``tokens``, in any URL spelling, replaced by ``***``."""
    for token in tokens:
        text = token_pattern(token).sub(REDACTED, text)
    return text


class UrlTokenFilter(logging.Filter):
    """Removes every query-string token of this process from the records of a logger.

    Installed on urllib3's loggers the first time a token goes in the query: their DEBUG
    lines hold the request's URL. Filtering at the logger, before any handler, keeps the
    token out of every handler at once.
    """

    def __init__(self) -> None:
        super().__init__()
        self._tokens: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, token: str) -> None:
        """Redact ``token`` from now on (and install the filter on urllib3's loggers)."""
        with self._lock:
            self._tokens = self._tokens | {token}
            for name in URLLIB3_LOGGERS:
                logger = logging.getLogger(name)
                if self not in logger.filters:
                    logger.addFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_tokens(message, self._tokens)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


URL_TOKEN_FILTER = UrlTokenFilter()


__all__ = [
    "HEADER",
    "REDACTED",
    "URL_TOKEN_FILTER",
    "TokenAuth",
    "UrlTokenFilter",
    "check_token",
    "redact_tokens",
    "token_pattern",
    "url_spellings",
]
