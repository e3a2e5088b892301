"""The Hook: where the API is, the token, and delivery of bodies at the API's limits."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests

from airflow_provider_bulkdots.compat import BaseHook, current_context
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.http.attempt import HEADERS, reply_json
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth, check_token, url_spellings
from airflow_provider_bulkdots.delivery.http.sender import OnResult, Sender
from airflow_provider_bulkdots.delivery.http.transport import (
    departing,
    make_session,
    request_deadline,
)
from airflow_provider_bulkdots.delivery.pacing.coordinator import CoordinatedPacer
from airflow_provider_bulkdots.delivery.pacing.limiter import Pacer, leaving
from airflow_provider_bulkdots.delivery.pacing.token import (
    LEGACY_STATE_DIR_ENV,
    TokenPacer,
    resolve_state_dir,
)
from airflow_provider_bulkdots.delivery.reporting.progress import ProgressMeter
from airflow_provider_bulkdots.delivery.reporting.results import DeliverySummary
from airflow_provider_bulkdots.delivery.settings import (
    DeliverySettings,
    Priority,
    RateWindow,
    SettingsOverrides,
    documented_overrides,
    resend_lost_replies_argument,
    resolve_settings,
)
from airflow_provider_bulkdots.dots import Report
from airflow_provider_bulkdots.dots.body import Body
from airflow_provider_bulkdots.dots.options import OnInvalid, ReshapeOptions
from airflow_provider_bulkdots.exceptions import BulkDotsError, DevicesDisabledError, api_error
from airflow_provider_bulkdots.hooks.coordinator import coordinated_pacer
from airflow_provider_bulkdots.hooks.delivery import (
    BodyStage,
    DatasetDelivery,
    DeliveryParts,
    Guarantees,
)
from airflow_provider_bulkdots.planning import Plan, make_plan
from airflow_provider_bulkdots.planning.replace import SpanDeleter
from airflow_provider_bulkdots.sources import Dataset, ReadOptions, open_dataset
from airflow_provider_bulkdots.sources.assets import ubidots_asset as ubidots_asset_of
from airflow_provider_bulkdots.stores.lasting import record_location
from airflow_provider_bulkdots.stores.ledger import task_ledger


def rate_state_dir() -> tuple[Path, bool]:
    """Where the token's pace is shared and whether it was chosen: ``[bulkdots]
    rate_state_dir`` (``AIRFLOW__BULKDOTS__RATE_STATE_DIR``), then the deprecated
    ``$BULKDOTS_RATE_STATE_DIR``, then this user's directory in the temp dir."""
    from airflow_provider_bulkdots.compat import provider_option

    configured = provider_option("bulkdots", "rate_state_dir")
    return resolve_state_dir(configured, os.environ.get(LEGACY_STATE_DIR_ENV))


def _mask_secret(secret: str) -> None:
    from airflow_provider_bulkdots.compat import mask_secret

    mask_secret(secret)


@dataclass(frozen=True)
class DeliveryResult:
    """What :meth:`BulkDotsHook.deliver` did: the task_ids in body order (earlier tries'
    included) and the summary, the same keys as the operator's XCom ``summary``."""

    task_ids: list[str]
    summary: dict[str, Any]


def _run_to_the_end(delivery: DatasetDelivery, on_invalid: OnInvalid) -> DeliveryResult:
    """Run ``delivery``; raise where it cannot count as done, as the operator fails."""
    started = time.monotonic()
    delivery.run()
    summary = delivery.summary(time.monotonic() - started)
    quarantined = delivery.delivery_summary.quarantined
    if quarantined and on_invalid != "skip":
        raise DevicesDisabledError(quarantined, delivery.delivery_summary)
    problem = delivery.incomplete(on_invalid)
    if problem is not None:
        problem.summary = delivery.delivery_summary
        raise problem
    return DeliveryResult(delivery.task_ids, summary)


