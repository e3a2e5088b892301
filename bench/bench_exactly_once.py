"""Exactly once under lost replies: duplicates, lost dots, and what reading back costs.

The emulator enforces 20 requests/s and makes writes visible to reads 0.5 s late. Bodies from
realistic wide rows (50 weather stations, 5 variables, one-second steps; built by the core) go
through the operator's delivery (sender, ledger, read-back reconciliation) at 20 requests/s:

- baseline: no faults (the minimum: one request per body);
- lost replies: 10 % of the accepted requests stored, their replies dropped;
- mixed: 5 % stored with the reply dropped, 5 % dropped before storing (those must be resent).

Each phase prints its duplicates, lost dots and requests (writes and reads) over the minimum.
Then two scenarios on one delivery record (issue 17):

- concurrent tries: try 2 of the same task instance starts while try 1 is mid intent batch,
  both on one record (the lease fences try 1 before its next request);
- re-trigger: a complete delivery, its DAG run deleted, the same task for the same logical
  date run again on the record kept with the Ubidots Asset (a new run id, try 1);
- changed input (the dot record): a complete try, then a retry whose input gained 10 % more
  rows at its end (a grown table); and a try that failed halfway, then a retry whose input
  gained those rows and came sorted by device instead of by time (every body changed). The
  minimum there is a body per body of new dots; a changed body carries only its new dots (not
  packed again), so the retries make about a request per changed body.

The last line is JSON: ``duplicates``, ``lost`` and ``extra_requests_ratio`` of the lost-replies
phase, then the mixed phase's figures, ``concurrent_try_duplicates``,
``retrigger_duplicates``, ``changed_input_duplicates`` (and its lost dots and requests over
the minimum) and ``ledger_bytes_per_body`` (every key and value of the record of the
lost-replies phase, per body; ``dot_record_bytes_per_body`` the ranges' share).

    python bench/bench_exactly_once.py              # 200,000 dots, about 30 s per phase
    python bench/bench_exactly_once.py --dots 50000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="bulkdots-bench-"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from airflow_provider_bulkdots.delivery.exactly_once.delivery import (
    INTENT_BATCH,
    ExactlyOnceDelivery,
)
from airflow_provider_bulkdots.delivery.exactly_once.lease import TryLease
from airflow_provider_bulkdots.delivery.exactly_once.ledger import DeliveryLedger
from airflow_provider_bulkdots.delivery.exactly_once.readback import SeriesReader
from airflow_provider_bulkdots.delivery.exactly_once.reconcile import Reconciler
from airflow_provider_bulkdots.delivery.http.auth import TokenAuth
from airflow_provider_bulkdots.delivery.http.sender import Sender
from airflow_provider_bulkdots.delivery.http.transport import make_session
from airflow_provider_bulkdots.delivery.pacing.token import TokenPacer
from airflow_provider_bulkdots.delivery.settings import resolve_settings
from airflow_provider_bulkdots.dots import Body, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.emulator import Emulator, Faults, start_emulator
from airflow_provider_bulkdots.exceptions import BulkDotsError
from bench._common import wide_rows

TOKEN = "BBFF-bench-token-0123456789"
RATE = 20.0
VISIBILITY = 0.5
RECONCILE_DELAY = 0.7


class MemoryStore:
    """The ledger's store in a dict (the operator's is the task state store)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def set(self, key: str, value: str) -> None:
        self.values[key] = value


def make_bodies(dots: int) -> list[Body]:
    options = ReshapeOptions(layout="wide", device_column="device", timestamp_column="timestamp")
    return list(build_bodies(wide_rows(dots), options))


