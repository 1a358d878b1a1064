"""Dispatch benchmark: no-op handler throughput and event → handler-start latency, SQLite.

    python -m bench dispatch                       # 2 rounds of everything, ~2 minutes
    python -m bench dispatch --repeats 1 --seconds 5

Throughput (see :mod:`bench.throughput`): 10,000 events written straight into a fresh
store, spread over 200 calls; the worker (defaults: 64 concurrent deliveries, JSON logs at
INFO to /dev/null) runs them with 1 or 3 no-op handlers, ordered (the default) and not.
Each round first measures the raw SQLite baseline on the same rows, and each worker point's
ratio is to the baseline (batches of 100) of its own round. Latency (see :mod:`bench.latency`):
the real ``receiver serve`` app over HTTP at a steady rate.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench.latency import as_row, run_latency
from bench.throughput import Point, baseline_point, worker_point

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATE, GOAL_P50_MS, GOAL_P99_MS = 5000.0, 5.0, 50.0
BASELINE_BATCHES = (1, 10, 100)
WORKER_POINTS = ((1, True), (1, False), (3, True), (3, False))


def _throughput_round(
    round_no: int, work: Path, events: int, calls: int, timeout: float, quiet_point: bool
) -> list[dict[str, Any]]:
    async def run() -> list[Point]:
        points = []
        for batch in BASELINE_BATCHES:  # one commit each costs an fsync: fewer rows for 1
            n = min(events, 1000) if batch == 1 else events
            points.append(await baseline_point(work, n, calls, batch))
        for handlers, ordered in WORKER_POINTS:
            points.append(await worker_point(work, events, calls, handlers, ordered, timeout))
        if quiet_point:
            point = await worker_point(work, events, calls, 1, True, timeout, log_level="WARNING")
            point.name += ", logs at WARNING"
            points.append(point)
        return points

    points = asyncio.run(run())
    base = next(p.rate for p in points if p.ordered is None and p.name.endswith(" 100"))
    return [
        {
            "round": round_no,
            **asdict(p),
            "rate": p.rate,
            "cpu_us_per_delivery": p.cpu_us,
            "ratio": p.rate / base,
        }
        for p in points
    ]


def _summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for name in dict.fromkeys(r["name"] for r in rows):
        group = [r for r in rows if r["name"] == name]
        out.append(
            {
                "name": name,
                "rounds": len(group),
                "deliveries": group[0]["deliveries"],
                "rate": statistics.mean(r["rate"] for r in group),
                "rate_min": min(r["rate"] for r in group),
                "cpu_us_per_delivery": statistics.mean(r["cpu_us_per_delivery"] for r in group),
                "ratio": statistics.mean(r["ratio"] for r in group),
                "order_violations": sum(r["order_violations"] for r in group),
                "not_done": sum(r["not_done"] for r in group),
            }
        )
    return out


def _throughput_table(title: str, rows: list[dict[str, Any]], first: str) -> Table:
    table = Table(title=title, title_justify="left")
    columns = (first, "what", "deliveries", "per s", "CPU µs each", "vs raw x100", "order", "left")
    for name in columns:
        table.add_column(name, justify="left" if name == "what" else "right")
    for r in rows:
        table.add_row(
            str(r[first]), r["name"], f"{r['deliveries']:,}", f"{r['rate']:,.0f}",
            f"{r['cpu_us_per_delivery']:.0f}", f"{r['ratio']:.2f}",
            str(r["order_violations"]), str(r["not_done"]),
        )  # fmt: skip
    return table


def _latency_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns = ("round", "events/s", "acked", "started", "ack→start p50", "p99", "max",
               "receipt→start p50", "p99", "post→202 p50", "p99", "start<ack")  # fmt: skip
    for name in columns:
        table.add_column(name, justify="right")
    for r in rows:
        table.add_row(
            str(r["round"]), f"{r['rate']:g}", str(r["accepted"]), str(r["started"]),
            f"{r['ack_start_p50']:.2f}", f"{r['ack_start_p99']:.2f}", f"{r['ack_start_max']:.2f}",
            f"{r['receipt_start_p50']:.2f}", f"{r['receipt_start_p99']:.2f}",
            f"{r['post_ack_p50']:.2f}", f"{r['post_ack_p99']:.2f}", str(r["negative"]),
        )  # fmt: skip
    return table


@click.command()
@click.option("--events", default=10_000, show_default=True, help="Events per throughput point.")
@click.option("--calls", default=200, show_default=True, help="Calls the events are spread over.")
@click.option("--repeats", default=2, show_default=True, help="Rounds (every point this often).")
@click.option("--rate", default=200.0, show_default=True, help="Events/s for the latency run.")
@click.option("--seconds", default=10.0, show_default=True, help="Measured seconds, latency run.")
@click.option("--warmup", default=1.0, show_default=True, help="Unmeasured seconds before that.")
@click.option("--latency-calls", default=20, show_default=True, help="Calls for the latency run.")
@click.option("--timeout", default=300.0, show_default=True, help="Bound on one throughput point.")
@click.option(
    "--quiet-logs/--no-quiet-logs",
    default=True,
    show_default=True,
    help="Also run x1 ordered with logs at WARNING (what the log lines cost).",
)
@click.option("--out", default=str(ROOT / ".bench" / "dispatch.json"), show_default=True)
def main(events, calls, repeats, rate, seconds, warmup, latency_calls, timeout, quiet_logs, out):
    """No-op handler throughput and event → handler-start latency on SQLite, one process."""
    out_path = Path(out)
    work = out_path.parent
    work.mkdir(parents=True, exist_ok=True)
    console = Console(width=None if sys.stdout.isatty() else 150)
    console.print(
        f"{events:,} events over {calls} calls per throughput point; latency at {rate:g}/s for "
        f"{seconds:g}s (+{warmup:g}s warm-up) over {latency_calls} calls; {repeats} round(s)"
    )
    started = time.time()
    throughput: list[dict[str, Any]] = []
    latency: list[dict[str, Any]] = []
    for round_no in range(1, repeats + 1):
        console.print(f"round {round_no}: throughput ...")
        throughput += _throughput_round(round_no, work, events, calls, timeout, quiet_logs)
        console.print(f"round {round_no}: latency ...")
        run = run_latency(work, round_no, rate, seconds, warmup, latency_calls)
        latency.append({"round": round_no, **as_row(run)})
    summary = _summary(throughput)
    console.print(_throughput_table("Throughput, every run", throughput, "round"))
    console.print(_throughput_table(f"Throughput, mean of {repeats} round(s)",
                                    [{**s, "n": s["rounds"]} for s in summary], "n"))  # fmt: skip
    console.print(_latency_table("Latency (ms), every run", latency))
    goal = _goal(summary, latency)
    console.print(goal["text"])
    report = {
        "started_at": started,
        "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "options": {"events": events, "calls": calls, "repeats": repeats, "rate": rate,
                    "seconds": seconds, "warmup": warmup, "latency_calls": latency_calls},
        "goal": {k: v for k, v in goal.items() if k != "text"},
        "throughput": {"runs": throughput, "summary": summary},
        "latency": {"runs": latency},
    }  # fmt: skip
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out_path}")
    broken = sum(r["order_violations"] + r["not_done"] for r in throughput)
    if broken:
        raise click.ClickException(f"{broken} deliveries out of order or not done")


def _goal(summary: list[dict[str, Any]], latency: list[dict[str, Any]]) -> dict[str, Any]:
    workers = [s for s in summary if s["name"].startswith("worker") and "WARNING" not in s["name"]]
    slowest = min(workers, key=lambda s: s["rate"])
    p50 = max(r["ack_start_p50"] for r in latency)
    p99 = max(r["ack_start_p99"] for r in latency)
    met = slowest["rate"] >= GOAL_RATE and p50 <= GOAL_P50_MS and p99 <= GOAL_P99_MS
    text = (
        f"goal: ≥ {GOAL_RATE:,.0f} deliveries/s (slowest point: {slowest['name']}, "
        f"{slowest['rate']:,.0f}/s), ack→start p50 ≤ {GOAL_P50_MS:g} ms (worst round "
        f"{p50:.2f}), p99 ≤ {GOAL_P99_MS:g} ms (worst round {p99:.2f}): "
        f"{'met' if met else 'NOT met'}"
    )
    return {"rate": GOAL_RATE, "p50_ms": GOAL_P50_MS, "p99_ms": GOAL_P99_MS, "met": met,
            "slowest": slowest["name"], "slowest_rate": slowest["rate"],
            "worst_p50_ms": p50, "worst_p99_ms": p99, "text": text}  # fmt: skip