class BulkDotsHook(BaseHook):
    """Talks to the Ubidots bulk dots endpoint of one connection.

    The connection's host is the API URL (``https://industrial.api.ubidots.com`` if empty),
    its password the token, its extras the delivery settings. Keyword arguments override the
    extras for one task; ``sleep`` replaces every wait (tests pass ``lambda s: None``);
    ``defer_long_waits``: a wait the API asks for of ``defer_threshold`` seconds or more stops
    the delivery with :class:`~..delivery.pacing.token.WaitTooLong` (the operator defers on
    it) instead of being waited out.

    :meth:`deliver` sends a dataset with the operator's guarantees (ledger, read-back,
    ``skip_existing``, progress), for a TaskFlow task; :meth:`send` sends ready bodies.

    :param bulkdots_conn_id: the connection (API URL, token, delivery settings).
    :param sleep: replaces every wait (tests pass ``lambda s: None``).
    :param progress_interval: seconds between progress lines.
    :param defer_long_waits: a wait the API asks for of ``defer_threshold`` seconds or more
        stops the delivery with ``WaitTooLong`` (the operator defers on it).
    :param overrides: the task's settings as one :class:`~..delivery.settings.SettingsOverrides`
        (what the operator passes), instead of the keywords below.
    """

    conn_name_attr = "bulkdots_conn_id"
    default_conn_name = "bulkdots_default"
    conn_type = "bulkdots"
    hook_name = "Ubidots bulk dots"

    def __init__(
        self,
        bulkdots_conn_id: str = default_conn_name,
        *,
        max_body_bytes: int | None = None,
        rate_limit: float | None = None,
        rate_window: RateWindow | None = None,
        dots_per_hour: float | None = None,
        rate_coordinator_conn_id: str | None = None,
        priority: Priority | None = None,
        max_in_flight: int | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        max_retry_seconds: float | None = None,
        defer_threshold: float | None = None,
        resend_lost_replies: bool | None = None,
        retry_unknown_outcome: bool | None = None,
        overrides: SettingsOverrides | None = None,
        sleep: Callable[[float], None] | None = None,
        progress_interval: float = 30.0,
        defer_long_waits: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bulkdots_conn_id = bulkdots_conn_id
        given = SettingsOverrides(
            max_body_bytes=max_body_bytes,
            rate_limit=rate_limit,
            rate_window=rate_window,
            dots_per_hour=dots_per_hour,
            rate_coordinator_conn_id=rate_coordinator_conn_id,
            priority=priority,
            max_in_flight=max_in_flight,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_seconds=max_retry_seconds,
            defer_threshold=defer_threshold,
            resend_lost_replies=resend_lost_replies_argument(
                resend_lost_replies, retry_unknown_outcome
            ),
        )
        if overrides is not None and given.given():
            raise TypeError(
                f"give the settings {sorted(given.given())} as keywords or in overrides=, not both"
            )
        self.overrides: SettingsOverrides = overrides if overrides is not None else given
        self._sleep = sleep
        self.progress_interval = progress_interval
        self._settings: DeliverySettings | None = None
        self._auth: TokenAuth | None = None
        self._session: requests.Session | None = None
        self._senders: dict[bool, Sender] = {}
        self._limiter: Pacer | None = None
        self.defer_long_waits = defer_long_waits

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bulkdots_conn_id={self.bulkdots_conn_id!r})"

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """How the form shows Airflow's own fields, in the method's snake_case keys.

        The same as ``ui-field-behaviour`` in ``get_provider_info`` (whose schema spells the
        keys in kebab-case), for Airflow versions that still call this method.
        """
        from airflow_provider_bulkdots.get_provider_info import UI_FIELD_BEHAVIOUR

        return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}

    # -- the connection -----------------------------------------------------------------

    def _load(self) -> tuple[DeliverySettings, TokenAuth]:
        if self._settings is None or self._auth is None:
            conn = self.get_connection(self.bulkdots_conn_id)
            password = conn.password or ""
            if password.strip():
                _mask_secret(password.strip())
            token = check_token(password, f"the password of connection {self.bulkdots_conn_id!r}")
            settings = resolve_settings(conn.host, conn.port, conn.extra_dejson, self.overrides)
            self._auth = TokenAuth(token, in_query=settings.auth_in_query)
            if settings.auth_in_query:
                for spelling in url_spellings(token):
                    _mask_secret(spelling)
            self._settings = settings
        return self._settings, self._auth

    @property
    def settings(self) -> DeliverySettings:
        """The resolved settings: argument, then connection extra, then default."""
        return self._load()[0]

    def body_options(self, options: ReshapeOptions | None = None) -> ReshapeOptions:
        """``options`` (default: the defaults) with this hook's resolved ``max_body_bytes``:
        the one way the body limit (argument, then extra, then default) reaches the packer."""
        limit = self.settings.max_body_bytes
        return replace(options or ReshapeOptions(), max_body_bytes=limit)

    def get_conn(self) -> requests.Session:
        """The one ``requests.Session`` of this Hook (TLS verified, no automatic retries)."""
        if self._session is None:
            self._session = make_session(self.settings.max_in_flight)
        return self._session

    @property
    def limiter(self) -> Pacer:
        """The pace of the token, shared by every task on this machine that uses it, or on
        every machine through the rate coordinator (``rate_coordinator_conn_id``).

        Every request of this Hook takes a turn from it: bulk POSTs, the token check and
        reads. Its state on the machine is a file named by a hash of host and token in the
        directory of :func:`rate_state_dir`: a chosen one that is not this user's alone is
        refused (:class:`~.state_files.UnsafeStateError`), the default one is given up for
        pacing in this process, with a warning. The file also paces while the coordinator
        does not answer.
        """
        if self._limiter is None:
            settings, auth = self._load()
            key = auth.pacer_key(settings.base_url)
            state_dir, chosen = rate_state_dir()
            local = TokenPacer(
                settings.requests_per_second,
                key=key,
                state_dir=state_dir,
                refuse_unsafe=chosen,
            )
            self._limiter = coordinated_pacer(settings, key, local, self.log)
        return self._limiter

    def token_turns(self) -> int:
        """Turns the token's shared pace has counted: on the coordinator (every machine) or
        in the machine's file (every task of the machine)."""
        limiter = self.limiter
        if isinstance(limiter, CoordinatedPacer):
            return limiter.turns()
        return limiter.state().turns if isinstance(limiter, TokenPacer) else 0

    def wait_for_turn(self) -> None:
        """Wait for the token's next turn (before a read of the API)."""
        self.limiter.wait_turn(self._sleep or time.sleep)

    def get_sender(self, *, reading_back: bool = False) -> Sender:
        """The sender all deliveries of this Hook share (one limiter, one session).

        ``reading_back``: lost replies are read back by the caller, so the sender never
        resends them blind, whatever ``resend_lost_replies`` says.
        """
        if reading_back not in self._senders:
            settings, auth = self._load()
            if reading_back:
                settings = replace(settings, resend_lost_replies=False)
            self._senders[reading_back] = Sender(
                self.get_conn(),
                auth,
                settings,
                limiter=self.limiter,
                sleep=self._sleep,
                log=self.log,
                progress_interval=self.progress_interval,
                defer_over=self._defer_over(settings),
            )
        return self._senders[reading_back]

    def get_reader(self) -> SeriesReader:
        """Reads series back through the read endpoint, at the same pace as the writes."""
        settings, auth = self._load()
        return SeriesReader(self.get_conn(), auth, settings, self.limiter, sleep=self._sleep)

    def get_deleter(self) -> SpanDeleter:
        """Deletes a series' values in a span (``replace=True``), at the same pace."""
        settings, auth = self._load()
        return SpanDeleter(self.get_conn(), auth, settings, self.limiter, sleep=self._sleep)

    def _defer_over(self, settings: DeliverySettings) -> float | None:
        """The wait from which a delivery stops for the operator to defer (if it can)."""
        if not self.defer_long_waits or not settings.defer_threshold:
            return None
        return settings.defer_threshold

    def close(self) -> None:
        """Close the session's connections."""
        if self._session is not None:
            self._session.close()
            self._session = None
            self._senders.clear()

    # -- checking the token ---------------------------------------------------------------

    def test_connection(self) -> tuple[bool, str]:
        """Check the host and the token with one read-only request."""
        try:
            settings, auth = self._load()
        except BulkDotsError as exc:
            return False, f"Invalid connection: {exc}"
        self.wait_for_turn()
        try:
            with request_deadline(settings.timeout), departing(lambda: leaving(self.limiter)):
                response = self.get_conn().get(
                    settings.check_url,
                    params={"page_size": 1},
                    headers={"Accept": "application/json", "User-Agent": HEADERS["User-Agent"]},
                    auth=auth,
                    timeout=(settings.timeout, settings.timeout),
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            reason = auth.redact(str(exc))
            return False, f"Cannot reach {settings.base_url}: {type(exc).__name__}: {reason}"
        if 200 <= response.status_code < 300:
            return True, f"Connected to {settings.base_url}: the token is accepted."
        error = api_error(
            response.status_code, reply_json(response), auth.redact(response.text[:300])
        )
        if response.status_code in (401, 403):
            return False, f"The token is refused by {settings.base_url}: {error}"
        return False, f"Unexpected reply from {settings.base_url}: {error}"

    # -- delivery -------------------------------------------------------------------------

    def deliver(
        self,
        data: Any,
        options: ReshapeOptions | None = None,
        *,
        reading: ReadOptions | None = None,
        guarantees: Guarantees | None = None,
        ubidots_asset: Any = None,
        rejected_path: str | None = None,
        context: Any = None,
    ) -> DeliveryResult:
        """Send a dataset with the operator's guarantees; for a TaskFlow ``@task``.

        ``data`` and ``reading`` as the operator's ``data`` (rows, a DataFrame, an Arrow
        table, a file path or URI, an Asset); ``options`` how rows become dots (its
        ``max_body_bytes`` is the connection's, :meth:`body_options`); ``guarantees`` how
        exactly once is kept (:class:`.Guarantees`, the operator's arguments of the same
        names; default: resume, read back a lost reply). Inside a task the ledger lives in
        that task instance's state store (found through Airflow's current context, or
        ``context``), so a retried try sends only what no earlier try finished; outside a task
        there is no ledger (logged). ``ubidots_asset`` (an Asset or ``ubidots://`` URI among
        the task's outlets): the record is kept with it and outlives the DAG run, as the
        operator's (``guarantees.redeliver`` sets it aside once per run).

        Returns the task_ids and the summary (the operator's XCom ``summary``). Raises
        :class:`~..dots.errors.InvalidRowsError` before any request for an invalid row with
        ``on_invalid="fail"``; :class:`~..exceptions.DevicesDisabledError` for devices the API
        disabled (unless ``on_invalid="skip"``); :class:`~..exceptions.BulkDotsDeliveryError`
        for lost replies left unknown or (``on_invalid="fail"``) dots the API refused.
        """
        guarantees = guarantees or Guarantees()
        options = self.body_options(options)
        dataset = open_dataset(data, options=options, reading=reading)
        context = context if context is not None else current_context()
        asset = ubidots_asset_of(ubidots_asset) if ubidots_asset is not None else None
        ledger = self._task_ledger(context, guarantees, dataset.fingerprint, options, asset)
        try_number = int(getattr(context["ti"], "try_number", 1)) if context else 1
        delivery = self.delivery(
            dataset,
            options,
            guarantees=guarantees,
            ledger=ledger,
            rejected_path=rejected_path,
            try_number=try_number,
        )
        return _run_to_the_end(delivery, options.on_invalid)

    def plan(
        self,
        dataset: Dataset,
        options: ReshapeOptions | None = None,
        *,
        shared_by: int = 1,
        report: Report | None = None,
    ) -> Plan:
        """What sending ``dataset`` would do, read and reshaped as a delivery would, with no
        request (not even the token check): counts, bodies, and the time at the token's rate
        (when ``shared_by`` tasks share it). Invalid rows are counted in ``report``."""
        settings = self.settings
        return make_plan(
            dataset.rows(),
            self.body_options(options),
            rate_limit=settings.requests_per_second,
            shared_by=shared_by,
            report=report,
        )

    def _task_ledger(
        self,
        context: Any,
        guarantees: Guarantees,
        fingerprint: str,
        options: ReshapeOptions,
        asset: Any = None,
    ) -> DeliveryLedger | None:
        """The running task's ledger, with ``asset`` or in its state store (``None`` outside
        a task)."""
        if not guarantees.resume:
            return None
        if context is None:
            self.log.warning("Not inside an Airflow task: no delivery ledger (resume is off).")
            return None
        location = record_location(
            context, guarantees.ledger_retention_days, asset, guarantees.redeliver, self.log
        )
        return task_ledger(location, fingerprint, options, context.get("ti"))

    def delivery(
        self,
        dataset: Dataset,
        options: ReshapeOptions,
        *,
        guarantees: Guarantees,
        ledger: DeliveryLedger | None,
        rejected_path: str | None = None,
        try_number: int = 1,
        stages: Sequence[BodyStage] = (),
        log: Any = None,
    ) -> DatasetDelivery:
        """One delivery of ``dataset`` through this hook, built complete (see
        :class:`.DatasetDelivery`); the caller runs it. What :meth:`deliver` and the operator
        both use."""
        parts = DeliveryParts(
            sender=self.get_sender(reading_back=guarantees.reconcile),
            reader=self.get_reader,
            settings=self.settings,
            progress_interval=self.progress_interval,
            close=self.close,
            token_turns=self.token_turns,
        )
        return DatasetDelivery(
            parts,
            dataset,
            options,
            guarantees=guarantees,
            ledger=ledger,
            rejected_path=rejected_path,
            try_number=try_number,
            stages=stages,
            log=log or self.log,
        )

    def send(
        self,
        bodies: Iterable[Body],
        on_result: OnResult | None = None,
        meter: ProgressMeter | None = None,
    ) -> DeliverySummary:
        """Send ready bodies (consumed lazily), without a ledger; return the counts.

        ``on_result(body, result)`` runs in the calling thread, in completion order, once per
        body that finished: acknowledged (``result.outcome == "sent"``, possibly with
        ``result.refused`` dots) or lost (``"lost_reply"``, when lost replies are not
        retried). Raises the first error that is not retried, with ``summary`` set; with
        ``defer_long_waits`` on, raises :class:`~..delivery.pacing.WaitTooLong` when the API
        asks for a wait of ``defer_threshold`` seconds or more. ``meter`` writes the progress
        lines (with a total and an ETA when it knows the input's size).
        """
        return self.get_sender().deliver(bodies, on_result, meter=meter)

    def send_bodies(self, bodies: Iterable[Body]) -> list[str]:
        """Send ready bodies; return their task_ids in body order."""
        return self.get_sender().send_bodies(bodies)

    def send_dots(self, records: Iterable[Any], *, on_invalid: OnInvalid = "fail") -> list[str]:
        """Chunk records in the endpoint's own shape into bodies, send them, return task_ids.

        With ``on_invalid="fail"`` every record is checked before the first request: an
        invalid one raises ``InvalidRowsError`` and nothing is sent (the bodies wait in a
        temporary file meanwhile). With ``"skip"`` invalid records are left out and logged, and
        bodies are sent as they are built.
        """
        from airflow_provider_bulkdots.dots import checked_bodies

        options = self.body_options(ReshapeOptions(layout="records", on_invalid=on_invalid))
        report = Report()
        task_ids = self.send_bodies(checked_bodies(records, options, report))
        if report.invalid_rows:
            self.log.warning(
                "Left out %d invalid record(s); first: %s",
                report.invalid_rows,
                report.invalid_sample[:1],
            )
        return task_ids


BulkDotsHook.__doc__ = (
    (BulkDotsHook.__doc__ or "").rstrip() + documented_overrides()
).rstrip() + "\n"
