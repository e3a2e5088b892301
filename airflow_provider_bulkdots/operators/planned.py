"""``dry_run=True``: the operator's plan, read and reshaped as a real run, with no request.

The connection is looked up (its host, rate and body limit shape the plan) but nothing goes
to the API, not even the token check: a dry run may run where the API is not reachable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_provider_bulkdots.dots import InvalidRowsError, Report
from airflow_provider_bulkdots.operators.replacing import check_replace
from airflow_provider_bulkdots.planning import Plan, make_plan

if TYPE_CHECKING:
    from airflow_provider_bulkdots.compat import Context
    from airflow_provider_bulkdots.operators.loading import LoadingOperator


def plan_only(operator: LoadingOperator, context: Context) -> list[str]:
    """Build the plan, log it, push it to the XCom key ``plan``; fail as the run would.

    Returns no task_id: nothing was sent.
    """
    if operator.replace:
        check_replace(operator)
    hook = operator.make_hook()
    settings = hook.settings
    options = hook.body_options(operator.reshape_options())
    dataset = operator.watermarks(context, options).wrap(operator.open_input(options))
    report = Report(line_of=dataset.line_of, row_of=dataset.row_of)
    operator.log.info(
        "Dry run: planning %s for %s (nothing is sent)", dataset.description, settings.base_url
    )
    plan = make_plan(
        dataset.rows(),
        options,
        rate_limit=settings.requests_per_second,
        shared_by=operator.shared_by,
        report=report,
    )
    pushed = plan_for_xcom(plan, operator)
    for line in plan.describe():
        operator.log.info("Plan: %s", line)
    for delete in pushed.get("deletes", [])[:20]:
        operator.log.info("Plan: replace deletes %s", delete)
    context["ti"].xcom_push(key="plan", value=pushed)
    if plan.would_fail:
        raise InvalidRowsError(report.rejected_sample, report.rejected_rows)
    return []


def plan_for_xcom(plan: Plan, operator: LoadingOperator) -> dict[str, Any]:
    """The plan's dict, with what it cannot know without reading the API said."""
    pushed = plan.as_dict()
    if operator.skip_existing or (operator.incremental and operator.lag):
        pushed["note"] = (
            "skip_existing or lag read the API before sending: the run sends at most these dots"
        )
    if operator.replace:
        pushed["deletes"] = planned_deletes(plan)
        # One delete and at least one read-back per series come before the writes.
        pushed["requests"] += 2 * len(plan.series)
        if plan.rate_limit > 0:
            seconds = pushed["requests"] / plan.rate_limit
            pushed["seconds_at_rate"] = round(seconds, 3)
            pushed["seconds_when_shared"] = round(seconds * plan.shared_by, 3)
    return pushed


def planned_deletes(plan: Plan) -> list[dict[str, Any]]:
    """What ``replace=True`` would delete first: each series' values in its own span."""
    return [
        {"device": device, "variable": variable, "start_ms": low, "end_ms": high}
        for (device, variable), (low, high) in sorted(plan.series.items())
    ]
