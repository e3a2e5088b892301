"""Throughput, density and memory of the pure core, each beside a baseline of the same run.

    python bench/bench_core.py [--dots 1000000]

Figures: dots/s through the whole core (rows to bodies); ``floor_ratio``, the core's time
over the time of the floor (msgspec, the fastest JSON encoder present, encoding the already
shaped payload once); ``bodies`` against ``lower_bound`` = ceil(bytes of that payload /
max_body_bytes); ``naive_bodies``, what one-dot-per-object encoding with json.dumps default
separators needs; peak RSS of the core at 1x and 10x the rows (streamed input); and, on a
DataFrame whose integer columns pandas upcast to float by a missing value, the bodies and
bytes with integral floats written as ``40.0`` (before) and as ``40`` (now), same run.
The last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from _common import VARIABLES, last_line_of_child, peak_rss_mb, wide_rows
from _inputs import integral_floats_written_as_floats, upcast_frame
from _sources import source_figures

from airflow_provider_bulkdots.dots import Report, ReshapeOptions, build_bodies
from airflow_provider_bulkdots.sources import open_dataset

MAX_BODY = 10_000
OPTIONS = ReshapeOptions(layout="wide", max_body_bytes=MAX_BODY)


def shaped_payload(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The payload in the endpoint's shape, one record per device: the floor's input."""
    per_device: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        millis = int(row["timestamp"].timestamp() * 1000)  # type: ignore[attr-defined]
        obj = {name: row[name] for name in VARIABLES}
        obj["timestamp"] = millis
        per_device.setdefault(str(row["device"]), []).append(obj)
    return [
        {"device": device, "timestamp": objs[0]["timestamp"], "values": objs}
        for device, objs in per_device.items()
    ]


def naive_bodies(payload: list[dict[str, object]]) -> int:
    """Bodies needed with one dot per value object and json.dumps' default separators."""
    bodies, size = 0, 0
    for record in payload:
        for obj in record["values"]:  # type: ignore[attr-defined]
            for name in VARIABLES:
                item = json.dumps(
                    {
                        "device": record["device"],
                        "timestamp": obj["timestamp"],
                        "values": [{name: obj[name]}],
                    }
                )
                cost = len(item.encode()) + 2
                if size and size + cost > MAX_BODY:
                    bodies, size = bodies + 1, 0
                size += cost
    return bodies + (1 if size else 0)


def best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    best = math.inf
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def peak_rss_child(dots: int) -> float:
    """Peak RSS (MB) of a fresh process streaming ``dots`` through the core."""
    return float(last_line_of_child(__file__, "--stream-only", "--dots", str(dots)))


def stream_only(dots: int) -> None:
    bodies = sum(1 for _ in build_bodies(wide_rows(dots), OPTIONS))
    assert bodies > 0
    print(peak_rss_mb())


def upcast_gain(dots: int) -> dict[str, int]:
    """Bodies and bytes of a NaN-upcast frame, integral floats as 40.0 and as 40."""
    frame = upcast_frame(dots)
    figures: dict[str, int] = {}
    for when in ("before", "after"):
        report = Report()
        dataset = open_dataset(frame, options=OPTIONS)
        if when == "before":
            with integral_floats_written_as_floats():
                list(build_bodies(dataset.rows(), OPTIONS, report))
        else:
            list(build_bodies(dataset.rows(), OPTIONS, report))
        figures[f"bodies_{when}"] = report.bodies
        figures[f"bytes_{when}"] = report.bytes
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dots", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream-only", action="store_true")
    args = parser.parse_args()
    if args.stream_only:
        stream_only(args.dots)
        return

    rows = list(wide_rows(args.dots))
    bodies: list[int] = []

    def core() -> None:
        bodies[:] = [sum(1 for _ in build_bodies(rows, OPTIONS))]

    core_s = best_of(args.runs, core)
    payload = shaped_payload(rows)
    encoder = msgspec.json.Encoder()
    encoded: list[bytes] = []
    floor_s = best_of(
        args.runs, lambda: encoded.__setitem__(slice(None), [encoder.encode(payload)])
    )
    total_bytes = len(encoded[0])
    lower_bound = math.ceil(total_bytes / MAX_BODY)
    naive = naive_bodies(payload)
    rss_1x = peak_rss_child(args.dots)
    rss_10x = peak_rss_child(args.dots * 10)
    sources = source_figures(rows, OPTIONS, args.runs)
    upcast = upcast_gain(args.dots)

    dots_per_s = args.dots / core_s
    print(f"core:   {args.dots:,} dots in {core_s:.3f} s = {dots_per_s:,.0f} dots/s")
    print(
        f"floor:  msgspec encodes the shaped payload in {floor_s:.3f} s; "
        f"core/floor = {core_s / floor_s:.2f}"
    )
    print(
        f"bodies: {bodies[0]:,} against lower bound {lower_bound:,} "
        f"({bodies[0] / lower_bound:.4f}x); naive encoder {naive:,} "
        f"({naive / bodies[0]:.2f}x ours)"
    )
    print(
        f"memory: peak RSS {rss_1x:.1f} MB at 1x rows, {rss_10x:.1f} MB at 10x "
        f"({rss_10x / rss_1x:.2f}x)"
    )
    print("sources: " + ", ".join(f"{name} {value:,}" for name, value in sources.items()))
    print(
        f"upcast: NaN-upcast integer columns: {upcast['bodies_before']:,} bodies / "
        f"{upcast['bytes_before']:,} bytes with 40.0, {upcast['bodies_after']:,} / "
        f"{upcast['bytes_after']:,} with 40 "
        f"({1 - upcast['bytes_after'] / upcast['bytes_before']:.1%} fewer bytes)"
    )
    print(
        json.dumps(
            {
                **sources,
                "dots_per_s": round(dots_per_s),
                "floor_ratio": round(core_s / floor_s, 3),
                "bodies": bodies[0],
                "lower_bound": lower_bound,
                "naive_bodies": naive,
                "peak_rss_mb": round(rss_1x, 1),
                "peak_rss_mb_10x": round(rss_10x, 1),
                **{f"upcast_{key}": value for key, value in upcast.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
