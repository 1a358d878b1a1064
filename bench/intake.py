"""Intake benchmark: the receiver's webhook endpoint on SQLite against a bare Starlette app.

Both run under uvicorn (uvloop, httptools, one process) as real subprocesses, loaded by the
same wrk with the same script: real Vocode payloads (the eight sample events in turn), each
request with a call_id never sent before, so every request is a new event to store. Rounds
interleave the targets, and each ratio compares points of the same round. At the end of each
receiver run the server is stopped and its SQLite file opened: every id answered 202 must be
in it (``lost`` counts those that are not, and must be 0).

Targets: ``bare`` (the baseline), ``full`` (the receiver as configured by default: tokens,
synchronous=FULL, the default handler so each event also gets a delivery row, JSON logs at
INFO with one line per request), ``normal`` (the same with synchronous=NORMAL) and ``quiet``
(FULL with RECEIVER_LOG_LEVEL=WARNING: what the per-request log line costs) and ``bounded``
(FULL served as ``receiver serve`` serves it, held to the HTTP bounds; the others run under
plain ``uvicorn``). ``--baseline REV`` adds FULL with the code of a git revision, so that a
change is measured against what it changes in the same rounds. The receiver runs
without its worker, as when workers run in ``receiver worker`` processes. ``nowrite`` is a
diagnostic, not in the default set: ``quiet`` without the store's write (nothing is stored, so
``lost`` is not counted), which shows what the write costs. ``console`` is ``full`` with the
operator console on and a client reading its live tail (Server-Sent Events) for the whole
run: run it with ``full`` (``--targets full,console``) to compare them round by round.

    python -m bench intake              # or python -m bench (2 rounds of 4 targets, ~4 minutes)
    python -m bench --duration 5 --repeats 1 --targets bare,full
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from bench.intake_targets import CONSOLE_TOKEN, TARGETS, Target, baseline_target
from bench.server import Server
from bench.wrk import Point, find_wrk, run_wrk, write_payloads, wrk_version

ROOT = Path(__file__).resolve().parent.parent
GOAL_RATIO, GOAL_P99_MS, GOAL_CONNECTIONS, GOAL_TARGET = 0.40, 25.0, 32, "receiver FULL"
CONSOLE_BUDGET = 0.95  # a console open on the live tail: at least 95 % of FULL's requests/s


@dataclass
class Row:
    round: int
    target: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_us: float | None  # server CPU (user + system) per request
    acknowledged: int  # answered 202
    failures: int  # other answers, socket errors and timeouts
    lost: int | None = None  # acknowledged but not in the store
    stored: int | None = None  # rows in the store after the server stopped (all its runs)
    ratio: float | None = None  # rps / bare rps, same round and connections
    vs_full: float | None = None  # rps / receiver FULL rps, same round and connections
    tail: dict[str, int] | None = None  # what the open console's tail received (all points)


def _stored_ids(db: Path) -> set[str]:
    conn = sqlite3.connect(db)
    try:
        return {row[0] for row in conn.execute("SELECT id FROM events")}
    finally:
        conn.close()


def _run_target(target: Target, round_no: int, opts: dict[str, Any]) -> list[Row]:
    """Start the server, warm it up, load it at each number of connections, stop, check."""
    work: Path = opts["work"]
    token = secrets.token_urlsafe(32)
    db = work / f"intake-{round_no}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    env = {
        "RECEIVER_TOKENS": token,
        "RECEIVER_DATABASE_URL": f"sqlite:///{db}",
        "RECEIVER_LOG_FORMAT": "json",
        **target.env,
    }
    log = work / f"server-{round_no}-{target.name.split(',')[0].replace(' ', '-')}.log"
    server = Server(
        target.app, factory=target.receiver, env=env, log=log, cpu=opts["server_cpu"],
        bounded=target.bounded,
    )  # fmt: skip
    url = f"{server.base_url}/webhooks/vocode/{token}"
    run_id = f"r{round_no}{secrets.token_hex(4)}"

    def load(connections: int, seconds: float, tag: str) -> Point:
        return run_wrk(
            opts["wrk"], url, connections=connections, seconds=seconds,
            prefix=f"{run_id}{tag}", payloads=opts["payloads"], workdir=work,
            cpu=opts["wrk_cpu"],
        )  # fmt: skip

    points: list[tuple[int, Point, float | None]] = []
    tail: subprocess.Popen[str] | None = None
    seen = None
    try:
        server.wait_ready()
        if target.tail:
            tail = _open_tail(server.base_url, opts["wrk_cpu"])
        load(GOAL_CONNECTIONS, opts["warmup"], "w")
        for connections in opts["connections"]:
            before = server.cpu_seconds()
            point = load(connections, opts["duration"], f"c{connections}")
            after = server.cpu_seconds()
            cpu = None if before is None or after is None else after - before
            points.append((connections, point, cpu))
    finally:
        if tail is not None:
            seen = _close_tail(tail)
        code = server.stop()
    if code != 0:
        raise click.ClickException(f"{target.name} exited with {code}; see {log}")
    stored = _stored_ids(db) if target.receiver and target.stores else None
    rows = []
    for connections, point, cpu in points:
        row = Row(
            round_no, target.name, connections, point.rps, point.p50_ms, point.p99_ms,
            point.max_ms, cpu / point.requests * 1e6 if cpu and point.requests else None,
            point.accepted, point.failures,
        )  # fmt: skip
        if stored is not None:
            row.lost = sum(1 for i in point.ids if i not in stored)
            row.stored = len(stored)
        row.tail = seen
        rows.append(row)
    return rows


def _open_tail(url: str, cpu: str | None) -> subprocess.Popen[str]:
    """A console on the live tail (a client process on wrk's CPU: the browser's cost is not
    the server's), connected before the load starts."""
    cmd = [sys.executable, "-m", "bench.tail_client", url, CONSOLE_TOKEN]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    tail = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    time.sleep(1.0)  # connected (it reads from the newest event on)
    if tail.poll() is not None:
        raise click.ClickException("the console tail client could not connect")
    return tail


def _close_tail(tail: subprocess.Popen[str]) -> dict[str, int]:
    tail.terminate()
    out, _ = tail.communicate(timeout=30)
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}