def phase(emu: Emulator, name: str, bodies: list[Body], faults: Faults) -> dict[str, Any]:
    """Deliver every body under ``faults``; what the emulator stored and what it cost."""
    emu.reset()
    emu.set_rate_limit(RATE)
    emu.set_visibility_delay(VISIBILITY)
    emu.set_faults(faults)
    settings = resolve_settings(
        emu.url,
        overrides={"rate_limit": RATE, "max_in_flight": 4, "resend_lost_replies": False},
    )
    session = make_session(settings.max_in_flight)
    auth = TokenAuth(TOKEN)
    limiter = TokenPacer(RATE)  # writes and reads share the pace
    reader = SeriesReader(session, auth, settings, limiter)
    reconciler = Reconciler(reader, delay=RECONCILE_DELAY, timeout=300)
    store = MemoryStore()
    ledger = DeliveryLedger(store, "ledger", "bench")
    sender = Sender(session, auth, settings, limiter=limiter)
    delivery = ExactlyOnceDelivery(sender, ledger, reconciler)
    started = time.monotonic()
    summary = delivery.run(iter(bodies))
    seconds = time.monotonic() - started
    stats = emu.stats()
    expected = sum(body.dot_count for body in bodies)
    writes, reads = summary.requests, delivery.counts.read_requests
    result = {
        "bodies": len(bodies),
        "writes": writes,
        "reads": reads,
        "ratio": round((writes + reads) / len(bodies), 3),
        "duplicates": stats["duplicates"],
        "lost": expected - stats["unique_dots"],
        "reconciled_bodies": delivery.counts.reconciled_bodies,
        "resent_dots": delivery.counts.resent_dots,
        "replies": stats["requests"],
        "seconds": round(seconds, 1),
        "ledger_bytes_per_body": round(store_bytes(store) / len(bodies), 1),
        "dot_record_bytes_per_body": round(store_bytes(store, "/r/") / len(bodies), 1),
    }
    print(
        f"{name:>13}: {result['bodies']} bodies, {writes} writes + {reads} reads "
        f"= {result['ratio']:.3f} x the minimum; {result['duplicates']} duplicates, "
        f"{result['lost']} lost; {result['reconciled_bodies']} bodies read back, "
        f"{result['resent_dots']} dots resent; replies {result['replies']}; {seconds:.1f} s "
        f"({(writes + reads) / seconds:.1f} requests/s)"
    )
    return result


def store_bytes(store: MemoryStore, part: str = "") -> int:
    """Bytes of the record's keys and values (those whose key holds ``part``)."""
    return sum(len(key) + len(value) for key, value in store.values.items() if part in key)


def a_try(url: str, store: MemoryStore, lease: TryLease) -> ExactlyOnceDelivery:
    """One try of a task instance on the record in ``store``, as the operator composes it."""
    settings = resolve_settings(
        url,
        overrides={
            "rate_limit": RATE,
            "max_in_flight": 4,
            "resend_lost_replies": False,
            "timeout": 5,
        },
    )
    session = make_session(settings.max_in_flight)
    auth = TokenAuth(TOKEN)
    limiter = TokenPacer(RATE)
    reader = SeriesReader(session, auth, settings, limiter)
    reconciler = Reconciler(reader, delay=RECONCILE_DELAY, timeout=300)
    ledger = DeliveryLedger(store, "ledger", "bench", lease=lease)
    return ExactlyOnceDelivery(Sender(session, auth, settings, limiter=limiter), ledger, reconciler)


def scenario_start(emu: Emulator) -> None:
    emu.reset()
    emu.set_rate_limit(RATE)
    emu.set_visibility_delay(VISIBILITY)


