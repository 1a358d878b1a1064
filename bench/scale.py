"""Flat at scale: claims, memory and intake with a small and a large backlog.

    python -m bench scale                            # 1,000 and 1,000,000; ~15 minutes
    python -m bench scale --sizes 1000,100000 --backends sqlite

For each backend and each size N, a fresh database (a SQLite file; a schema of a PostgreSQL
database created for the run and dropped) gets N pending deliveries written in bulk
(:mod:`bench.scale_load`: N/2 events over N/10 calls, one delivery each for the default
handler ``log.events``, unordered, and for an ordered one). Then:

- claims (:mod:`bench.scale_claims`): the store's claim of one batch of the worker's size
  (64), for each handler, and the finish of that batch, --claims times;
- intake (:mod:`bench.scale_procs`): wrk (one thread, 32 connections, real payloads) against
  ``receiver serve`` beside the backlog, pinned to CPU 0 and wrk to CPU 1 when there are two;
- memory: ``receiver serve``, then ``receiver worker``, with the default handler, each
  --work-seconds at work on the backlog; their peak RSS (VmHWM).

One table per backend, each figure at every size and the ratio of the largest to the
smallest. Goals: a claim's p50 within 1.5x, peak RSS under 200 MB, intake p99 within 1.5x.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench.pg_runs import Database, _pg, with_database
from bench.scale_claims import KINDS, time_claims
from bench.scale_load import Backlog, load_postgres, load_sqlite, migrate
from bench.scale_procs import intake_point, memory_point
from bench.wrk import find_wrk, write_payloads

ROOT = Path(__file__).resolve().parent.parent
GOAL_CLAIM_RATIO, GOAL_RSS_MB, GOAL_P99_RATIO = 1.5, 200.0, 1.5
RSS = ("intake_rss_mb", "serve_rss_mb", "worker_rss_mb")
BATCH = 64  # the worker's free slots with RECEIVER_WORKER_CONCURRENCY's default

# (key, label, format) of each row of a backend's table
ROWS = [
    ("load_s", "bulk load, s", ".1f"),
    ("unordered.claim_p50_ms", "claim, unordered: p50 ms", ".2f"),
    ("unordered.claim_p99_ms", "claim, unordered: p99 ms", ".2f"),
    ("unordered.per_delivery_p50_us", "claim, unordered: p50 µs per delivery", ".1f"),
    ("unordered.finish_p50_ms", "finish of its batch: p50 ms", ".2f"),
    ("ordered.claim_p50_ms", "claim, ordered: p50 ms", ".2f"),
    ("ordered.claim_p99_ms", "claim, ordered: p99 ms", ".2f"),
    ("ordered.per_delivery_p50_us", "claim, ordered: p50 µs per delivery", ".1f"),
    ("ordered.finish_p50_ms", "finish of its batch: p50 ms", ".2f"),
    ("intake_rps", "intake: req/s", ",.0f"),
    ("intake_p50_ms", "intake: p50 ms", ".2f"),
    ("intake_p99_ms", "intake: p99 ms", ".2f"),
    ("intake_rss_mb", "serve under intake: peak RSS MB", ".0f"),
    ("serve_rss_mb", "serve at work: peak RSS MB", ".0f"),
    ("serve_done", "serve at work: deliveries done", ",d"),
    ("worker_rss_mb", "worker at work: peak RSS MB", ".0f"),
    ("worker_done", "worker at work: deliveries done", ",d"),
]


def _point(backend: str, size: int, pg: str, opts: dict[str, Any]) -> dict[str, Any]:
    db = asyncio.run(Database.fresh(backend, pg, opts["work"]))
    tag = f"{backend}-{size}"
    try:
        asyncio.run(migrate(db.url))
        started = time.perf_counter()
        if db.postgres:
            asyncio.run(load_postgres(db.url, Backlog(size)))
        else:
            load_sqlite(db.sqlite_path, Backlog(size))
        point: dict[str, Any] = {"load_s": time.perf_counter() - started}
        claims = asyncio.run(time_claims(db.url, opts["claims"], BATCH))
        point |= {f"{kind}.{k}": v for kind, figures in claims.items() for k, v in figures.items()}
        point |= intake_point(db.url, opts, tag)
        for command in ("serve", "worker"):
            before = asyncio.run(_done(db))
            log = opts["work"] / f"scale-{tag}-{command}.log"
            point[f"{command}_rss_mb"] = memory_point(command, db.url, opts["work_seconds"], log)
            point[f"{command}_done"] = asyncio.run(_done(db)) - before
        return point
    finally:
        asyncio.run(db.drop())


async def _done(db: Database) -> int:
    (count,) = await db.column("SELECT count(*) FROM deliveries WHERE status = 'done'")
    return int(count)


def _fmt(value: Any, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _size(n: int) -> str:
    for unit, label in ((1_000_000, "M"), (1_000, "k")):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{label}"
    return str(n)


def _table(backend: str, sizes: list[int], points: dict[int, dict[str, Any]]) -> Table:
    first, last = points[sizes[0]], points[sizes[-1]]
    table = Table(title=f"{backend}: pending deliveries", title_justify="left")
    table.add_column("")
    for size in sizes:
        table.add_column(_size(size), justify="right")
    table.add_column(f"{_size(sizes[-1])}÷{_size(sizes[0])}", justify="right")
    for key, label, spec in ROWS:
        ratio = last[key] / first[key] if first[key] else None
        cells = [_fmt(points[size][key], spec) for size in sizes]
        table.add_row(label, *cells, _fmt(ratio, ".2f"))
    return table


def _goals(points: dict[int, dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    first, last = points[sizes[0]], points[sizes[-1]]
    claim = max(last[f"{k}.claim_p50_ms"] / first[f"{k}.claim_p50_ms"] for k in KINDS)
    rss = max(p[k] for p in points.values() for k in RSS)
    p99 = last["intake_p99_ms"] / first["intake_p99_ms"]
    return {
        "claim_ratio": claim, "claim_met": claim <= GOAL_CLAIM_RATIO,
        "peak_rss_mb": rss, "rss_met": rss < GOAL_RSS_MB,
        "intake_p99_ratio": p99, "intake_met": p99 <= GOAL_P99_RATIO,
    }  # fmt: skip


def _goal_line(backend: str, goals: dict[str, Any]) -> str:
    def met(ok: bool) -> str:
        return "met" if ok else "NOT met"

    return (
        f"{backend}: claim p50 ratio {goals['claim_ratio']:.2f} (<= {GOAL_CLAIM_RATIO}: "
        f"{met(goals['claim_met'])}); peak RSS {goals['peak_rss_mb']:.0f} MB (< {GOAL_RSS_MB:.0f}: "
        f"{met(goals['rss_met'])}); intake p99 ratio {goals['intake_p99_ratio']:.2f} "
        f"(<= {GOAL_P99_RATIO}: {met(goals['intake_met'])})"
    )


def _ints(value: str) -> list[int]:
    return sorted({int(v.replace("_", "")) for v in value.split(",") if v.strip()})


@click.command()
@click.option("--sizes", default="1000,1000000", show_default=True, help="Pending deliveries.")
@click.option("--backends", default="sqlite,postgres", show_default=True)
@click.option(
    "--database-url", envvar="BENCH_DATABASE_URL", show_envvar=True, show_default=True,
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    help="A PostgreSQL server where this user may create a database.",
)  # fmt: skip
@click.option("--claims", default=200, show_default=True, help="Timed claims per handler.")
@click.option("--duration", default=8.0, show_default=True, help="Seconds of intake load.")
@click.option("--warmup", default=2.0, show_default=True, help="Seconds of warm-up before it.")
@click.option("--work-seconds", default=15.0, show_default=True, help="Seconds of work, memory.")
@click.option("--pin/--no-pin", default=True, show_default=True, help="Pin serve and wrk.")
@click.option("--wrk", "wrk_path", default=None, help="Path to wrk (default: found or installed).")
@click.option("--work", default=str(ROOT / ".bench"), show_default=True, help="Scratch directory.")
@click.option("--json", "json_out", default=None, help="Also write the figures to this file.")
def main(
    sizes, backends, database_url, claims, duration, warmup, work_seconds, pin, wrk_path, work,
    json_out,
) -> None:  # fmt: skip
    """Claims, memory and intake with a small and a large backlog, on SQLite and PostgreSQL."""
    size_list, backend_list = _ints(sizes), [b.strip() for b in backends.split(",") if b.strip()]
    if len(size_list) < 2 or not set(backend_list) <= {"sqlite", "postgres"}:
        raise click.UsageError("--sizes needs two sizes or more; --backends sqlite, postgres")
    work_dir = Path(work)
    work_dir.mkdir(parents=True, exist_ok=True)
    pin = pin and (os.cpu_count() or 1) >= 2
    opts = {
        "work": work_dir, "claims": claims, "duration": duration, "warmup": warmup,
        "work_seconds": work_seconds, "wrk": find_wrk(wrk_path),
        "payloads": work_dir / "payloads.txt",
        "server_cpu": "0" if pin else None, "wrk_cpu": "1" if pin else None,
    }  # fmt: skip
    write_payloads(opts["payloads"])
    console = Console()
    report: dict[str, Any] = {"sizes": size_list, "batch": BATCH, "backends": {}}
    pg_name = f"receiver_scale_{secrets.token_hex(4)}"
    if "postgres" in backend_list:
        asyncio.run(_pg(database_url, f'CREATE DATABASE "{pg_name}"'))
    try:
        for backend in backend_list:
            points = {}
            for size in size_list:
                console.print(f"{backend}, {size:,} pending deliveries ...")
                points[size] = _point(backend, size, with_database(database_url, pg_name), opts)
            goals = _goals(points, size_list)
            console.print(_table(backend, size_list, points))
            console.print(_goal_line(backend, goals))
            report["backends"][backend] = {"points": points, "goals": goals}
    finally:
        if "postgres" in backend_list:
            asyncio.run(_pg(database_url, f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)'))
    if json_out:
        Path(json_out).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_out}")