def _ratios(rows: list[Row]) -> None:
    bare = {(r.round, r.connections): r.rps for r in rows if r.target == "bare"}
    full = {(r.round, r.connections): r.rps for r in rows if r.target == GOAL_TARGET}
    for row in rows:
        if base := bare.get((row.round, row.connections)):
            row.ratio = row.rps / base
        if row.target != GOAL_TARGET and (closed := full.get((row.round, row.connections))):
            row.vs_full = row.rps / closed


def _console_line(rows: list[Row]) -> str | None:
    """The console's cost: its rounds' requests/s over FULL's in the same round."""
    paired = [r for r in rows if r.target == TARGETS["console"].name and r.vs_full is not None]
    if not paired:
        return None
    by_conns = {}
    for connections in dict.fromkeys(r.connections for r in paired):
        ratios = [r.vs_full for r in paired if r.connections == connections and r.vs_full]
        by_conns[connections] = (statistics.mean(ratios), min(ratios), max(ratios), len(ratios))
    parts = [f"{c} conns: {m:.3f} (rounds {lo:.3f} to {hi:.3f}, n={n})"
             for c, (m, lo, hi, n) in by_conns.items()]  # fmt: skip
    worst = min(m for m, _, _, _ in by_conns.values())
    verdict = "within" if worst >= CONSOLE_BUDGET else "NOT within"
    return (f"console tail open / closed, requests/s in the same round: {'; '.join(parts)} — "
            f"{verdict} the 5 % budget")  # fmt: skip


def _summary(rows: list[Row]) -> list[dict[str, Any]]:
    """Per target and number of connections: means over rounds, the worst p99, lost summed."""
    out = []
    for target, connections in dict.fromkeys((r.target, r.connections) for r in rows):
        group = [r for r in rows if (r.target, r.connections) == (target, connections)]
        ratios = [r.ratio for r in group if r.ratio is not None]
        cpus = [r.cpu_us for r in group if r.cpu_us is not None]
        lost = [r.lost for r in group if r.lost is not None]
        out.append({
            "target": target,
            "connections": connections,
            "rounds": len(group),
            "rps": statistics.mean(r.rps for r in group),
            "p50_ms": statistics.mean(r.p50_ms for r in group),
            "p99_ms": max(r.p99_ms for r in group),
            "cpu_us": statistics.mean(cpus) if cpus else None,
            "ratio": statistics.mean(ratios) if ratios else None,
            "ratio_min": min(ratios) if ratios else None,
            "ratio_max": max(ratios) if ratios else None,
            "lost": sum(lost) if lost else None,
            "failures": sum(r.failures for r in group),
        })  # fmt: skip
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _table(title: str, rows: list[dict[str, Any]], first: str) -> Table:
    table = Table(title=title, title_justify="left")
    columns = (first, "target", "conns", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "ratio")
    for name in (*columns, "lost", "errors"):
        table.add_column(name, justify="left" if name == "target" else "right")
    for r in rows:
        table.add_row(
            str(r[first]), r["target"], str(r["connections"]), _fmt(r["rps"], ",.0f"),
            _fmt(r["p50_ms"], ".1f"), _fmt(r["p99_ms"], ".1f"), _fmt(r["cpu_us"], ".0f"),
            _fmt(r["ratio"], ".2f"), _fmt(r["lost"], "d"), str(r["failures"]),
        )  # fmt: skip
    return table


