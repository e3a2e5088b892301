"""Command line: ``serve`` the emulator, or print the ``stats`` of a database."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from airflow_provider_bulkdots.emulator.faults import Faults
from airflow_provider_bulkdots.emulator.store import Store
from airflow_provider_bulkdots.emulator.testing import start_emulator
from airflow_provider_bulkdots.emulator.transport import MAX_CONNECTIONS

DEFAULT_DB = "bulkdots-emulator.sqlite"
DEFAULT_TOKEN = "emulator-token"


def _add_fault_flags(serve: argparse.ArgumentParser) -> None:
    """The flags that set the initial :class:`Faults` and the visibility delay."""
    serve.add_argument("--error-rate", type=float, default=0.0, help="fraction answered 5xx")
    serve.add_argument(
        "--error-statuses", default="500,502,503", help="comma-separated 5xx codes to draw from"
    )
    serve.add_argument("--burst-429", type=int, default=0, help="first k POSTs get 429")
    serve.add_argument(
        "--drop-response-rate",
        type=float,
        default=0.0,
        help="fraction stored but answered with a closed connection",
    )
    serve.add_argument(
        "--drop-request-rate",
        type=float,
        default=0.0,
        help="fraction closed without a reply and not stored",
    )
    serve.add_argument(
        "--wrong-2xx-rate", type=float, default=0.0, help="fraction answered 2xx without task_id"
    )
    serve.add_argument(
        "--wrong-2xx-kinds",
        default="html_200,empty_json_200,no_content_204",
        help="comma-separated wrong 2xx replies to draw from",
    )
    serve.add_argument(
        "--wrong-2xx-unstored",
        action="store_true",
        help="wrong 2xx replies store nothing (default: stored)",
    )
    serve.add_argument(
        "--stall-body-rate",
        type=float,
        default=0.0,
        help="fraction stored, then a 200 status line and a body that stalls",
    )
    serve.add_argument(
        "--reset-body-rate",
        type=float,
        default=0.0,
        help="fraction stored, then a 200 status line and a reset connection",
    )
    serve.add_argument("--stall-seconds", type=float, default=30.0, help="how long a body stalls")
    serve.add_argument(
        "--visibility-delay",
        type=float,
        default=0.0,
        help="seconds before stored dots show in reads",
    )
    serve.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    serve.add_argument("--down-after", type=int, default=None, help="refuse after N POSTs")


def _add_status_flags(serve: argparse.ArgumentParser) -> None:
    """The replies Ubidots documents for a quota (420), a disabled device (423), "not saved"."""
    serve.add_argument("--quota-after", type=int, default=None, help="420 after N POSTs")
    serve.add_argument(
        "--quota-retry-after", type=int, default=3600, help="Retry-After of a 420 (0: none)"
    )
    serve.add_argument(
        "--disabled-devices", default="", help="comma-separated devices answered 423"
    )
    serve.add_argument(
        "--not-saved", default="", help="comma-separated device[/variable] answered 204"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_bulkdots.emulator",
        description="A local stand-in of the Ubidots bulk endpoint.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve the endpoint", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind")
    serve.add_argument("--port", type=int, default=8790, help="port (0 picks a free one)")
    serve.add_argument(
        "--token",
        default=os.environ.get("BULKDOTS_EMULATOR_TOKEN", DEFAULT_TOKEN),
        help="the accepted token (env BULKDOTS_EMULATOR_TOKEN)",
    )
    serve.add_argument("--db", default=DEFAULT_DB, help="SQLite file, or :memory:")
    serve.add_argument("--rate-limit", type=float, default=4.0, help="requests/s, 0 for none")
    serve.add_argument("--max-body-bytes", type=int, default=10_000, help="body limit (413)")
    serve.add_argument(
        "--max-connections",
        type=int,
        default=MAX_CONNECTIONS,
        help="connections served at once (one thread each); more wait, then get 503",
    )
    _add_fault_flags(serve)
    _add_status_flags(serve)
    serve.add_argument("--seed", type=int, default=None, help="seed for the random faults")
    stats = commands.add_parser(
        "stats", help="print counts", formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    stats.add_argument("--db", default=DEFAULT_DB, help="SQLite file written by serve")
    stats.add_argument("--json", action="store_true", help="print JSON")
    return parser


def wait_for_stop_signal(ready: str = "") -> int:
    """Block until SIGTERM or SIGINT (Ctrl-C) arrives; return its number.

    The handlers are installed for the wait and the previous ones restored after it.
    ``ready`` is printed once they are in place, so a caller that signals as soon as it
    reads that line can never hit the default handlers.
    """
    received: list[int] = []
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        if ready:
            print(ready, flush=True)
        stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0]


def _faults(args: argparse.Namespace) -> Faults:
    return Faults(
        error_rate=args.error_rate,
        error_statuses=tuple(int(s) for s in args.error_statuses.split(",") if s.strip()),
        burst_429=args.burst_429,
        drop_response_rate=args.drop_response_rate,
        drop_request_rate=args.drop_request_rate,
        wrong_2xx_rate=args.wrong_2xx_rate,
        wrong_2xx_kinds=tuple(k.strip() for k in args.wrong_2xx_kinds.split(",") if k.strip()),
        wrong_2xx_stores=not args.wrong_2xx_unstored,
        stall_body_rate=args.stall_body_rate,
        reset_body_rate=args.reset_body_rate,
        stall_s=args.stall_seconds,
        latency_s=args.latency,
        down_after=args.down_after,
        quota_after=args.quota_after,
        quota_retry_after=args.quota_retry_after,
        disabled_devices=_labels(args.disabled_devices),
        not_saved=_labels(args.not_saved),
        seed=args.seed,
    )


def _labels(text: str) -> tuple[str, ...]:
    return tuple(label.strip() for label in text.split(",") if label.strip())


def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM or Ctrl-C, then close cleanly (exit status 0)."""
    emulator = start_emulator(
        token=args.token,
        rate_limit=args.rate_limit,
        max_body_bytes=args.max_body_bytes,
        db_path=args.db,
        faults=_faults(args),
        host=args.host,
        port=args.port,
        visibility_delay=args.visibility_delay,
        max_connections=args.max_connections,
    )
    with emulator:
        print(f"bulkdots emulator on {emulator.url}", flush=True)
        print(f"  bulk endpoint: {emulator.bulk_url}", flush=True)
        wait_for_stop_signal(f"  dashboard:     {emulator.url}/   db: {args.db}")
    return 0


def stats(args: argparse.Namespace) -> int:
    """Print the counts of a database."""
    if args.db != ":memory:" and not os.path.exists(args.db):
        print(f"no such database: {args.db}", file=sys.stderr)
        return 2
    store = Store(args.db)
    try:
        counts = store.stats()
    finally:
        store.close()
    if args.json:
        print(json.dumps(counts, indent=2, sort_keys=True))
        return 0
    for status, n in counts["requests"].items():
        print(f"requests {status:<8} {n}")
    for key in ("dots", "unique_dots", "duplicates", "devices", "bodies", "largest_body"):
        print(f"{key:<17} {counts[key]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m airflow_provider_bulkdots.emulator``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
        return stats(args)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
