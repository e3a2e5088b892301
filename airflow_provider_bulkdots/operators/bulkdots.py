"""BulkDotsOperator: an upstream dataset in, dots delivered, task_ids out, resumable."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow_provider_bulkdots.compat import BaseOperator, date_time_trigger
from airflow_provider_bulkdots.delivery.exactly_once.ledger import KeyValueStore
from airflow_provider_bulkdots.delivery.pacing.token import WaitTooLong
from airflow_provider_bulkdots.delivery.reporting.progress import format_duration
from airflow_provider_bulkdots.delivery.settings import (
    Priority,
    RateWindow,
    SettingsOverrides,
    documented_overrides,
    resend_lost_replies_argument,
)
from airflow_provider_bulkdots.dots import (
    Body,
    InvalidRow,
    InvalidRowsError,
    Report,
    ReshapeOptions,
)
from airflow_provider_bulkdots.dots.options import Layout, OnInvalid, TimestampUnit
from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.hooks.delivery import BodyStage, DatasetDelivery, Guarantees
from airflow_provider_bulkdots.hooks.replace_stage import replace_stage
from airflow_provider_bulkdots.links.ubidots import UbidotsDevicesLink
from airflow_provider_bulkdots.planning import plan_as_dict
from airflow_provider_bulkdots.planning.late import lag_ms
from airflow_provider_bulkdots.planning.replace import check_replace
from airflow_provider_bulkdots.sources import Dataset, ReadOptions, open_dataset
from airflow_provider_bulkdots.sources.datasets import FileFormat
from airflow_provider_bulkdots.sources.limits import LineLimits
from airflow_provider_bulkdots.stores.assets import attach_assets, note_delivery
from airflow_provider_bulkdots.stores.lasting import record_location
from airflow_provider_bulkdots.stores.ledger import DEFAULT_RETENTION_DAYS, task_ledger
from airflow_provider_bulkdots.stores.summary import summary_lines
from airflow_provider_bulkdots.stores.watermarks import (
    NoWatermarks,
    Watermarks,
    watermark_store,
)

if TYPE_CHECKING:
    from airflow_provider_bulkdots.compat import Context
    from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook


class BulkDotsOperator(BaseOperator):
    """Reshape an upstream dataset into dots and send it through the bulk endpoint.

    ``data`` is a list of row mappings (e.g. an upstream XCom), a pandas DataFrame, an Arrow
    table or stream, a Polars frame, or a path or URI of a CSV, JSON Lines or Parquet file;
    with ``sql_conn_id``, a SQL query run through that connection (``sql_parameters`` passed
    to the driver). ``layout`` is ``"wide"`` (a column per
    variable), ``"long"`` (a row per dot) or ``"records"`` (the endpoint's own shape).
    ``on_invalid="fail"`` sends nothing when any row is invalid; ``"skip"`` sends the valid
    rows and reports the others (to ``rejected_path`` as JSON Lines, when given).
    ``replace=True`` first deletes what each series holds in the input's span (confirmed by
    reading back), then writes the input. ``dry_run=True`` sends nothing: it pushes the plan
    (counts, time at the token's rate, when ``shared_by`` tasks share it) under the XCom key
    ``plan``.

    Returns the task_ids in send order; pushes the counts under the XCom key ``summary``.
    A retried try does not resend the bodies an earlier try had acknowledged.

    :param data: the input (templated): rows, a DataFrame, an Arrow table or stream, a Polars
        frame, an Asset naming a file, a path or URI of a CSV, JSON Lines or Parquet file; with
        ``sql_conn_id``, a SQL query.
    :param layout: ``"wide"`` (a column per variable), ``"long"`` (a row per dot) or
        ``"records"`` (the endpoint's own shape).
    :param device_column: the column naming each row's device (templated).
    :param device: one device label for every row, instead of ``device_column`` (templated).
    :param timestamp_column: the column of each row's instant (templated).
    :param timestamp_unit: the unit of epoch numbers: ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``.
    :param timezone: the zone of naive datetimes and offset-less strings (templated).
    :param variables: the columns that are variables (wide layout; default: every other
        column) (templated).
    :param variable_column: the column naming the variable (long layout) (templated).
    :param value_column: the column holding the value (long layout) (templated).
    :param context_columns: columns sent as each dot's context (templated).
    :param file_format: ``"csv"``, ``"jsonl"`` or ``"parquet"``, else told from the suffix.
    :param on_invalid: ``"fail"``: an invalid row fails the task with nothing sent;
        ``"skip"``: valid rows are sent and invalid ones reported.
    :param rejected_path: where invalid rows and refused dots are written as JSON Lines, one
        record across tries (templated).
    :param bulkdots_conn_id: the connection (API URL, token, delivery settings).
    :param resume: keep the delivery ledger, so a retried try sends only what no earlier
        try finished (``False``: no ledger at all).
    :param reconcile: read a body whose reply was lost back and resend only its missing dots.
    :param reconcile_delay: seconds between a lost reply and its read-back.
    :param reconcile_timeout: seconds of reading back and resending before the task fails.
    :param skip_existing: read each series back first and leave out dots it already holds.
    :param ledger_retention_days: how long the delivery record is kept (and, with a Ubidots
        Asset, used by later runs of the task for the same logical date).
    :param redeliver: set aside the record earlier DAG runs of the task for the same logical
        date left with the Ubidots Asset, and send everything again, on purpose (once per run).
    :param sql_conn_id: a SQL connection: ``data`` is then a query run through it.
    :param sql_parameters: parameters passed to the driver with the query (templated).
    :param sql_batch_rows: rows fetched from the query at a time.
    :param ubidots_asset: the Asset (or ``ubidots://`` URI) this task updates.
    :param incremental: send only readings newer than the watermarks of ``ubidots_asset``.
    :param lag: with ``incremental``, how far behind a watermark readings are looked at again.
    :param replace: delete what each series holds in the input's span first, then write.
    :param timestamp_format: a ``strptime`` format for text timestamps (templated).
    :param na_values: more cell texts that mean "no reading" (templated).
    :param keep_default_na: whether pandas' default missing-value texts count too.
    :param true_values: cell texts read as 1 (templated).
    :param false_values: cell texts read as 0 (templated).
    :param decimal: the decimal mark of numbers in text (templated).
    :param delimiter: the CSV delimiter (templated).
    :param line_limits: bounds of a file's lines, cells and unreadable rows (``LineLimits``).
    :param dry_run: send nothing; push the plan under the XCom key ``plan``.
    :param shared_by: how many tasks share the token's rate, for the plan's time.
    """

    template_fields: Sequence[str] = (
        "data",
        "device",
        "device_column",
        "timestamp_column",
        "timezone",
        "variables",
        "variable_column",
        "value_column",
        "context_columns",
        "rejected_path",
        "sql_parameters",
        "timestamp_format",
        "na_values",
        "true_values",
        "false_values",
        "decimal",
        "delimiter",
    )
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"data": "py"}
    ui_color = "#d7ecfb"
    operator_extra_links = (UbidotsDevicesLink(),)

    def __init__(
        self,
        *,
        data: Any,
        layout: Layout = "wide",
        device_column: str | None = "device",
        device: str | None = None,
        timestamp_column: str = "timestamp",
        timestamp_unit: TimestampUnit = "ms",
        timezone: str = "UTC",
        variables: Sequence[str] | None = None,
        variable_column: str = "variable",
        value_column: str = "value",
        context_columns: Sequence[str] = (),
        file_format: FileFormat | None = None,
        on_invalid: OnInvalid = "fail",
        rejected_path: str | None = None,
        bulkdots_conn_id: str = "bulkdots_default",
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
        resume: bool = True,
        reconcile: bool = True,
        reconcile_delay: float = 5.0,
        reconcile_timeout: float = 300.0,
        skip_existing: bool = False,
        ledger_retention_days: float = DEFAULT_RETENTION_DAYS,
        redeliver: bool = False,
        sql_conn_id: str | None = None,
        sql_parameters: Mapping[str, Any] | Sequence[Any] | None = None,
        sql_batch_rows: int = 10_000,
        ubidots_asset: Any = None,
        incremental: bool = False,
        lag: Any = None,
        replace: bool = False,
        timestamp_format: str | None = None,
        na_values: Sequence[str] | None = None,
        keep_default_na: bool = True,
        true_values: Sequence[str] | None = None,
        false_values: Sequence[str] | None = None,
        decimal: str = ".",
        delimiter: str = ",",
        line_limits: LineLimits | None = None,
        dry_run: bool = False,
        shared_by: int = 1,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # Kept as given: execute() resolves them, once rendered, into typed options, guarantees
        self.data = data
        # how input is read and reshaped (docs/input.md)
        self.layout: Layout = layout
        self.device_column = device_column
        self.device = device
        self.timestamp_column = timestamp_column
        self.timestamp_unit: TimestampUnit = timestamp_unit
        self.timezone = timezone
        self.variables = variables
        self.variable_column = variable_column
        self.value_column = value_column
        self.context_columns = context_columns
        self.file_format: FileFormat | None = file_format
        self.timestamp_format = timestamp_format
        self.na_values = na_values
        self.keep_default_na = keep_default_na
        self.true_values = true_values
        self.false_values = false_values
        self.decimal = decimal
        self.delimiter = delimiter
        self.line_limits = line_limits
        self.on_invalid: OnInvalid = on_invalid
        self.rejected_path = rejected_path
        # the connection and the settings this task overrides (delivery/settings.py)
        self.bulkdots_conn_id = bulkdots_conn_id
        self.max_body_bytes = max_body_bytes
        self.rate_limit = rate_limit
        self.rate_window: RateWindow | None = rate_window
        self.dots_per_hour = dots_per_hour
        self.rate_coordinator_conn_id = rate_coordinator_conn_id
        self.priority: Priority | None = priority
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_seconds = max_retry_seconds
        self.defer_threshold = defer_threshold
        self.resend_lost_replies = resend_lost_replies_argument(
            resend_lost_replies, retry_unknown_outcome
        )
        # how exactly once is kept (Guarantees)
        self.resume = resume
        self.reconcile = reconcile
        self.reconcile_delay = reconcile_delay
        self.reconcile_timeout = reconcile_timeout
        self.skip_existing = skip_existing
        self.ledger_retention_days = ledger_retention_days
        self.redeliver = redeliver
        self.sql_conn_id = sql_conn_id  # a SQL source
        self.sql_parameters = sql_parameters
        self.sql_batch_rows = sql_batch_rows
        # the Ubidots asset, incremental loads, replace, the plan
        self.incremental = incremental
        self.lag = lag
        self.replace = replace
        self.ubidots_asset = attach_assets(self, data, ubidots_asset, incremental)
        self.plan_only = dry_run  # dry_run() is BaseOperator's
        self.shared_by = shared_by

    # -- building blocks, overridable in tests ---------------------------------------------

    def settings_overrides(self) -> SettingsOverrides:
        """The delivery settings this task sets (``None``: the connection's, else the
        default); with ``reconcile``, a lost reply is read back, never resent blind."""
        resend_lost_replies = False if self.reconcile else self.resend_lost_replies
        return SettingsOverrides(
            max_body_bytes=self.max_body_bytes,
            rate_limit=self.rate_limit,
            rate_window=self.rate_window,
            dots_per_hour=self.dots_per_hour,
            rate_coordinator_conn_id=self.rate_coordinator_conn_id,
            priority=self.priority,
            max_in_flight=self.max_in_flight,
            timeout=self.timeout,
            max_retries=self.max_retries,
            max_retry_seconds=self.max_retry_seconds,
            defer_threshold=self.defer_threshold,
            resend_lost_replies=resend_lost_replies,
        )

    def make_hook(self) -> BulkDotsHook:
        """The hook, with this task's overrides of the connection's settings."""
        from airflow_provider_bulkdots.hooks.bulkdots import BulkDotsHook

        # A long wait is handed to the triggerer only when the ledger can resume the task.
        return BulkDotsHook(
            self.bulkdots_conn_id,
            overrides=self.settings_overrides(),
            defer_long_waits=self.resume,
        )

    def ledger_store(self, context: Context) -> tuple[KeyValueStore, str]:
        """Where the delivery record lives: with the Ubidots Asset when the task has one and a
        logical date (it outlives the DAG run), else in the task instance's state store."""
        return record_location(
            context, self.ledger_retention_days, self.ubidots_asset, self.redeliver, self.log
        )

    def reshape_options(self) -> ReshapeOptions:
        """How rows become dots, from this operator's (rendered) arguments; the body limit is
        the hook's to set (:meth:`.BulkDotsHook.body_options`)."""
        return ReshapeOptions(
            layout=self.layout,
            device_column=self.device_column,
            device=self.device,
            timestamp_column=self.timestamp_column,
            timestamp_unit=self.timestamp_unit,
            timezone=self.timezone,
            variables=list(self.variables) if self.variables else None,
            variable_column=self.variable_column,
            value_column=self.value_column,
            context_columns=tuple(self.context_columns or ()),
            on_invalid=self.on_invalid,
            timestamp_format=self.timestamp_format or None,
            na_values=self.na_values,
            keep_default_na=self.keep_default_na,
            true_values=self.true_values,
            false_values=self.false_values,
            decimal=self.decimal,
        )

    def read_options(self) -> ReadOptions:
        """How files are read, from this operator's (rendered) arguments."""
        return ReadOptions(
            file_format=self.file_format,
            delimiter=self.delimiter,
            limits=self.line_limits or LineLimits(),
        )

    def open_input(self, options: ReshapeOptions) -> Dataset:
        """``data`` as a dataset: a SQL query when ``sql_conn_id`` is set, else as given."""
        if self.sql_conn_id:
            from airflow_provider_bulkdots.sources.sql import open_sql

            return open_sql(self.data, self.sql_conn_id, self.sql_parameters, self.sql_batch_rows)
        return open_dataset(self.data, options=options, reading=self.read_options())

    def watermarks(self, context: Context, options: ReshapeOptions) -> Watermarks | NoWatermarks:
        """With ``incremental``, the watermarks kept with the Ubidots asset (and ``lag``)."""
        if not self.incremental:
            if self.lag:
                raise ConfigurationError("lag needs incremental=True", setting="lag")
            return NoWatermarks()
        store = watermark_store(context, self.ubidots_asset)
        return Watermarks(store, options, lag_ms(self.lag))

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The input dataset and the Ubidots output, for the OpenLineage provider."""
        from airflow_provider_bulkdots.stores.lineage import openlineage_facets

        return openlineage_facets(self)

    # -- execution -------------------------------------------------------------------------

    def execute_complete(self, context: Context, event: Any = None) -> list[str]:
        """Back from the triggerer after a long wait the API asked for: send what is left.

        A new execution: the ledger skips every body acknowledged before the deferral.
        """
        self.log.info("The wait is over: resuming the delivery from the ledger.")
        return self.execute(context)

    #: The name this callback had: a task deferred before the upgrade comes back through it.
    resume_after_wait = execute_complete

    def _defer_for(self, seconds: float) -> NoReturn:
        """Free the worker for a wait the API asked for; :meth:`execute_complete` follows."""
        DateTimeTrigger = date_time_trigger()
        self.log.info(
            "The API asked to wait %s: deferring to the triggerer (the worker slot is freed); "
            "the task resumes from its ledger afterwards.",
            format_duration(seconds),
        )
        moment = datetime.now(timezone.utc) + timedelta(seconds=seconds)
        self.defer(trigger=DateTimeTrigger(moment=moment), method_name="execute_complete")

    def guarantees(self) -> Guarantees:
        """How this task keeps "nothing lost, nothing sent twice" (its arguments)."""
        return Guarantees(
            resume=self.resume,
            reconcile=self.reconcile,
            reconcile_delay=self.reconcile_delay,
            reconcile_timeout=self.reconcile_timeout,
            skip_existing=self.skip_existing,
            ledger_retention_days=self.ledger_retention_days,
            redeliver=self.redeliver,
        )

    def execute(self, context: Context) -> list[str]:
        if self.plan_only:
            return self._plan_only(context)
        started = time.monotonic()
        hook = self.make_hook()
        options = hook.body_options(self.reshape_options())
        watermarks = self.watermarks(context, options)
        dataset = watermarks.wrap(self.open_input(options))
        self.log.info("Sending %s to %s", dataset.description, hook.settings.base_url)
        ledger = None
        if self.resume:
            location = self.ledger_store(context)
            ledger = task_ledger(location, dataset.fingerprint, options, context["ti"])
        delivery = hook.delivery(
            dataset,
            options,
            guarantees=self.guarantees(),
            ledger=ledger,
            rejected_path=self.rejected_path,
            try_number=context["ti"].try_number,
            stages=self._stages(watermarks, hook),
            log=self.log,
        )
        self._running = delivery  # for on_kill
        try:
            try:
                delivery.run()
            except WaitTooLong as wait:
                self._defer_for(wait.seconds)
            finally:
                watermarks.save(delivery.finished_seqs, delivery.held_devices)
        finally:
            summary = delivery.summary(time.monotonic() - started)
            self._log_invalid(*delivery.invalid_rows())
            self.log.info("Summary: what this try did (every count is in the XCom 'summary')")
            for line in summary_lines(summary, self.rejected_path):
                self.log.info("  %s", line)
            context["ti"].xcom_push(key="summary", value=summary)
        note_delivery(context, self.ubidots_asset, summary)
        self._fail_on_unfinished(delivery)
        return delivery.task_ids

    def on_kill(self) -> None:
        """Airflow is killing the task: stop the delivery (no new request, no wait) and let
        it write its ledger, so the next try sends only what was not acknowledged."""
        running = getattr(self, "_running", None)
        if running is not None:
            self.log.warning("The task is being killed: stopping the delivery.")
            running.stop()

    def _plan_only(self, context: Context) -> list[str]:
        """``dry_run=True``: read and reshape as a run would, send nothing (not even the token
        check: a dry run may run where the API is not reachable); log the plan, push it to the
        XCom key ``plan``, fail as the run would. Returns no task_id."""
        if self.replace:
            check_replace(incremental=self.incremental, skip_existing=self.skip_existing)
        hook = self.make_hook()
        options = hook.body_options(self.reshape_options())
        dataset = self.watermarks(context, options).wrap(self.open_input(options))
        report = Report(line_of=dataset.line_of, row_of=dataset.row_of)
        self.log.info(
            "Dry run: planning %s for %s (nothing is sent)",
            dataset.description,
            hook.settings.base_url,
        )
        plan = hook.plan(dataset, options, shared_by=self.shared_by, report=report)
        reads_first = self.skip_existing or bool(self.incremental and self.lag)
        pushed = plan_as_dict(plan, reads_first=reads_first, replace=self.replace)
        for line in plan.describe():
            self.log.info("Plan: %s", line)
        for delete in pushed.get("deletes", [])[:20]:
            self.log.info("Plan: replace deletes %s", delete)
        context["ti"].xcom_push(key="plan", value=pushed)
        if plan.would_fail:
            raise InvalidRowsError(report.invalid_sample, report.invalid_rows)
        return []

    def _stages(self, watermarks: Watermarks | NoWatermarks, hook: BulkDotsHook) -> list[BodyStage]:
        """The operator's steps between the core and the sending: incremental watermarks
        (with ``lag``, late readings read back), then ``replace``."""

        def incremental(bodies: Iterator[Body], delivery: DatasetDelivery) -> Iterator[Body]:
            return watermarks.track(watermarks.unheld(bodies, delivery.reader, delivery.counts))

        if not self.replace:
            return [incremental]
        check_replace(incremental=self.incremental, skip_existing=self.skip_existing)
        return [
            incremental,
            replace_stage(hook, confirm_timeout=self.reconcile_timeout, log=self.log),
        ]

    def _fail_on_unfinished(self, delivery: DatasetDelivery) -> None:
        """Fail, without retrying, when a retry could not put things right by itself.

        The ledger is kept: clearing the task later resends only what was not acknowledged.
        """
        from airflow_provider_bulkdots.compat import AirflowFailException, AirflowSkipException
        from airflow_provider_bulkdots.exceptions import DevicesDisabledError

        summary = delivery.delivery_summary
        if summary.quarantined:  # retryable: a retry sends only those devices' dots
            error = DevicesDisabledError(summary.quarantined, summary)
            if self.on_invalid == "skip":
                raise AirflowSkipException(str(error))
            raise error
        problem = delivery.incomplete(self.on_invalid)
        if problem is not None:
            raise AirflowFailException(str(problem))

    def _log_invalid(self, sample: list[InvalidRow], total: int) -> None:
        if not total:
            return
        self.log.warning("%d invalid row(s) skipped; the first:", total)
        for row in sample:
            self.log.warning("  %s", row)


BulkDotsOperator.__doc__ = (
    (BulkDotsOperator.__doc__ or "").rstrip() + documented_overrides()
).rstrip() + "\n"
