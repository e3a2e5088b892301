"""SQLite storage of dots and request counters: one connection, guarded by a lock."""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from airflow_provider_bulkdots.emulator.validate import MAX_TIMESTAMP_MS, Dot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS dots (
    id INTEGER PRIMARY KEY,
    device TEXT NOT NULL,
    variable TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    value REAL NOT NULL,
    context TEXT,
    task_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS dots_series ON dots (device, variable, timestamp);
CREATE TABLE IF NOT EXISTS request_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, n INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS request_log (
    id INTEGER PRIMARY KEY,
    t_ms INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL
);
"""


MAX_VISIBILITY_DELAY_S = 3600.0


def check_visibility_delay(seconds: object) -> float:
    """A visibility delay in seconds, from 0 to 3600; anything else is a ValueError."""
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 0 <= seconds <= MAX_VISIBILITY_DELAY_S
    ):
        raise ValueError(f"visibility_delay must be a number of seconds 0-3600, got {seconds!r}")
    return float(seconds)


class Series(NamedTuple):
    """Summary of one device's variable."""

    device: str
    variable: str
    dots: int
    unique_timestamps: int
    first_ms: int
    last_ms: int
    min_value: float
    max_value: float


class Store:
    """Dots and counters in SQLite; ``path`` None or ":memory:" keeps them in memory.

    ``clock`` gives the wall time in seconds (``created_at`` and visibility are read from it).
    """

    def __init__(self, path: str | None = None, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path or ":memory:"
        self.clock = clock
        self._generation = 0  # bumped by reset(), so a revision never repeats
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        if self.path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(dots)")}
        if "visible_at" not in columns:  # a database written before reads had a delay
            self._db.execute("ALTER TABLE dots ADD COLUMN visible_at INTEGER NOT NULL DEFAULT 0")

    def now_ms(self) -> int:
        """The store's wall time in milliseconds."""
        return int(self.clock() * 1000)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    # -- writes ------------------------------------------------------------------------

    def _count(self, status: str, body_bytes: int | None) -> None:
        self._db.execute(
            "INSERT INTO request_log (t_ms, kind, status) VALUES (?, 'bulk', ?)",
            (self.now_ms(), status),
        )
        self._db.execute(
            "INSERT INTO request_counts VALUES (?, 1) ON CONFLICT(status) DO UPDATE SET n = n + 1",
            (status,),
        )
        if body_bytes is not None:
            self._db.execute(
                "INSERT INTO counters VALUES ('largest_body', ?) "
                "ON CONFLICT(name) DO UPDATE SET n = max(n, excluded.n)",
                (body_bytes,),
            )

    def count_request(self, status: str, body_bytes: int | None = None) -> None:
        """Count one bulk request by its outcome, and its declared body size if known."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._count(status, body_bytes)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def store_body(
        self,
        dots: Sequence[Dot],
        task_id: str,
        body_bytes: int,
        status: str = "200",
        *,
        visibility_delay_s: float = 0.0,
    ) -> None:
        """Store the dots of one accepted body and count it, in one transaction.

        The dots show in reads only ``visibility_delay_s`` after now (the API processes bulk
        writes asynchronously); counters, ``dots()`` and the dashboard see them at once.
        """
        created_at = self.now_ms()
        visible_at = created_at + math.ceil(visibility_delay_s * 1000)
        rows = [
            (
                d.device,
                d.variable,
                d.timestamp,
                d.value,
                None if d.context is None else json.dumps(d.context),
                task_id,
                created_at,
                visible_at,
            )
            for d in dots
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO dots (device, variable, timestamp, value, context, task_id, "
                    "created_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._count(status, body_bytes)
                self._db.execute(
                    "INSERT INTO counters VALUES ('bodies', 1) "
                    "ON CONFLICT(name) DO UPDATE SET n = n + 1"
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def log_read(self, status: str) -> None:
        """Log one read request by its status, for the requests-per-second timeline."""
        with self._lock:
            self._db.execute(
                "INSERT INTO request_log (t_ms, kind, status) VALUES (?, 'read', ?)",
                (self.now_ms(), status),
            )

    def reset(self) -> None:
        """Delete every dot, counter and logged request."""
        with self._lock:
            self._generation += 1
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM request_log")
            self._db.execute("DELETE FROM dots")
            self._db.execute("DELETE FROM request_counts")
            self._db.execute("DELETE FROM counters")
            self._db.execute("COMMIT")

    # -- changes on purpose: what a store that lost, doubled or altered dots holds -------

    def _change(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run one statement per row in one transaction; the rows it changed."""
        changed = 0
        with self._lock:
            self._generation += 1
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for row in rows:
                    changed += self._db.execute(sql, row).rowcount
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return changed

    def drop_dots(self, keys: Sequence[tuple[str, str, int]]) -> int:
        """Delete every dot at each (device, variable, timestamp); how many were deleted."""
        return self._change(
            "DELETE FROM dots WHERE device = ? AND variable = ? AND timestamp = ?", keys
        )

    def duplicate_dots(self, keys: Sequence[tuple[str, str, int]]) -> int:
        """Store one more copy of the first dot at each (device, variable, timestamp)."""
        return self._change(
            "INSERT INTO dots (device, variable, timestamp, value, context, task_id, created_at, "
            "visible_at) SELECT device, variable, timestamp, value, context, task_id, "
            "created_at, visible_at FROM dots WHERE device = ? AND variable = ? AND "
            "timestamp = ? ORDER BY id LIMIT 1",
            keys,
        )

    def delete_span(self, device: str, variable: str | None, start_ms: int, end_ms: int) -> int:
        """Delete a device's dots (one variable's, when given) with timestamps in the span."""
        if variable is None:
            return self._change(
                "DELETE FROM dots WHERE device = ? AND timestamp BETWEEN ? AND ?",
                [(device, start_ms, end_ms)],
            )
        return self._change(
            "DELETE FROM dots WHERE device = ? AND variable = ? AND timestamp BETWEEN ? AND ?",
            [(device, variable, start_ms, end_ms)],
        )

    def alter_dots(self, changes: Sequence[tuple[str, str, int, float]]) -> int:
        """Set the value of the dots at each (device, variable, timestamp, new value)."""
        return self._change(
            "UPDATE dots SET value = ? WHERE device = ? AND variable = ? AND timestamp = ?",
            [
                (value, device, variable, timestamp)
                for device, variable, timestamp, value in changes
            ],
        )

    # -- reads -------------------------------------------------------------------------

    def _all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def stats(self) -> dict[str, Any]:
        """Requests by outcome, dots, unique dots, duplicates, devices, bodies, largest body."""
        with self._lock:
            requests = dict(
                self._db.execute("SELECT status, n FROM request_counts ORDER BY status")
            )
            counters = dict(self._db.execute("SELECT name, n FROM counters"))
            dots, devices = self._db.execute(
                "SELECT count(*), count(DISTINCT device) FROM dots"
            ).fetchone()
            (unique,) = self._db.execute(
                "SELECT count(*) FROM (SELECT 1 FROM dots GROUP BY device, variable, timestamp)"
            ).fetchone()
        return {
            "requests": requests,
            "dots": dots,
            "unique_dots": unique,
            "duplicates": dots - unique,
            "devices": devices,
            "largest_body": counters.get("largest_body", 0),
            "bodies": counters.get("bodies", 0),
        }

    def dots(self) -> list[dict[str, Any]]:
        """Every stored dot in insertion order."""
        rows = self._all(
            "SELECT device, variable, timestamp, value, context, task_id FROM dots ORDER BY id"
        )
        return [
            {
                "device": device,
                "variable": variable,
                "timestamp": timestamp,
                "value": value,
                "context": json.loads(context) if context is not None else {},
                "task_id": task_id,
            }
            for device, variable, timestamp, value, context, task_id in rows
        ]

    def devices(self, offset: int, limit: int) -> tuple[int, list[tuple[str, int, int]]]:
        """Total visible devices, and a page of (label, first created_at, last created_at)."""
        now = self.now_ms()
        with self._lock:
            (total,) = self._db.execute(
                "SELECT count(DISTINCT device) FROM dots WHERE visible_at <= ?", (now,)
            ).fetchone()
            rows = self._db.execute(
                "SELECT device, min(created_at), max(created_at) FROM dots WHERE visible_at <= ? "
                "GROUP BY device ORDER BY min(id) LIMIT ? OFFSET ?",
                (now, limit, offset),
            ).fetchall()
        return total, rows

    def has_series(self, device: str, variable: str) -> bool:
        """Whether the variable exists for reads (one of its dots is visible)."""
        rows = self._all(
            "SELECT 1 FROM dots WHERE device = ? AND variable = ? AND visible_at <= ? LIMIT 1",
            (device, variable, self.now_ms()),
        )
        return bool(rows)

    def values(
        self,
        device: str,
        variable: str,
        offset: int,
        limit: int,
        *,
        start_ms: int = 0,
        end_ms: int = MAX_TIMESTAMP_MS,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Visible dots of one variable with ``start_ms <= timestamp <= end_ms``: their count,
        and a page of them, newest first."""
        where = (
            "WHERE device = ? AND variable = ? AND timestamp BETWEEN ? AND ? AND visible_at <= ?"
        )
        params = (device, variable, start_ms, end_ms, self.now_ms())
        with self._lock:
            (total,) = self._db.execute(f"SELECT count(*) FROM dots {where}", params).fetchone()
            rows = self._db.execute(
                f"SELECT value, timestamp, context, created_at FROM dots {where} "
                "ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?",
                (*params, limit, offset),
            ).fetchall()
        return total, [
            {
                "value": value,
                "timestamp": timestamp,
                "context": json.loads(context) if context is not None else {},
                "created_at": created_at,
            }
            for value, timestamp, context, created_at in rows
        ]

    def series(self) -> list[Series]:
        """A summary of every (device, variable), sorted."""
        rows = self._all(
            "SELECT device, variable, count(*), count(DISTINCT timestamp), min(timestamp), "
            "max(timestamp), min(value), max(value) FROM dots "
            "GROUP BY device, variable ORDER BY device, variable"
        )
        return [Series(*row) for row in rows]

    def downsampled(self, max_points: int) -> dict[tuple[str, str], list[tuple[float, float]]]:
        """Each series averaged into at most ``max_points`` time buckets, in time order."""
        rows = self._all(
            """
            WITH span AS (
                SELECT device, variable, min(timestamp) AS t0, max(timestamp) - min(timestamp) + 1
                    AS width
                FROM dots GROUP BY device, variable
            )
            SELECT d.device, d.variable, avg(d.timestamp), avg(d.value)
            FROM dots AS d JOIN span AS s ON d.device = s.device AND d.variable = s.variable
            GROUP BY d.device, d.variable, (d.timestamp - s.t0) * ? / s.width
            ORDER BY d.device, d.variable, (d.timestamp - s.t0) * ? / s.width
            """,
            (max_points, max_points),
        )
        out: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for device, variable, t, v in rows:
            out.setdefault((device, variable), []).append((t, v))
        return out

    def revision(self) -> str:
        """Changes whenever a request is logged or the store is reset (cheap to poll)."""
        with self._lock:
            (last,) = self._db.execute("SELECT max(id) FROM request_log").fetchone()
            return f"{self._generation}.{last or 0}"

    def request_timeline(self, max_bins: int = 300) -> tuple[int, list[tuple[int, int, int]]]:
        """Requests (bulk and reads) per time bin over the whole log, with the 429s among them.

        Returns the bin width in ms (whole seconds, at least 1 s, at most ``max_bins`` bins)
        and every bin from the first request to the last: (start ms, requests, 429s).
        """
        with self._lock:
            first, last = self._db.execute(
                "SELECT min(t_ms), max(t_ms) FROM request_log"
            ).fetchone()
            if first is None:
                return 1000, []
            t0 = first // 1000 * 1000
            width = max(1, math.ceil((last - t0 + 1) / 1000 / max_bins)) * 1000
            rows = self._db.execute(
                "SELECT (t_ms - ?) / ?, count(*), sum(status = '429') FROM request_log GROUP BY 1",
                (t0, width),
            ).fetchall()
        counts = {index: (total, throttled) for index, total, throttled in rows}
        bins = (last - t0) // width + 1
        return width, [(t0 + i * width, *counts.get(i, (0, 0))) for i in range(bins)]
