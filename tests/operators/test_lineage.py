"""OpenLineage: the operator names the dataset it read and the Ubidots devices it wrote."""

from __future__ import annotations

import json

import pytest
from airflow.providers.common.compat.openlineage.facet import Dataset
from airflow.providers.openlineage.extractors import OperatorLineage
from airflow.sdk import Asset

from airflow_provider_bulkdots.operators.bulkdots import BulkDotsOperator
from airflow_provider_bulkdots.stores.lineage import lineage_names


@pytest.fixture(autouse=True)
def connections(monkeypatch: pytest.MonkeyPatch) -> None:
    api = {"conn_type": "bulkdots", "host": "https://industrial.api.ubidots.com", "password": "x"}
    monkeypatch.setenv("AIRFLOW_CONN_BULKDOTS_DEFAULT", json.dumps(api))
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", "postgresql://etl@db.example:5432/plant")


def test_a_sql_source_names_the_tables_of_its_query() -> None:
    operator = BulkDotsOperator(
        task_id="t",
        sql_conn_id="warehouse",
        data="SELECT r.device, r.ts, r.v FROM sensors.readings r WHERE r.ts >= %(start)s",
        sql_parameters={"start": "2024-01-01"},
    )

    assert lineage_names(operator) == (
        [("postgres://db.example:5432", "plant.sensors.readings")],
        [("ubidots://industrial.api.ubidots.com", "/devices")],
    )


def test_a_file_asset_in_and_a_ubidots_asset_out() -> None:
    operator = BulkDotsOperator(
        task_id="t",
        data=Asset("s3://loggers/site-3/latest.csv"),
        ubidots_asset="ubidots://industrial.api.ubidots.com/site-3-*",
    )

    lineage = operator.get_openlineage_facets_on_complete(None)

    assert isinstance(lineage, OperatorLineage)
    assert lineage.inputs == [Dataset(namespace="s3://loggers", name="/site-3/latest.csv")]
    assert lineage.outputs == [
        Dataset(namespace="ubidots://industrial.api.ubidots.com", name="/site-3-*")
    ]
    assert operator.inlets == [Asset("s3://loggers/site-3/latest.csv")]
    assert operator.outlets == [Asset("ubidots://industrial.api.ubidots.com/site-3-*")]


def test_a_local_path_is_a_file_dataset_and_rows_in_memory_name_none() -> None:
    from_file = BulkDotsOperator(task_id="a", data="/data/logger_20240101.csv")
    from_rows = BulkDotsOperator(task_id="b", data=[{"device": "d", "timestamp": 1, "v": 1}])

    assert lineage_names(from_file)[0] == [("file://", "/data/logger_20240101.csv")]
    assert lineage_names(from_rows)[0] == []


def test_an_incremental_load_needs_a_ubidots_asset() -> None:
    from airflow_provider_bulkdots.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match="ubidots_asset"):
        BulkDotsOperator(task_id="t", data="/x.csv", incremental=True)
    with pytest.raises(ValueError, match="ubidots://"):
        BulkDotsOperator(task_id="t", data="/x.csv", ubidots_asset="https://elsewhere/x")


def test_an_unqualified_postgres_table_is_named_in_its_default_schema() -> None:
    """OpenLineage's Postgres naming is <database>.<schema>.<table>; a query that names only
    the table reads it from ``public`` (the default search path), so the name says so."""
    operator = BulkDotsOperator(
        task_id="t",
        sql_conn_id="warehouse",
        data="SELECT device, ts, v FROM readings JOIN other.sites s ON true",
    )

    assert sorted(lineage_names(operator)[0]) == [
        ("postgres://db.example:5432", "plant.other.sites"),
        ("postgres://db.example:5432", "plant.public.readings"),
    ]
