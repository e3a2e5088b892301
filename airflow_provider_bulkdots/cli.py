"""``python -m airflow_provider_bulkdots plan PATH``: a load's plan, without a deployment.

The same plan as ``BulkDotsOperator(..., dry_run=True)``, from a file (CSV, JSON Lines,
Parquet) and the operator's reading options as flags: it prints the plan, the first body
and the first invalid rows, and exits 1 when ``on_invalid="fail"`` would fail the run.
Nothing is sent and no Airflow connection or database is needed. The same command is
``airflow bulkdots plan`` where the provider is installed (``cli`` in the provider info).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from airflow_provider_bulkdots.delivery.settings import DEFAULTS
from airflow_provider_bulkdots.dots import Report, ReshapeOptions
from airflow_provider_bulkdots.exceptions import BulkDotsError
from airflow_provider_bulkdots.planning import Plan, make_plan
from airflow_provider_bulkdots.sources import ReadOptions, open_dataset

#: The first body is shown up to this many characters.
BODY_SHOWN_CHARS = 2000


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


#: (flags, argparse keywords) of every option: one list for both command lines.
ARGUMENTS: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("path",), {"help": "the input file (CSV, JSON Lines or Parquet; a path or URI)"}),
    (("--layout",), {"choices": ["wide", "long", "records"], "default": "wide"}),
    (("--device-column",), {"default": "device", "help": "column of device labels"}),
    (("--device",), {"default": None, "help": "one device label for every row"}),
    (("--timestamp-column",), {"default": "timestamp"}),
    (("--timestamp-unit",), {"choices": ["s", "ms", "us", "ns"], "default": "ms"}),
    (("--timezone",), {"default": "UTC"}),
    (("--timestamp-format",), {"default": None, "help": "strftime pattern (pandas format=)"}),
    (("--variables",), {"type": _split, "default": None, "help": "comma-separated columns"}),
    (("--variable-column",), {"default": "variable"}),
    (("--value-column",), {"default": "value"}),
    (("--context-columns",), {"type": _split, "default": [], "help": "comma-separated"}),
    (("--file-format",), {"choices": ["csv", "jsonl", "parquet"], "default": None}),
    (("--delimiter",), {"default": ","}),
    (("--decimal",), {"default": "."}),
    (("--na-values",), {"type": _split, "default": None, "help": "comma-separated"}),
    (("--no-default-na",), {"action": "store_true", "help": "pandas keep_default_na=False"}),
    (("--true-values",), {"type": _split, "default": None}),
    (("--false-values",), {"type": _split, "default": None}),
    (("--on-invalid",), {"choices": ["fail", "skip"], "default": "fail"}),
    (
        ("--max-body-bytes",),
        {"type": int, "default": DEFAULTS["max_body_bytes"], "help": "the body limit"},
    ),
    (
        ("--rate-limit",),
        {"type": float, "default": DEFAULTS["rate_limit"], "help": "the token's requests/s"},
    ),
    (("--shared-by",), {"type": int, "default": 1, "help": "tasks sharing the token"}),
    (("--json",), {"action": "store_true", "help": "print the plan as one JSON object"}),
]


def parser() -> argparse.ArgumentParser:
    """The ``plan`` command's parser (``python -m airflow_provider_bulkdots``)."""
    top = argparse.ArgumentParser(prog="python -m airflow_provider_bulkdots")
    commands = top.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="what a load of PATH would send; sends nothing")
    for flags, keywords in ARGUMENTS:
        plan.add_argument(*flags, **keywords)
    return top


def options_of(args: argparse.Namespace) -> tuple[ReshapeOptions, ReadOptions]:
    """The reshape and read options the flags give, checked as the operator checks them."""
    reshape = ReshapeOptions(
        layout=args.layout,
        device_column=args.device_column,
        device=args.device,
        timestamp_column=args.timestamp_column,
        timestamp_unit=args.timestamp_unit,
        timezone=args.timezone,
        variables=args.variables or None,
        variable_column=args.variable_column,
        value_column=args.value_column,
        context_columns=tuple(args.context_columns or ()),
        max_body_bytes=args.max_body_bytes,
        on_invalid=args.on_invalid,
        timestamp_format=args.timestamp_format,
        na_values=args.na_values,
        keep_default_na=not args.no_default_na,
        true_values=args.true_values,
        false_values=args.false_values,
        decimal=args.decimal,
    )
    return reshape, ReadOptions(file_format=args.file_format, delimiter=args.delimiter)


def run_plan(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Print the plan of ``args.path``; 1 when the run would fail, else 0."""
    out = out or sys.stdout
    try:
        reshape, reading = options_of(args)
        dataset = open_dataset(args.path, options=reshape, reading=reading)
        report = Report(line_of=dataset.line_of)
        plan = make_plan(
            dataset.rows(),
            reshape,
            rate_limit=args.rate_limit,
            shared_by=args.shared_by,
            report=report,
        )
    except (BulkDotsError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    _print_plan(plan, dataset.description, args.json, out)
    return 1 if plan.would_fail else 0


def _print_plan(plan: Plan, description: str, as_json: bool, out: TextIO) -> None:
    if as_json:
        print(json.dumps(plan.as_dict()), file=out)
        return
    print(f"Plan for {description} (nothing is sent):", file=out)
    for line in plan.describe():
        print(f"  {line}", file=out)
    if plan.first_body is not None:
        shown = plan.first_body.decode()
        if len(shown) > BODY_SHOWN_CHARS:
            shown = shown[:BODY_SHOWN_CHARS] + f"... ({len(plan.first_body)} bytes)"
        print("First body:", file=out)
        print(f"  {shown}", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line's entry: parse, plan, return the exit status."""
    args = parser().parse_args(argv)
    return run_plan(args)


def airflow_plan(args: argparse.Namespace) -> None:
    """``airflow bulkdots plan``: the same, exiting with its status."""
    status = run_plan(args)
    if status:
        raise SystemExit(status)


def get_cli_commands() -> list[Any]:
    """The provider's ``airflow`` commands (``cli`` in ``get_provider_info``)."""
    from airflow_provider_bulkdots.compat import cli_command_types

    action, group, arg = cli_command_types()
    plan = action(
        name="plan",
        help="What a load of PATH would send (counts, time, first body, invalid rows)",
        func=airflow_plan,
        args=[arg(flags, **keywords) for flags, keywords in ARGUMENTS],
    )
    return [group(name="bulkdots", help="Ubidots bulk dots", subcommands=[plan])]
