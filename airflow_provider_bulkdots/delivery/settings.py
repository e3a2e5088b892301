"""Delivery settings: each declared once, resolved in one place, checked before any request.

:data:`SETTINGS` declares every setting with its type, default, range and help text. The
connection form (``get_provider_info``), the Hook's and the Operator's keyword arguments
(tested against it), the retry policy's defaults and the documented table all come from it.

Resolution order: argument, then connection extra, then default. The extras are a closed list
(the connection form's fields); an unknown key is an error. Values from an ``AIRFLOW_CONN_...``
URI arrive as strings and are converted here; whole numbers given as floats (``5000.0``) are
accepted for integer settings. Every failure is a :class:`ConfigurationError` naming the
setting. Pure: no Airflow import.
"""

from __future__ import annotations

import ipaddress
import logging
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal
from urllib.parse import quote, urlsplit

from airflow_provider_bulkdots.exceptions import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_HOST = "https://industrial.api.ubidots.com"
DEFAULT_ENDPOINT = "/api/v1.6/devices/_/bulk/values"
CHECK_PATH = "/api/v2.0/devices/"
#: Assumed (docs/bodies.md, "What is assumed of the API"): the documented v2.0 device-wide
#: delete with a variable in place of its ``_``; ``{device}`` and ``{variable}`` are filled
#: with the quoted labels.
DEFAULT_DELETE_PATH = "/api/v2.0/devices/~{device}/~{variable}/values/delete/"

_LEGACY_PREFIX = "extra__bulkdots__"
_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}
#: Old extra names still read, each with the name that replaced it.
DEPRECATED_EXTRAS: dict[str, str] = {
    # Airflow masks every extra whose name contains "token": the UI stored "***" for it.
    "token_in_query": "auth_in_query",
    # A lost reply has one name (docs/glossary.md); also the task argument's old name.
    "retry_unknown_outcome": "resend_lost_replies",
}
_WHY_RENAMED: dict[str, str] = {
    "token_in_query": "Airflow's UI masks any extra whose name contains 'token'",
    "retry_unknown_outcome": "a lost reply has one name: see the glossary",
}


