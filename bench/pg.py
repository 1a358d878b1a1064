"""PostgreSQL beside SQLite in one run: intake against bare Starlette, and dispatch scaling.

    python -m bench pg                                  # about 5 minutes
    python -m bench pg --repeats 1 --duration 5 --events 10000
    python -m bench pg --database-url postgresql://postgres@db:5432/postgres

Intake: wrk (one thread, 32 connections, real payloads, a new call_id per request) against a
bare Starlette app and against the receiver's intake (no worker in the process, as when
``receiver worker`` processes run the handlers) on SQLite (synchronous=FULL) and on
PostgreSQL; with one uvicorn process (pinned to CPU 0 and wrk to CPU 1 when there are two
CPUs; PostgreSQL's own processes are not pinned) and with two (unpinned, each on its own
SO_REUSEPORT socket of the same port, so that connections spread evenly: bench/pg_serve.py).
Each ratio compares with bare Starlette in the same round and with as many processes. Every
id answered 202 is looked up in the store afterwards (``lost`` must be 0).

Dispatch: --events events over --calls calls for one ordered no-op handler, written straight
into a fresh store; then one or two ``receiver worker`` processes run the backlog (default
settings, JSON logs). Deliveries/s is the rate between 10 % and 90 % done; scaling is the
rate of two processes over that of one.

Goals, PostgreSQL: intake >= 0.40x bare on one process; dispatch scales >= 1.6x from one worker
process to two. A database ``receiver_bench_<random>`` is created for the run and dropped.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench.pg_runs import Database, _pg, dispatch_point, intake_point, with_database
from bench.wrk import find_wrk, write_payloads, wrk_version

ROOT = Path(__file__).resolve().parent.parent
GOAL_INTAKE, GOAL_SCALING = 0.40, 1.6
BACKENDS = ("sqlite", "postgres")


def _intake_round(round_no: int, pg: str, opts: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for processes in (1, 2):
        bare = None
        for target in ("bare", *BACKENDS):
            tag = f"r{round_no}-intake-{target}-{processes}p"
            db = None if target == "bare" else asyncio.run(Database.fresh(target, pg, opts["work"]))
            try:
                point = intake_point(target, db, processes, opts, tag)
            finally:
                if db is not None:
                    asyncio.run(db.drop())
            bare = point.rps if target == "bare" else bare
            row = {"round": round_no, "processes": processes, "target": target, **vars(point)}
            row["ratio"] = point.rps / bare if target != "bare" and bare else None
            rows.append(row)
    return rows


def _dispatch_round(round_no: int, pg: str, opts: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for backend in BACKENDS:
        for workers in (1, 2):
            db = asyncio.run(Database.fresh(backend, pg, opts["work"]))
            try:
                rate = dispatch_point(
                    db, workers, opts, f"r{round_no}-dispatch-{backend}-{workers}"
                )
            finally:
                asyncio.run(db.drop())
            rows.append({"round": round_no, "backend": backend, "workers": workers, "rate": rate})
    return rows


def _mean(values: list[float]) -> float | None:
    return statistics.mean(values) if values else None


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _intake_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for key in dict.fromkeys((r["processes"], r["target"]) for r in rows):
        group = [r for r in rows if (r["processes"], r["target"]) == key]
        ratios = [r["ratio"] for r in group if r["ratio"] is not None]
        lost = [r["lost"] for r in group if r["lost"] is not None]
        out.append({
            "processes": key[0], "target": key[1], "rps": _mean([r["rps"] for r in group]),
            "p50_ms": _mean([r["p50_ms"] for r in group]),
            "p99_ms": max(r["p99_ms"] for r in group), "ratio": _mean(ratios),
            "ratio_min": min(ratios) if ratios else None, "lost": sum(lost) if lost else None,
            "failures": sum(r["failures"] for r in group),
        })  # fmt: skip
    return out


def _dispatch_summary(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for backend in BACKENDS:
        one = [r["rate"] for r in rows if r["backend"] == backend and r["workers"] == 1]
        two = [r["rate"] for r in rows if r["backend"] == backend and r["workers"] == 2]
        scalings = [b / a for a, b in zip(one, two, strict=True)]  # per round
        out.append({
            "backend": backend, "one_worker": _mean(one), "two_workers": _mean(two),
            "scaling": _mean(scalings), "scaling_min": min(scalings) if scalings else None,
        })  # fmt: skip
    return out


def _tables(intake: list[dict[str, Any]], dispatch: list[dict[str, Any]], repeats: int) -> list:
    t1 = Table(title=f"Intake (mean of {repeats} round(s); p99 the worst)", title_justify="left")
    for name in ("processes", "target", "req/s", "p50 ms", "p99 ms", "ratio", "min", "lost"):
        t1.add_column(name, justify="left" if name == "target" else "right")
    for r in intake:
        t1.add_row(
            str(r["processes"]), r["target"], _fmt(r["rps"], ",.0f"), _fmt(r["p50_ms"], ".2f"),
            _fmt(r["p99_ms"], ".2f"), _fmt(r["ratio"], ".2f"), _fmt(r["ratio_min"], ".2f"),
            _fmt(r["lost"], "d"),
        )  # fmt: skip
    t2 = Table(title="Dispatch, deliveries/s (no-op ordered handler)", title_justify="left")
    for name in ("backend", "1 worker process", "2 worker processes", "scaling", "min"):
        t2.add_column(name, justify="left" if name == "backend" else "right")
    for r in dispatch:
        t2.add_row(
            r["backend"], _fmt(r["one_worker"], ",.0f"), _fmt(r["two_workers"], ",.0f"),
            _fmt(r["scaling"], ".2f"), _fmt(r["scaling_min"], ".2f"),
        )  # fmt: skip
    return [t1, t2]


def _goal(intake: list[dict[str, Any]], dispatch: list[dict[str, Any]]) -> dict[str, Any]:
    ratio = next(
        (r["ratio"] for r in intake if (r["processes"], r["target"]) == (1, "postgres")), None
    )
    scaling = next((r["scaling"] for r in dispatch if r["backend"] == "postgres"), None)
    return {
        "intake_ratio": ratio, "intake_goal": GOAL_INTAKE,
        "intake_met": ratio is not None and ratio >= GOAL_INTAKE,
        "dispatch_scaling": scaling, "dispatch_goal": GOAL_SCALING,
        "dispatch_met": scaling is not None and scaling >= GOAL_SCALING,
    }  # fmt: skip


@click.command()
@click.option(
    "--database-url", envvar="BENCH_DATABASE_URL", show_envvar=True, show_default=True,
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    help="A PostgreSQL server where this user may create a database.",
)  # fmt: skip
@click.option("--duration", default=8.0, show_default=True, help="Seconds per intake point.")
@click.option("--warmup", default=2.0, show_default=True, help="Seconds of warm-up per server.")
@click.option("--repeats", default=2, show_default=True, help="Rounds of every point.")
@click.option("--events", default=20_000, show_default=True, help="Dispatch backlog size.")
@click.option("--calls", default=500, show_default=True, help="Calls the backlog spreads over.")
@click.option("--timeout", default=300.0, show_default=True, help="Bound for one backlog.")
@click.option("--only", type=click.Choice(["intake", "dispatch"]), default=None)
@click.option("--pin/--no-pin", default=True, show_default=True, help="Pin one-process intake.")
@click.option("--wrk", "wrk_path", default=None, help="Path to wrk (default: found or installed).")
@click.option("--out", default=str(ROOT / ".bench" / "pg.json"), show_default=True)
def main(
    database_url, duration, warmup, repeats, events, calls, timeout, only, pin, wrk_path, out
) -> None:
    """Intake and dispatch on PostgreSQL beside SQLite."""
    out_path = Path(out)
    work = out_path.parent
    work.mkdir(parents=True, exist_ok=True)
    cpus = os.cpu_count() or 1
    pin = pin and cpus >= 2
    wrk = find_wrk(wrk_path) if only != "dispatch" else None
    opts = {
        "work": work, "duration": duration, "warmup": warmup, "events": events, "calls": calls,
        "timeout": timeout, "wrk": wrk, "payloads": work / "payloads.txt",
        "server_cpu": "0" if pin else None, "wrk_cpu": "1" if pin else None,
    }  # fmt: skip
    write_payloads(opts["payloads"])
    name = f"receiver_bench_{secrets.token_hex(4)}"
    asyncio.run(_pg(database_url, f'CREATE DATABASE "{name}"'))
    pg = with_database(database_url, name)
    console = Console()
    intake_rows: list[dict[str, Any]] = []
    dispatch_rows: list[dict[str, Any]] = []
    started = time.time()
    try:
        for round_no in range(1, repeats + 1):
            if only != "dispatch":
                console.print(f"round {round_no}: intake ...")
                intake_rows += _intake_round(round_no, pg, opts)
            if only != "intake":
                console.print(f"round {round_no}: dispatch ...")
                dispatch_rows += _dispatch_round(round_no, pg, opts)
    finally:
        asyncio.run(_pg(database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    intake, dispatch = _intake_summary(intake_rows), _dispatch_summary(dispatch_rows)
    for table in _tables(intake, dispatch, repeats):
        console.print(table)
    goal = _goal(intake, dispatch)
    console.print(
        f"goals on PostgreSQL: intake {_fmt(goal['intake_ratio'], '.2f')}x bare "
        f"(>= {GOAL_INTAKE}: {'met' if goal['intake_met'] else 'NOT met'}); dispatch scaling "
        f"{_fmt(goal['dispatch_scaling'], '.2f')}x (>= {GOAL_SCALING}: "
        f"{'met' if goal['dispatch_met'] else 'NOT met'})"
    )
    report = {
        "started_at": started,
        "command": " ".join([Path(sys.executable).name, "-m", "bench", "pg", *sys.argv[1:]]),
        "machine": {
            "cpus": cpus,
            "python": platform.python_version(),
            "wrk": wrk_version(wrk) if wrk else None,
        },
        "options": {k: str(v) for k, v in opts.items()} | {"repeats": repeats, "pinned": pin},
        "goal": goal,
        "intake_runs": intake_rows,
        "dispatch_runs": dispatch_rows,
        "intake": intake,
        "dispatch": dispatch,
    }
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out_path}")
    lost = sum(r["lost"] or 0 for r in intake_rows)
    if lost:
        raise click.ClickException(f"{lost} acknowledged events are missing from a store")