def concurrent_tries(emu: Emulator, bodies: list[Body]) -> int:
    """Try 2 starts while try 1 is mid intent batch, both on one record: dots stored twice."""
    scenario_start(emu)
    store = MemoryStore()
    reached = threading.Event()
    instant = max(1, min(INTENT_BATCH * 3 + INTENT_BATCH // 2, len(bodies) // 2))

    class Signalling(TryLease):
        calls = 0

        def check(self) -> None:
            Signalling.calls += 1
            if Signalling.calls == instant:  # try 1 is about to send mid intent batch
                reached.set()
            super().check()

    first = a_try(emu.url, store, Signalling(store, "ledger", 1, "run"))
    thread = threading.Thread(target=lambda: _stopped_quietly(first, bodies))
    thread.start()
    reached.wait(120)
    a_try(emu.url, store, TryLease(store, "ledger", 2, "run")).run(iter(bodies))
    thread.join()
    return scenario_report("concurrent", emu, bodies)


def retrigger(emu: Emulator, bodies: list[Body]) -> int:
    """A complete delivery, its DAG run deleted, the same task and logical date run again: the
    record kept with the Ubidots Asset (a new run id, try 1 again)."""
    scenario_start(emu)
    asset_store = MemoryStore()
    a_try(emu.url, asset_store, TryLease(asset_store, "ledger", 1, "run-1")).run(iter(bodies))
    a_try(emu.url, asset_store, TryLease(asset_store, "ledger", 1, "run-2")).run(iter(bodies))
    return scenario_report("re-trigger", emu, bodies)


def changed_input(emu: Emulator, dots: int) -> dict[str, Any]:
    """Retries whose input changed since the try before: duplicates, lost dots, and requests
    (writes and reads) of the retries over the minimum (a body per body of new dots)."""
    rows = list(wide_rows(dots))
    old, grown = rows[: len(rows) * 10 // 11], rows
    resorted = sorted(grown, key=lambda row: (str(row["device"]), str(row["timestamp"])))
    duplicates = lost = requests = minimum = 0
    for name, sent_before, retried in (
        ("grown", _bodies_of(old), _bodies_of(grown)),
        ("resorted", _bodies_of(old)[: len(_bodies_of(old)) // 2], _bodies_of(resorted)),
    ):
        scenario_start(emu)
        store = MemoryStore()
        a_try(emu.url, store, TryLease(store, "ledger", 1, "run")).run(iter(sent_before))
        before = emu.stats()["unique_dots"]
        retry = a_try(emu.url, store, TryLease(store, "ledger", 2, "run"))
        summary = retry.run(iter(retried))
        stats = emu.stats()
        expected = sum(body.dot_count for body in retried)
        duplicates += stats["duplicates"]
        lost += expected - stats["unique_dots"]
        requests += summary.requests + retry.counts.read_requests
        minimum += -(-(expected - before) * len(retried) // expected)  # bodies of new dots
        print(
            f"{'changed: ' + name:>17}: {stats['duplicates']} duplicates, "
            f"{expected - stats['unique_dots']} lost of {expected} dots; the retry made "
            f"{summary.requests} writes + {retry.counts.read_requests} reads; "
            f"{retry.counts.acknowledged_dots_skipped} dots matched by the record, "
            f"{retry.counts.ambiguous_dots_read_back} read back"
        )
    return {
        "duplicates": duplicates,
        "lost": lost,
        "ratio": round(requests / max(1, minimum), 3),
    }


def _bodies_of(rows: list[dict[str, object]]) -> list[Body]:
    options = ReshapeOptions(layout="wide", device_column="device", timestamp_column="timestamp")
    return list(build_bodies(rows, options))


def _stopped_quietly(delivery: ExactlyOnceDelivery, bodies: list[Body]) -> None:
    try:
        delivery.run(iter(bodies))
    except BulkDotsError as error:
        print(f"   try 1 stopped: {error}")


def scenario_report(name: str, emu: Emulator, bodies: list[Body]) -> int:
    stats = emu.stats()
    expected = sum(body.dot_count for body in bodies)
    print(
        f"{name:>13}: {stats['duplicates']} duplicates, {expected - stats['unique_dots']} lost "
        f"of {expected} dots"
    )
    return int(stats["duplicates"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dots", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    bodies = make_bodies(args.dots)
    print(f"{args.dots} dots in {len(bodies)} bodies; emulator at {RATE:g} requests/s")
    with start_emulator(token=TOKEN, rate_limit=RATE) as emu:
        base = phase(emu, "baseline", bodies, Faults())
        lost = phase(emu, "lost replies", bodies, Faults(drop_response_rate=0.10, seed=args.seed))
        mixed = phase(
            emu,
            "mixed",
            bodies,
            Faults(drop_response_rate=0.05, drop_request_rate=0.05, seed=args.seed),
        )
        concurrent = concurrent_tries(emu, bodies)
        again = retrigger(emu, bodies)
        changed = changed_input(emu, args.dots)
    print(
        json.dumps(
            {
                "duplicates": lost["duplicates"],
                "lost": lost["lost"],
                "extra_requests_ratio": lost["ratio"],
                "baseline_ratio": base["ratio"],
                "mixed_duplicates": mixed["duplicates"],
                "mixed_lost": mixed["lost"],
                "mixed_extra_requests_ratio": mixed["ratio"],
                "concurrent_try_duplicates": concurrent,
                "retrigger_duplicates": again,
                "changed_input_duplicates": changed["duplicates"],
                "changed_input_lost": changed["lost"],
                "changed_input_requests_ratio": changed["ratio"],
                "ledger_bytes_per_body": lost["ledger_bytes_per_body"],
                "dot_record_bytes_per_body": lost["dot_record_bytes_per_body"],
            }
        )
    )


if __name__ == "__main__":
    main()