@dataclass(frozen=True, slots=True)
class Setting:
    """One delivery setting: its name, type, default, bounds and the words that explain it.

    ``minimum``/``maximum`` are inclusive. ``task_override`` says whether a task (Hook or
    Operator argument) may set it, or only the connection.
    """

    name: str
    kind: type
    default: Any
    label: str
    help: str
    minimum: float | None = None
    maximum: float | None = None
    task_override: bool = True
    #: For text settings: the allowed words (a choice); ``None``: a path, ``()``: a name.
    choices: tuple[str, ...] | None = None

    @property
    def range_text(self) -> str:
        """The allowed values in words, for messages and the docs."""
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            if self.choices is None:
                return "a path starting with /"
            if not self.choices:
                return "a connection id"
            return ", ".join(self.choices[:-1]) + f" or {self.choices[-1]}"
        low = _number_text(self.minimum)
        return f"{low} to {_number_text(self.maximum)}" if self.maximum is not None else f">= {low}"

    def convert(self, value: Any) -> Any:
        """``value`` as this setting's type, within its range; else a ConfigurationError."""
        if self.kind is bool:
            return self._to_bool(value)
        if self.kind is str:
            return self._to_path(value) if self.choices is None else self._to_word(value)
        return self._to_number(value)

    def _refuse(self, value: Any, why: str) -> ConfigurationError:
        shown = value if isinstance(value, int | float) else repr(value)
        return ConfigurationError(f"{self.name} {why}, not {shown}", setting=self.name)

    def _to_bool(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        if value == "***":
            raise ConfigurationError(
                f"{self.name} holds '***': the Airflow UI masked it (an extra named "
                "'token_in_query' is treated as a secret); save the connection again with "
                "the 'auth_in_query' switch",
                setting=self.name,
            )
        raise self._refuse(value, "must be true or false")

    def _to_path(self, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith("/") or "?" in value:
            raise self._refuse(value, "must be a path starting with '/'")
        if self.name == "delete_path" and not _names_one_series(value):
            raise self._refuse(value, "must hold {device} and {variable} (one series at a time)")
        return value

    def _to_word(self, value: Any) -> str:
        if not isinstance(value, str) or value.strip() != value:
            raise self._refuse(value, f"must be {self.range_text}")
        if self.choices and value not in self.choices:
            raise self._refuse(value, f"must be {self.range_text}")
        return value

    def _to_number(self, value: Any) -> int | float:
        number = _parse_number(value)
        if number is None:
            raise self._refuse(value, "must be a number")
        if self.kind is int:
            if not number.is_integer():
                raise self._refuse(value, "must be a whole number")
            number = int(number)
        assert self.minimum is not None and self.maximum is not None
        if not self.minimum <= number <= self.maximum:
            raise self._refuse(value, f"must be within {self.range_text}")
        return number

    def form_field(self) -> dict[str, Any]:
        """This setting as a field of the connection form (``conn-fields``)."""
        json_type = {bool: "boolean", int: "integer", float: "number", str: "string"}[self.kind]
        schema: dict[str, Any] = {"type": [json_type, "null"], "default": self.default}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        if self.choices:
            schema["enum"] = [*self.choices, None]
        return {"label": self.label, "description": self.help, "schema": schema}


def _names_one_series(template: str) -> bool:
    try:
        filled = template.format(device="\0d", variable="\0v")
    except (KeyError, IndexError, ValueError):
        return False
    return "\0d" in filled and "\0v" in filled


def _number_text(number: float | None) -> str:
    if number is None:
        return ""
    return f"{number:,}" if float(number).is_integer() and number >= 1000 else f"{number:g}"


def _parse_number(value: Any) -> float | None:
    """A finite number from a number or a numeric string; ``None`` otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


#: The window ``rate_limit`` counts in.
RateWindow = Literal["second", "minute", "hour"]
#: A task's priority on its token (with a rate coordinator), first served first.
Priority = Literal["live", "backfill"]
#: Seconds of each window ``rate_limit`` may count in.
WINDOW_SECONDS: dict[str, float] = {"second": 1.0, "minute": 60.0, "hour": 3600.0}
#: Priorities of a task on its token, first served first.
PRIORITIES: tuple[str, ...] = ("live", "backfill")

#: Every delivery setting, in the connection form's order.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "max_body_bytes", int, 10_000, "Max body bytes",
        "Largest request body sent, in exact bytes (the API's limit is 10,000).",
        minimum=128, maximum=10_000,
    ),
    Setting(
        "rate_limit", float, 4.0, "Rate limit (requests per window)",
        "Requests the token allows per rate_window (0: no limit), shared by every task that "
        "uses it on the machine, or on every machine with a rate coordinator; paced at 97 % "
        "of it, evenly, never in bursts.",
        minimum=0, maximum=1_000_000,
    ),
    Setting(
        "rate_window", str, "second", "Rate window",
        "The window rate_limit counts: second, minute or hour (plans that count per minute "
        "or per hour).",
        choices=tuple(WINDOW_SECONDS),
    ),
    Setting(
        "dots_per_hour", float, 0.0, "Dots per hour (account)",
        "Dots the account may store per hour (0: no limit): a second limit paced beside "
        "rate_limit, on the rate coordinator (it needs rate_coordinator_conn_id).",
        minimum=0, maximum=1_000_000_000,
    ),
    Setting(
        "rate_coordinator_conn_id", str, "", "Rate coordinator (Redis connection)",
        "An Airflow connection of type redis: every task on every machine that uses the token "
        "takes its turns there. Empty: the pace is the machine's own.",
        choices=(),
    ),
    Setting(
        "priority", str, "backfill", "Priority on the token",
        "With a rate coordinator, live tasks take their turns before backfill tasks (a "
        "backfill delays a live task by one turn at most).",
        choices=PRIORITIES,
    ),
    Setting(
        "max_in_flight", int, 4, "Max requests in flight",
        "Requests sent concurrently by one task.",
        minimum=1, maximum=16,
    ),
    Setting(
        "timeout", float, 30.0, "Timeout (s)",
        "Longest time one request may take, from connecting to the last byte of its reply.",
        minimum=0.1, maximum=600,
    ),
    Setting(
        "max_retries", int, 8, "Max retries",
        "Retries of one request after 429, 5xx (not 501), a network error or a timeout.",
        minimum=0, maximum=100,
    ),
    Setting(
        "max_retry_seconds", float, 300.0, "Max total retry time (s)",
        "Total time one request may spend retrying, waits included.",
        minimum=0, maximum=86_400,
    ),
    Setting(
        "defer_threshold", float, 60.0, "Defer waits from (s)",
        "A wait the API asks for (Retry-After) this long or longer frees the worker: the task "
        "defers to the triggerer and resumes from its ledger. Shorter waits are spent in "
        "place; 0: always in place.",
        minimum=0, maximum=86_400,
    ),
    Setting(
        "endpoint", str, DEFAULT_ENDPOINT, "Endpoint path",
        "Path of the bulk endpoint on the host. A prefix before its /api/ (an API behind a "
        "gateway path) is kept for every read too.",
        task_override=False,
    ),
    Setting(
        "delete_path", str, DEFAULT_DELETE_PATH, "Delete path (replace=True)",
        "Path that deletes one variable's values in a span (POST, ?startDate=&endDate= in ms); "
        "{device} and {variable} are filled with the labels. Assumed (docs: What is assumed of "
        "the API).",
        task_override=False,
    ),
    Setting(
        "auth_in_query", bool, False, "Token in the query string",
        "Send the token as ?token= instead of the X-Auth-Token header (discouraged: the URL "
        "then holds it). Replaces the extra 'token_in_query', still read but deprecated.",
        task_override=False,
    ),
    Setting(
        "resend_lost_replies", bool, True, "Resend after a lost reply",
        "Where nothing reads back (the Hook alone, or the operator with reconcile=False): "
        "resend a request whose reply was lost; nothing is lost, but its dots may be stored "
        "twice. Off: such a body is counted and the task fails without an Airflow retry. "
        "Replaces retry_unknown_outcome, still read but deprecated.",
    ),
)  # fmt: skip
SETTINGS_BY_NAME: dict[str, Setting] = {setting.name: setting for setting in SETTINGS}
#: The connection extras, in the form's order.
EXTRA_KEYS: tuple[str, ...] = tuple(SETTINGS_BY_NAME)
#: Settings a task may override (the endpoint and the token's place belong to the connection).
OVERRIDE_KEYS: tuple[str, ...] = tuple(s.name for s in SETTINGS if s.task_override)
DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}


@dataclass(frozen=True, slots=True)
class SettingsOverrides:
    """The settings one task sets itself: the Hook's and the Operator's keyword arguments of
    the same names (``None``: the connection's extra, else the default).

    Its fields are :data:`OVERRIDE_KEYS`, in the same order (a test keeps them equal); the
    values are checked against :data:`SETTINGS` where they are resolved
    (:func:`resolve_settings`), with the connection's extras.
    """

    max_body_bytes: int | None = None
    rate_limit: float | None = None
    rate_window: RateWindow | None = None
    dots_per_hour: float | None = None
    rate_coordinator_conn_id: str | None = None
    priority: Priority | None = None
    max_in_flight: int | None = None
    timeout: float | None = None
    max_retries: int | None = None
    max_retry_seconds: float | None = None
    defer_threshold: float | None = None
    resend_lost_replies: bool | None = None

    def given(self) -> dict[str, Any]:
        """The settings this task sets (not ``None``), by name."""
        chosen = {field.name: getattr(self, field.name) for field in fields(self)}
        return {name: value for name, value in chosen.items() if value is not None}


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How to reach the API and how hard to push it. Never holds the token.

    Build it through :func:`resolve_settings`, which checks every value against
    :data:`SETTINGS`; the defaults here are the same declaration's.
    """

    base_url: str = DEFAULT_HOST
    endpoint: str = DEFAULTS["endpoint"]
    max_body_bytes: int = DEFAULTS["max_body_bytes"]
    rate_limit: float = DEFAULTS["rate_limit"]
    rate_window: RateWindow = DEFAULTS["rate_window"]
    dots_per_hour: float = DEFAULTS["dots_per_hour"]
    rate_coordinator_conn_id: str = DEFAULTS["rate_coordinator_conn_id"]
    priority: Priority = DEFAULTS["priority"]
    max_in_flight: int = DEFAULTS["max_in_flight"]
    timeout: float = DEFAULTS["timeout"]
    max_retries: int = DEFAULTS["max_retries"]
    max_retry_seconds: float = DEFAULTS["max_retry_seconds"]
    defer_threshold: float = DEFAULTS["defer_threshold"]
    auth_in_query: bool = DEFAULTS["auth_in_query"]
    delete_path: str = DEFAULTS["delete_path"]
    resend_lost_replies: bool = DEFAULTS["resend_lost_replies"]

    @property
    def requests_per_second(self) -> float:
        """``rate_limit`` over its window, in requests per second (0: no limit)."""
        return self.rate_limit / WINDOW_SECONDS[self.rate_window]

    @property
    def bulk_url(self) -> str:
        """The full URL of the bulk endpoint."""
        return self.base_url + self.endpoint

    def delete_url(self, device: str, variable: str) -> str:
        """The URL that deletes one series' values in a span (``replace=True``)."""
        path = self.delete_path.format(
            device=quote(device, safe=""), variable=quote(variable, safe="")
        )
        return self.api_root + path  # under the endpoint's gateway prefix, as reads

    @property
    def api_root(self) -> str:
        """Where the API's paths start: the host plus the path prefix the ``endpoint`` extra
        puts before ``/api/`` (an API behind a gateway path), so reads go where writes go."""
        at = self.endpoint.find("/api/")
        return self.base_url + (self.endpoint[:at] if at > 0 else "")

    @property
    def check_url(self) -> str:
        """The URL of the read-only request that checks a token."""
        return self.api_root + CHECK_PATH


def _is_loopback(hostname: str) -> bool:
    if hostname.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def resolve_base_url(host: str | None, port: int | None = None) -> str:
    """``scheme://host[:port]`` from a connection host given with or without scheme.

    No scheme means ``https``. ``http`` is refused for any host that is not loopback. The
    port may be in the host's URL or in ``port`` (the Port field; empty or 0: none); both
    given and different is an error that names the two.
    """
    text = (host or "").strip().rstrip("/") or DEFAULT_HOST
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()

    def refuse(message: str) -> ConfigurationError:
        return ConfigurationError(message, setting="host")

    if scheme not in ("http", "https"):
        raise refuse(f"host scheme must be https (or http on loopback), not {scheme!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise refuse("host must be a plain URL; the token goes in the password field")
    if parts.path not in ("", "/"):
        raise refuse(f"host must not have a path ({parts.path!r}); set the 'endpoint' extra")
    hostname = parts.hostname or ""
    if not hostname:
        raise refuse(f"host {host!r} has no host name")
    if scheme == "http" and not _is_loopback(hostname):
        raise refuse(
            f"http is refused for {hostname!r}: use https (http is allowed on loopback only)"
        )
    try:
        url_port = parts.port
    except ValueError:
        raise refuse(f"host {host!r} has an invalid port") from None
    netloc = parts.netloc
    if port and url_port is not None and int(port) != url_port:
        raise ConfigurationError(
            f"the host URL {text!r} names port {url_port} but the Port field says {int(port)}: "
            "leave the Port field empty (the URL's port is used) or make the two agree",
            setting="port",
        )
    if url_port is None and port:
        netloc = f"{netloc}:{int(port)}"
    return f"{scheme}://{netloc}"


def _extra_name(raw_key: str) -> str:
    """The current name of an extra key (legacy prefix and deprecated names undone)."""
    key = raw_key[len(_LEGACY_PREFIX) :] if raw_key.startswith(_LEGACY_PREFIX) else raw_key
    if key in DEPRECATED_EXTRAS:
        message = (
            f"The connection extra {raw_key!r} is deprecated: name it "
            f"{DEPRECATED_EXTRAS[key]!r} ({_WHY_RENAMED[key]})."
        )
        log.warning("%s", message)
        warnings.warn(message, DeprecationWarning, stacklevel=4)
        return DEPRECATED_EXTRAS[key]
    if key not in SETTINGS_BY_NAME:
        raise ConfigurationError(
            f"unknown connection extra {raw_key!r}; the extras are: {', '.join(EXTRA_KEYS)}",
            setting=raw_key,
        )
    return key


def normalise_extras(extras: Mapping[str, Any] | None) -> dict[str, Any]:
    """The extras that are set (not ``None`` or blank), checked against the closed list."""
    found: dict[str, Any] = {}
    for raw_key, value in (extras or {}).items():
        key = _extra_name(raw_key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in found:
            raise ConfigurationError(
                f"the extra {key!r} is given twice (under an old name too); keep {key!r}",
                setting=key,
            )
        found[key] = value
    return found


def check_overrides(overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """A task's settings that are set, each known, overridable and valid."""
    checked: dict[str, Any] = {}
    for given, value in (overrides or {}).items():
        key = renamed_argument(given) if given in DEPRECATED_EXTRAS else given
        if key not in OVERRIDE_KEYS:
            raise ConfigurationError(
                f"unknown setting {key!r}; a task may set: {', '.join(OVERRIDE_KEYS)}",
                setting=key,
            )
        if value is not None:
            checked[key] = SETTINGS_BY_NAME[key].convert(value)
    return checked


def resolve_settings(
    host: str | None,
    port: int | None = None,
    extras: Mapping[str, Any] | None = None,
    overrides: SettingsOverrides | Mapping[str, Any] | None = None,
) -> DeliverySettings:
    """Settings from an argument (``overrides``, as the typed object or by name), else the
    connection extra, else the default."""
    if isinstance(overrides, SettingsOverrides):
        overrides = overrides.given()
    chosen: dict[str, Any] = dict(DEFAULTS)
    chosen.update(normalise_extras(extras))
    chosen.update(check_overrides(overrides))
    converted = {key: SETTINGS_BY_NAME[key].convert(value) for key, value in chosen.items()}
    if converted["dots_per_hour"] and not converted["rate_coordinator_conn_id"]:
        raise ConfigurationError(
            "dots_per_hour is paced on a rate coordinator: set rate_coordinator_conn_id too",
            setting="dots_per_hour",
        )
    return DeliverySettings(base_url=resolve_base_url(host, port), **converted)


def settings_table() -> str:
    """The table of extras (docs/connections), from :data:`SETTINGS` (a test keeps them equal)."""
    lines = ["| extra | default | range | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        default = setting.default
        if isinstance(default, bool):
            shown = str(default).lower()
        elif isinstance(default, str):
            shown = f"`{default}`" if default else ""
        else:
            shown = f"{default:g}"
        allowed = setting.range_text if setting.kind in (int, float) or setting.choices else ""
        lines.append(f"| `{setting.name}` | {shown} | {allowed} | {setting.help} |")
    return "\n".join(lines)


def renamed_argument(old: str, stacklevel: int = 4) -> str:
    """The new name of a deprecated task argument, said with a ``DeprecationWarning``."""
    new = DEPRECATED_EXTRAS[old]
    warnings.warn(
        f"the argument {old!r} is deprecated: use {new!r} ({_WHY_RENAMED[old]})",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return new


def resend_lost_replies_argument(resend: bool | None, deprecated: bool | None) -> bool | None:
    """``resend_lost_replies``, or the value given under its old name ``retry_unknown_outcome``
    (with a ``DeprecationWarning``); both given is an error."""
    if deprecated is None:
        return resend
    renamed_argument("retry_unknown_outcome", stacklevel=5)
    if resend is not None:
        raise ConfigurationError(
            "give resend_lost_replies only (retry_unknown_outcome is its deprecated name)",
            setting="resend_lost_replies",
        )
    return deprecated


#: The ``:param:`` of the deprecated task arguments (the Hook's and the Operator's).
DOCUMENTED_DEPRECATED = (
    ":param retry_unknown_outcome: deprecated name of ``resend_lost_replies`` (a "
    "``DeprecationWarning``)."
)


def documented_overrides(indent: str = "    ") -> str:
    """``:param:`` lines of the settings a task may override, from their one declaration
    (appended to the hook's and the operator's class docstrings)."""
    lines = []
    for setting in SETTINGS:
        if setting.name in OVERRIDE_KEYS:
            lines.append(
                f"{indent}:param {setting.name}: {setting.help} Connection extra "
                f"``{setting.name}``; default ``{setting.default!r}``."
            )
    lines.append(f"{indent}{DOCUMENTED_DEPRECATED}")
    return "\n" + "\n".join(lines) + "\n"
