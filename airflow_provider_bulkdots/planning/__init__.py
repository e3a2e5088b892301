"""Plan, check, correct: what a load will send, whether the API holds it, fixing a span.

Pure of Airflow (layer 1, beside ``delivery/``): the operators adapt these to Airflow.
"""

from __future__ import annotations

from airflow_provider_bulkdots.planning.plan import Plan, make_plan

__all__ = ["Plan", "make_plan"]
