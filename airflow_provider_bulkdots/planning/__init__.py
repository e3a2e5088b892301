"""Plan, check, correct: what a load will send, whether the API holds it, fixing a span.

Pure of Airflow (above ``delivery/``): the hook and the operators adapt these to Airflow.
"""

from __future__ import annotations

from airflow_provider_bulkdots.planning.plan import Plan, make_plan, plan_as_dict

__all__ = ["Plan", "make_plan", "plan_as_dict"]
