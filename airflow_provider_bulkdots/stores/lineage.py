"""OpenLineage for the operator: the dataset it read and the Ubidots devices it wrote.

Names follow OpenLineage's dataset naming: a file is ``file://<host>`` + its path, an object
``s3://<bucket>`` + its key; a SQL query's tables are ``<scheme>://<host>:<port>`` +
``<database>.<schema>.<table>`` as the query names them; the output is the ``ubidots_asset``
when given, else ``ubidots://<API host>`` + ``/devices``. The facets are built without the
OpenLineage provider (``lineage_names``); ``get_openlineage_facets_on_complete`` wraps them
when it is installed (extra ``openlineage``).
"""

from __future__ import annotations

import re
from typing import Any

from airflow_provider_bulkdots.compat import openlineage_classes
from airflow_provider_bulkdots.sources.assets import dataset_name, is_asset

Name = tuple[str, str]
"""(namespace, name) of one OpenLineage dataset."""

_PLACEHOLDER = re.compile(r"%\(\w+\)s|%s|(?<![:\w]):\w+|\?")
_SCHEMES = {"postgres": "postgres", "postgresql": "postgres", "mysql": "mysql", "sqlite": "sqlite"}
# The schema an unqualified table is found in (the server's default search path).
_DEFAULT_SCHEMAS = {"postgres": "public"}


def lineage_names(operator: Any) -> tuple[list[Name], list[Name]]:
    """The input and output datasets of ``operator``'s (rendered) arguments."""
    return _inputs(operator), [_output(operator)]


def _inputs(operator: Any) -> list[Name]:
    data = operator.data
    if operator.sql_conn_id:
        return _sql_inputs(operator.sql_conn_id, str(data))
    if is_asset(data):
        return [dataset_name(str(data.uri))]
    if isinstance(data, str) or hasattr(data, "protocol"):
        uri = str(data)
        return [dataset_name(uri if "://" in uri else f"file://{uri}")]
    return []  # rows, frames and tables handed over in memory name no dataset


def _output(operator: Any) -> Name:
    if operator.ubidots_asset is not None:
        return dataset_name(str(operator.ubidots_asset.uri))
    from airflow_provider_bulkdots.compat import BaseHook

    host = BaseHook.get_connection(operator.bulkdots_conn_id).host or "industrial.api.ubidots.com"
    host = host.split("://", 1)[-1].rstrip("/")
    return f"ubidots://{host}", "/devices"


def _sql_inputs(conn_id: str, query: str) -> list[Name]:
    """The tables the query reads, named in the connection's namespace."""
    from openlineage.common.sql import parse

    from airflow_provider_bulkdots.compat import BaseHook

    connection = BaseHook.get_connection(conn_id)
    conn_type = str(connection.conn_type or "")
    scheme = _SCHEMES.get(conn_type, conn_type)
    if scheme == "sqlite":
        namespace, database = f"sqlite://{connection.host}", "main"
    else:
        namespace = f"{scheme}://{connection.host}:{connection.port}"
        database = connection.schema or ""
    default_schema = _DEFAULT_SCHEMAS.get(scheme)
    parsed = parse([_PLACEHOLDER.sub("NULL", query)], dialect=scheme, default_schema=default_schema)
    names = [_table_name(table, database) for table in parsed.in_tables] if parsed else []
    return [(namespace, name) for name in names]


def _table_name(table: Any, database: str) -> str:
    """``<database>.<schema>.<table>``: the query's own database when it names one, else the
    connection's; the schema as the query names it, else the server's default."""
    if table.database:
        return str(table.qualified_name)
    return f"{database}.{table.qualified_name}" if database else str(table.qualified_name)


def openlineage_facets(operator: Any) -> Any:
    """An OperatorLineage of the operator's datasets (needs the OpenLineage provider)."""
    Dataset, OperatorLineage = openlineage_classes()
    inputs, outputs = lineage_names(operator)
    return OperatorLineage(
        inputs=[Dataset(namespace=namespace, name=name) for namespace, name in inputs],
        outputs=[Dataset(namespace=namespace, name=name) for namespace, name in outputs],
    )
