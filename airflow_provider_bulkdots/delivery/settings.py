"""Delivery settings, resolved in one place: argument, then connection extra, then default.

The extras are a closed list (the connection form's fields); an unknown key is an error.
Values from an ``AIRFLOW_CONN_...`` URI arrive as strings and are converted here.
Pure: no Airflow import.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_bulkdots.exceptions import ConfigurationError

DEFAULT_HOST = "https://industrial.api.ubidots.com"
DEFAULT_ENDPOINT = "/api/v1.6/devices/_/bulk/values"
CHECK_PATH = "/api/v2.0/devices/"

_LEGACY_PREFIX = "extra__bulkdots__"
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How to reach the API and how hard to push it. Never holds the token."""

    base_url: str = DEFAULT_HOST
    endpoint: str = DEFAULT_ENDPOINT
    max_body_bytes: int = 10_000
    rate_limit: float = 4.0
    max_in_flight: int = 4
    timeout: float = 30.0
    max_retries: int = 8
    max_retry_seconds: float = 300.0
    token_in_query: bool = False
    retry_unknown_outcome: bool = True

    @property
    def bulk_url(self) -> str:
        """The full URL of the bulk endpoint."""
        return self.base_url + self.endpoint

    @property
    def check_url(self) -> str:
        """The URL of the read-only request that checks a token."""
        return self.base_url + CHECK_PATH


#: The connection extras, in the form's order; each one is also a keyword of the Hook.
EXTRA_KEYS: tuple[str, ...] = (
    "max_body_bytes",
    "rate_limit",
    "max_in_flight",
    "timeout",
    "max_retries",
    "max_retry_seconds",
    "endpoint",
    "token_in_query",
    "retry_unknown_outcome",
)
#: Settings a task may override (the endpoint and the token's place belong to the connection).
OVERRIDE_KEYS: tuple[str, ...] = (
    "max_body_bytes",
    "rate_limit",
    "max_in_flight",
    "timeout",
    "max_retries",
    "max_retry_seconds",
    "retry_unknown_outcome",
)
DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(DeliverySettings) if f.name != "base_url"
}


def _to_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigurationError(f"{key} must be true or false, not {value!r}")


def _to_number(key: str, value: Any, kind: type[int] | type[float], minimum: float) -> Any:
    if isinstance(value, bool):
        raise ConfigurationError(f"{key} must be a number, not {value!r}")
    try:
        number = float(value) if kind is float else int(str(value).strip())
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be a number, not {value!r}") from None
    if number != number or number < minimum:  # NaN or too small
        raise ConfigurationError(f"{key} must be at least {minimum}, not {value!r}")
    return number


def _convert(key: str, value: Any) -> Any:
    if key in ("token_in_query", "retry_unknown_outcome"):
        return _to_bool(key, value)
    if key == "endpoint":
        if not isinstance(value, str) or not value.startswith("/") or "?" in value:
            raise ConfigurationError(f"endpoint must be a path starting with '/', not {value!r}")
        return value
    if key == "max_body_bytes":
        return _to_number(key, value, int, 64)
    if key in ("max_in_flight",):
        return _to_number(key, value, int, 1)
    if key == "max_retries":
        return _to_number(key, value, int, 0)
    if key == "timeout":
        number = _to_number(key, value, float, 0)
        if number == 0:
            raise ConfigurationError("timeout must be more than 0 seconds")
        return number
    return _to_number(key, value, float, 0)  # rate_limit (0: none), max_retry_seconds


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def resolve_base_url(host: str | None, port: int | None = None) -> str:
    """``scheme://host[:port]`` from a connection host given with or without scheme.

    No scheme means ``https``. ``http`` is refused for any host that is not loopback.
    """
    text = (host or "").strip().rstrip("/") or DEFAULT_HOST
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigurationError(f"host scheme must be https (or http on loopback), not {scheme!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError("host must be a plain URL; the token goes in the password field")
    if parts.path not in ("", "/"):
        raise ConfigurationError(
            f"host must not have a path ({parts.path!r}); set the 'endpoint' extra instead"
        )
    hostname = parts.hostname or ""
    if not hostname:
        raise ConfigurationError(f"host {host!r} has no host name")
    if scheme == "http" and not _is_loopback(hostname):
        raise ConfigurationError(
            f"http is refused for {hostname!r}: use https (http is allowed on loopback only)"
        )
    try:
        url_port = parts.port
    except ValueError:
        raise ConfigurationError(f"host {host!r} has an invalid port") from None
    netloc = parts.netloc
    if url_port is None and port:
        netloc = f"{netloc}:{int(port)}"
    return f"{scheme}://{netloc}"


def normalise_extras(extras: Mapping[str, Any] | None) -> dict[str, Any]:
    """The extras that are set (not ``None`` or blank), checked against the closed list."""
    found: dict[str, Any] = {}
    for raw_key, value in (extras or {}).items():
        key = raw_key[len(_LEGACY_PREFIX) :] if raw_key.startswith(_LEGACY_PREFIX) else raw_key
        if key not in EXTRA_KEYS:
            raise ConfigurationError(
                f"unknown connection extra {raw_key!r}; the extras are: {', '.join(EXTRA_KEYS)}"
            )
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        found[key] = value
    return found


def resolve_settings(
    host: str | None,
    port: int | None = None,
    extras: Mapping[str, Any] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> DeliverySettings:
    """Settings from an argument, else the connection extra, else the default."""
    chosen: dict[str, Any] = dict(DEFAULTS)
    chosen.update(normalise_extras(extras))
    for key, value in (overrides or {}).items():
        if key not in OVERRIDE_KEYS:
            raise ConfigurationError(
                f"unknown setting {key!r}; a task may set: {', '.join(OVERRIDE_KEYS)}"
            )
        if value is not None:
            chosen[key] = value
    converted = {key: _convert(key, value) for key, value in chosen.items()}
    return DeliverySettings(base_url=resolve_base_url(host, port), **converted)