def _goal(summary: list[dict[str, Any]]) -> tuple[bool | None, str]:
    found = [
        s for s in summary if s["target"] == GOAL_TARGET and s["connections"] == GOAL_CONNECTIONS
    ]
    if not found or found[0]["ratio"] is None:
        return None, "goal: not measured (needs bare and full at 32 connections)"
    g = found[0]
    met = (
        g["ratio"] >= GOAL_RATIO and g["p99_ms"] <= GOAL_P99_MS and g["lost"] == 0
        and g["failures"] == 0
    )  # fmt: skip
    return met, (
        f"goal at {GOAL_CONNECTIONS} connections, {GOAL_TARGET}: ratio {g['ratio']:.2f} "
        f"(≥ {GOAL_RATIO}), worst p99 {g['p99_ms']:.1f} ms (≤ {GOAL_P99_MS:g}), "
        f"lost {g['lost']} (= 0): {'met' if met else 'NOT met'}"
    )


@click.command()
@click.option("--duration", default=10.0, show_default=True, help="Seconds per point.")
@click.option("--warmup", default=3.0, show_default=True, help="Seconds of warm-up per server.")
@click.option("--repeats", default=2, show_default=True, help="Rounds (every point this often).")
@click.option("--connections", default="32,128", show_default=True, help="Points, comma-separated.")
@click.option(
    "--targets", default="bare,full,normal,quiet", show_default=True,
    help="Comma-separated: bare, full, normal, quiet, bounded (as receiver serve serves, "
    "with the HTTP bounds), console (full with a console on the live tail), nowrite (a "
    "diagnostic).",
)
@click.option(
    "--baseline", default=None, metavar="REVISION",
    help="Also run `full` with the code of this git revision (e.g. main), in the same rounds.",
)
@click.option(
    "--pin/--no-pin", default=True, show_default=True,
    help="Pin the server to CPU 0 and wrk to CPU 1 (taskset).",
)
@click.option("--wrk", "wrk_path", default=None, help="Path to wrk (default: found or installed).")
@click.option(
    "--out", default=str(ROOT / ".bench" / "intake.json"), show_default=True,
    help="Where to write the results as JSON.",
)  # fmt: skip
def main(
    duration: float, warmup: float, repeats: int, connections: str, targets: str, pin: bool,
    wrk_path: str | None, out: str, baseline: str | None,
) -> None:  # fmt: skip
    """Intake throughput and latency: bare Starlette vs the receiver on SQLite."""
    unknown = set(targets.split(",")) - set(TARGETS)
    if unknown:
        raise click.BadParameter(f"unknown {sorted(unknown)}; use {list(TARGETS)}", "--targets")
    wrk = find_wrk(wrk_path)
    out_path = Path(out)
    work = out_path.parent
    work.mkdir(parents=True, exist_ok=True)
    payloads = work / "payloads.txt"
    kinds = write_payloads(payloads)
    pin = pin and (os.cpu_count() or 1) >= 2
    opts = {
        "wrk": wrk,
        "work": work,
        "payloads": payloads,
        "duration": duration,
        "warmup": warmup,
        "connections": [int(c) for c in connections.split(",")],
        "server_cpu": "0" if pin else None,
        "wrk_cpu": "1" if pin else None,
    }
    chosen = [TARGETS[name] for name in targets.split(",")]
    if baseline:
        chosen.append(baseline_target(baseline, work))
    console = Console(width=max(Console().width, 110))
    load = os.getloadavg()
    console.print(
        f"{wrk_version(wrk)}; {kinds} payload types, a new call_id per request; "
        f"{'server on CPU 0, wrk on CPU 1' if pin else 'no CPU pinning'}; "
        f"{warmup:g}s warm-up, {duration:g}s per point, {repeats} round(s); "
        f"load average {load[0]:.2f} on {os.cpu_count()} CPUs"
    )
    rows: list[Row] = []
    started = time.time()
    for round_no in range(1, repeats + 1):
        for target in chosen:
            console.print(f"round {round_no}: {target.name} ...")
            rows.extend(_run_target(target, round_no, opts))
    _ratios(rows)
    runs = [asdict(r) for r in rows]
    summary = _summary(rows)
    console.print(_table("Every run", runs, "round"))
    console.print(
        _table(
            f"Summary: mean of {repeats} round(s), p99 the worst",
            [{**s, "n": s["rounds"]} for s in summary],
            "n",
        )
    )
    met, line = _goal(summary)
    console.print(line)
    if console_line := _console_line(rows):
        console.print(console_line)
    report = {
        "started_at": started,
        "seconds": time.time() - started,
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_at_start": load,
            "python": platform.python_version(),
            "wrk": wrk_version(wrk),
        },
        "options": {k: v for k, v in opts.items() if k not in ("work", "payloads")},
        "goal": {
            "target": GOAL_TARGET,
            "connections": GOAL_CONNECTIONS,
            "ratio": GOAL_RATIO,
            "p99_ms": GOAL_P99_MS,
            "met": met,
        },
        "runs": runs,
        "summary": summary,
    }
    out_path.write_text(json.dumps(report, indent=2) + "\n")
    console.print(f"wrote {out_path}")
    lost = sum(r.lost or 0 for r in rows)
    if lost:
        raise click.ClickException(f"{lost} acknowledged events are missing from the store")
