"""The token: checked, put on a request in one place, and kept out of every text.

``X-Auth-Token`` by default; ``?token=`` when the connection opts into ``auth_in_query``
(discouraged by the API, since the URL then holds the token). :class:`TokenRedactingFilter`
keeps the query form out of urllib3's DEBUG lines, which carry the URL.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import requests
from requests.auth import AuthBase

from airflow_provider_bulkdots.exceptions import ConfigurationError

REDACTED = "***"
HEADER = "X-Auth-Token"
QUERY_PARAMETER = "token"


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
        quoted = quote(self._token, safe="")
        return text.replace(self._token, REDACTED).replace(quoted, REDACTED)

    def redacting_filter(self) -> TokenRedactingFilter:
        """A logging filter that removes this token from every record it sees."""
        return TokenRedactingFilter(self)


class TokenRedactingFilter(logging.Filter):
    """Rewrites log records so the token never reaches a handler (urllib3 logs URLs)."""

    def __init__(self, auth: TokenAuth) -> None:
        super().__init__()
        self._auth = auth

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self._auth.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


__all__ = ["HEADER", "REDACTED", "TokenAuth", "TokenRedactingFilter", "check_token"]
