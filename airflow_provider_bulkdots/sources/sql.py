"""A SQL query, run through any Airflow connection whose hook is a DbApiHook, as rows.

Rows are streamed: PostgreSQL's drivers (psycopg2, psycopg 3) get a named, server-side cursor,
so the server holds the result and sends ``batch_rows`` at a time; other drivers get a plain
cursor read with ``fetchmany`` (SQLite steps through the result as it is fetched; a driver
that buffers client-side holds the result in memory, as it would for any reader). Never
``fetchall``. Parameters are handed to the driver, never formatted into the SQL.

Cells come as the driver gives them (datetimes with or without a zone, Decimal, bool, None) and
are read by the core's rules, as in a list of rows: naive timestamps in ``timezone``, NULL as a
missing reading.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from itertools import repeat
from typing import Any

import msgspec

from airflow_provider_bulkdots.exceptions import ConfigurationError
from airflow_provider_bulkdots.sources.dataset import Dataset
from airflow_provider_bulkdots.sources.extras import import_extra

DEFAULT_BATCH_ROWS = 10_000
_SERVER_SIDE_DRIVERS = ("psycopg2", "psycopg")

SqlParameters = Mapping[str, Any] | Sequence[Any] | None


def open_sql(
    query: str,
    conn_id: str,
    parameters: SqlParameters = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
) -> Dataset:
    """The rows of ``query`` on connection ``conn_id``; checked now, run when read."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigurationError("with sql_conn_id set, data must be a SQL query (text)")
    if batch_rows < 1:
        raise ConfigurationError(f"sql_batch_rows must be at least 1, got {batch_rows}")
    hook = sql_hook(conn_id)
    identity = [conn_id, query, _jsonable(parameters)]
    fingerprint = hashlib.sha256(msgspec.json.encode(identity)).hexdigest()

    def rows() -> Iterator[dict[str, Any]]:
        return stream_rows(hook, query, parameters, batch_rows)

    return Dataset(f"SQL query on connection {conn_id!r}", fingerprint, rows)


def sql_hook(conn_id: str) -> Any:
    """The connection's hook, which must be a DbApiHook (extra ``sql``)."""
    from airflow_provider_bulkdots.compat import BaseHook

    hooks = import_extra(
        "airflow.providers.common.sql.hooks.sql",
        "sql",
        "a SQL source",
        " and the provider of your database",
    )
    DbApiHook = hooks.DbApiHook

    hook = BaseHook.get_connection(conn_id).get_hook()
    if not isinstance(hook, DbApiHook):
        raise ConfigurationError(
            f"connection {conn_id!r} has a {type(hook).__name__}, not a DbApiHook: "
            "sql_conn_id must name a database connection"
        )
    return hook


def stream_rows(
    hook: Any, query: str, parameters: SqlParameters, batch_rows: int
) -> Iterator[dict[str, Any]]:
    """Run ``query`` and yield its rows as dicts, ``batch_rows`` fetched at a time."""
    connection = hook.get_conn()
    try:
        cursor = _streaming_cursor(connection, batch_rows)
        try:
            if parameters is None:
                cursor.execute(query)
            else:
                cursor.execute(query, parameters)
            names = _column_names(cursor.description)
            while batch := cursor.fetchmany(batch_rows):
                if isinstance(batch[0], Mapping):
                    yield from (dict(row) for row in batch)
                else:
                    yield from map(dict, map(zip, repeat(names), batch))
        finally:
            cursor.close()
    finally:
        connection.close()


def _streaming_cursor(connection: Any, batch_rows: int) -> Any:
    """A server-side (named) cursor where the driver has one, a plain cursor elsewhere."""
    driver = type(connection).__module__.split(".")[0]
    if driver in _SERVER_SIDE_DRIVERS:
        cursor = connection.cursor(name=f"bulkdots_{uuid.uuid4().hex}")
        cursor.itersize = batch_rows
        return cursor
    cursor = connection.cursor()
    cursor.arraysize = batch_rows
    return cursor


def _column_names(description: Sequence[Sequence[Any]] | None) -> list[str]:
    if not description:
        raise ConfigurationError("the SQL query returned no columns: it must be a SELECT")
    names = [str(column[0]) for column in description]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ConfigurationError(f"the SQL query returns repeated column names: {repeated}")
    return names


def _jsonable(value: Any) -> Any:
    """Parameters as JSON for the fingerprint (datetimes and the like as text)."""
    return msgspec.json.decode(msgspec.json.encode(value, enc_hook=str))
