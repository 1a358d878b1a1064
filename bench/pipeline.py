"""Pipeline benchmark: webhooks in, handlers run, for the receiver's layouts and its peers.

    python -m bench pipeline                      # or: make bench (~15 minutes)
    python -m bench pipeline --targets receiver,arq --duration 3 --rounds 1

Every target takes the same load: wrk posting the real Vocode sample bodies (92 to 1,986
bytes), each request a new event, at each number of connections; rounds interleave the
targets (round 1: every target at each number of connections, then round 2). Each point
starts its stack fresh, warms it up (--warmup seconds of load, then drained), loads it for
--duration seconds and waits until every acknowledged event is handled (at most
--drain-timeout seconds).

Per point: ack req/s, p50/p99 latency (wrk); e2e events/s (acknowledged events over the time
from the start of the load to the last of them handled); the backlog when the load ended
(acknowledged, not yet handled) and any left when the drain timed out; CPU µs per event (user
+ system of every process of the stack, children, redis-server and PostgreSQL's processes
included, from the start of the load until drained, over acknowledged events); peak memory
(VmHWM summed over the processes the benchmark started); whether an acknowledged event
survives a power loss, as the store is configured.

Targets: ``bare`` (bare Starlette answering 202), ``receiver`` (``receiver serve``, SQLite
FULL, the default handler, logs at WARNING), ``receiver-info`` (logs at INFO),
``receiver+worker`` (with a ``receiver worker`` process on the same file), ``receiver-pg``
(serve and a worker on PostgreSQL: a fresh database, dropped afterwards), ``arq`` and
``celery`` (FastAPI + a Redis job queue: bench/peers/).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from bench.pipeline_report import ratios, summary, table
from bench.pipeline_targets import TARGETS, Stack, Target, at_revision, started
from bench.wrk import Point, find_wrk, run_wrk, write_payloads, wrk_version

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Row:
    """One point: a target at a number of connections, in one round."""

    round: int
    target: str
    connections: int
    ack_rps: float
    p50_ms: float
    p99_ms: float
    acked: int
    failures: int
    e2e_rps: float | None  # acked events / (last handled - load start)
    backlog_at_end: int | None  # acked but not handled when the load ended
    left: int | None  # acked but not handled when the drain gave up (0: drained)
    cpu_us: float  # the stack's CPU per acked event, load start until drained
    peak_mb: float
    durable: str
    busy_cores: float = 0.0  # the whole machine's busy CPUs while wrk ran (/proc/stat)
    wrk_cores: float = 0.0  # what wrk itself used of them


@dataclass
class Drain:
    handled: int  # since the load started
    last: float  # when the last of them was handled (time.time())


def _drain(stack: Stack, base: int, expected: int, timeout: float) -> Drain:
    """Wait until ``expected`` events past ``base`` are handled, or ``timeout`` passes."""
    assert stack.handled is not None
    deadline = time.time() + timeout
    while True:
        count, last = stack.handled()
        now = time.time()
        if count - base >= expected or now > deadline:
            return Drain(count - base, last if last is not None else now)
        time.sleep(0.05)


def _load(stack: Stack, connections: int, seconds: float, tag: str, opts: dict) -> Point:
    return run_wrk(
        opts["wrk"], stack.url, connections=connections, seconds=seconds, prefix=tag,
        payloads=opts["payloads"], workdir=opts["work"], cpu=None,
    )  # fmt: skip


def measure(target: Target, connections: int, round_no: int, opts: dict) -> Row:
    """Start ``target``, warm it up, load it, wait for its handlers, stop it."""
    tag = f"r{round_no}-{target.name}-c{connections}"
    with started(target, opts, tag) as stack:
        if opts["warmup"] > 0:
            warm = _load(stack, connections, opts["warmup"], tag + "-warm", opts)
            if stack.handled is not None:
                _drain(stack, 0, warm.accepted, opts["drain_timeout"])
        base = stack.handled()[0] if stack.handled else 0
        cpu_before = stack.cpu_seconds()
        start = time.time()
        busy, wrk_cpu, began = _machine_busy(), _children_cpu(), time.monotonic()
        point = _load(stack, connections, opts["duration"], tag, opts)
        span = time.monotonic() - began  # wrk's start and its report included, as in the CPU
        busy = (_machine_busy() - busy) / span
        wrk_cores = (_children_cpu() - wrk_cpu) / span
        e2e = backlog = left = None
        if stack.handled is not None:
            # requests in flight when wrk stops are stored and handled but not counted as
            # acknowledged: backlog and left are low by at most the number of connections
            backlog = max(0, point.accepted - (stack.handled()[0] - base))
            drain = _drain(stack, base, point.accepted, opts["drain_timeout"])
            handled = min(drain.handled, point.accepted)
            e2e = handled / (drain.last - start) if handled else 0.0
            left = point.accepted - handled
        cpu = stack.cpu_seconds() - cpu_before
        peak = stack.peak_rss_bytes()
    return Row(
        round_no, target.name, connections, point.rps, point.p50_ms, point.p99_ms,
        point.accepted, point.failures, e2e, backlog, left,
        cpu / point.accepted * 1e6 if point.accepted else 0.0, peak / 2**20, stack.durable,
        busy, wrk_cores,
    )  # fmt: skip


def _machine_busy() -> float:
    """CPU seconds every CPU of the machine has spent not idle (nor waiting for I/O)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (wrk, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _targets(names: str) -> list[Target]:
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = sorted(set(chosen) - set(TARGETS))
    if unknown:
        raise click.BadParameter(f"unknown {unknown}; use {list(TARGETS)}", param_hint="--targets")
    return [TARGETS[n] for n in chosen]


@click.command()
@click.option(
    "--duration",
    default=8,
    type=click.IntRange(min=1),
    show_default=True,
    help="Seconds of load per point (whole seconds: wrk's unit).",
)
@click.option(
    "--warmup",
    default=1,
    type=click.IntRange(min=0),
    show_default=True,
    help="Seconds of warm-up per point (0: none).",
)
@click.option("--connections", default="32,128", show_default=True, help="Comma-separated.")
@click.option("--rounds", default=2, show_default=True, help="Every point this often.")
@click.option(
    "--targets", default=",".join(TARGETS), show_default=True, help="Comma-separated subset."
)
@click.option(
    "--drain-timeout",
    default=60.0,
    show_default=True,
    help="Seconds to wait for the handlers after the load.",
)
@click.option(
    "--database-url",
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="PostgreSQL server for receiver-pg (a fresh database is created there and dropped).",
)
@click.option(
    "--redis-url",
    default="redis://127.0.0.1:6379/15",
    show_default=True,
    help="Redis database of the peers (flushed before and after each point).",
)
@click.option(
    "--revision",
    "revisions",
    multiple=True,
    help="Also run the chosen one-process receiver targets with this git revision's code "
    "(e.g. HEAD~3), in the same rounds: the figures before a change.",
)
@click.option("--json", "json_path", default=None, help="Also write every figure to this file.")
@click.option("--wrk", "wrk_path", default=None, help="Path to wrk (default: found or installed).")
def main(
    duration: int, warmup: int, connections: str, rounds: int, targets: str,
    drain_timeout: float, database_url: str, redis_url: str, revisions: tuple[str, ...],
    json_path: str | None, wrk_path: str | None,
) -> None:  # fmt: skip
    """Ack rate, latency and end-to-end handling: the receiver's layouts against its peers."""
    chosen = _targets(targets)
    wrk = find_wrk(wrk_path)
    work = ROOT / ".bench" / "pipeline"
    work.mkdir(parents=True, exist_ok=True)
    chosen += [
        at_revision(target, revision, work)
        for revision in revisions
        for target in list(chosen)
        if target.kind == "receiver" and target.serves == 1 and not target.serve_args
    ]
    payloads = work / "payloads.txt"
    kinds = write_payloads(payloads)
    opts: dict[str, Any] = {
        "wrk": wrk, "work": work, "payloads": payloads, "duration": duration, "warmup": warmup,
        "drain_timeout": drain_timeout, "database_url": database_url, "redis_url": redis_url,
    }  # fmt: skip
    counts = [int(c) for c in connections.split(",")]
    console = Console(width=max(Console().width, 180))
    load = os.getloadavg()
    console.print(
        f"{wrk_version(wrk)}; {kinds} payload types, a new event per request; {warmup:g}s "
        f"warm-up, {duration:g}s per point, {rounds} round(s); load average {load[0]:.2f} "
        f"on {os.cpu_count()} CPUs; logs in {work}"
    )
    rows: list[Row] = []
    started_at = time.time()
    for round_no in range(1, rounds + 1):
        for target in chosen:
            for c in counts:
                console.print(f"round {round_no}: {target.name} at {c} connections ...")
                rows.append(measure(target, c, round_no, opts))
    runs = [asdict(r) for r in rows]
    means = summary(runs)
    if rounds > 1:
        console.print(table("Every point", runs, "round"))
    console.print(table(f"Mean of {rounds} round(s); p99 and backlog the worst", means, "rounds"))
    found = ratios(means)
    for line in found["lines"]:
        console.print(line)
    if json_path:
        report = {
            "command": " ".join(["python -m bench pipeline", *sys.argv[2:]]),
            "started_at": started_at,
            "seconds": time.time() - started_at,
            "machine": {
                "cpus": os.cpu_count(), "load_average_at_start": load,
                "load_average_at_end": os.getloadavg(),
                "python": platform.python_version(), "wrk": wrk_version(wrk),
            },
            "options": {k: v for k, v in opts.items() if k not in ("work", "payloads")},
            "runs": runs, "summary": means, "ratios": found["values"],
        }  # fmt: skip
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        console.print(f"wrote {json_path}")
