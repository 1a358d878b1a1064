"""``python -m bench stages``: where one event's CPU goes, stage by stage, in ``receiver serve``.

One ``receiver serve`` (SQLite FULL, the default handler) under wrk's load of real Vocode
bodies, sampled by py-spy while the Python lock is held (``--gil``): each sample is filed under
the stage of its innermost recognised frame. The stage's share of the samples, times the
process's CPU per event (read from ``/proc`` over the same run), is its µs per event. What
runs outside the Python lock (SQLite's own work once it has released it, system calls) is the
CPU the samples do not account for.

Example::

    python -m bench stages --duration 10 --level INFO
"""

from __future__ import annotations

import collections
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import click
import httpx
from rich.console import Console
from rich.table import Table

from bench import procstat
from bench.server import free_port
from bench.wrk import find_wrk, run_wrk, write_payloads

ROOT = Path(__file__).resolve().parent.parent
RATE = 250  # samples per second

# (stage, markers). A sample is filed by its innermost frame that names one of the receiver's
# stages (or the logging and metrics libraries, which are stages of their own); a sample with
# none is filed by its innermost library frame (HTTP, or the event loop).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("logs", ("structlog/", "receiver/logs.py", "receiver/redact.py")),
    ("metrics", ("prometheus_client/", "receiver/metrics.py")),
    ("HTTP (uvicorn, httptools, bounds, routing)",
     ("RequestResponseCycle.send", "bounded_http.py", "receiver/app.py")),
    ("finish (recorder, store)", ("delivery/recorder.py", "finish_many")),
    ("claim (store)", ("_claim", "claim (receiver/store", "store/rows.py")),
    ("write (events, deliveries, calls)", ("add_event", "store/sqlite/writer.py")),
    ("handler run (worker: validate, context, handler)", ("receiver/delivery/", "handlers/")),
    ("JSON, dedup key, id, headers (intake)",
     ("intake/dedup.py", "intake/limits.py", "intake/headers.py")),
    ("validation and dump (intake)", ("Intake._read",)),
    ("intake endpoint (the rest)", ("receiver/intake/",)),
]
LIBRARIES: list[tuple[str, tuple[str, ...]]] = [
    ("HTTP (uvicorn, httptools, bounds, routing)", ("uvicorn/", "httptools", "starlette/")),
    ("event loop and tasks", ("asyncio/", "uvloop", "receiver/loop.py", "concurrent/",
                              "threading.py")),
]


def classify(stack: list[str]) -> str:
    for stages in (STAGES, LIBRARIES):
        for frame in reversed(stack):
            for stage, markers in stages:
                if any(marker in frame for marker in markers):
                    return stage
    return "other"


def read_samples(path: Path) -> tuple[collections.Counter[str], int]:
    """py-spy's raw (collapsed) output, ``frame;frame;... count`` lines: the samples by stage
    (start-up left out), and every sample."""
    counts: collections.Counter[str] = collections.Counter()
    every = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        every += int(n)
        if any("_find_and_load" in f or "freeze_startup_heap" in f for f in frames):
            continue  # start-up
        counts[classify(frames)] += int(n)
    return counts, every


@click.command()
@click.option("--duration", default=10, show_default=True, help="Seconds of load (whole).")
@click.option("--connections", default=32, show_default=True)
@click.option("--level", default="WARNING", show_default=True, help="RECEIVER_LOG_LEVEL.")
@click.option("--wrk", "wrk_path", default=None, help="Path to wrk (default: found or installed).")
def main(duration: int, connections: int, level: str, wrk_path: str | None) -> None:
    """Where one event's CPU goes in `receiver serve`, stage by stage (py-spy, --gil)."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        raise click.ClickException("py-spy is not installed: make install (the bench extra)")
    wrk = find_wrk(wrk_path)
    work = Path(tempfile.mkdtemp(prefix="bench-stages-"))
    payloads = work / "payloads.txt"
    write_payloads(payloads)
    token, port = secrets.token_urlsafe(32), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        RECEIVER_TOKENS=token, RECEIVER_DATABASE_URL=f"sqlite:///{work / 'r.db'}",
        RECEIVER_LOG_LEVEL=level, RECEIVER_LOG_FORMAT="json", RECEIVER_PORT=str(port),
    )  # fmt: skip
    samples = work / "samples.txt"
    receiver = [str(Path(sys.executable).parent / "receiver"), "serve"]
    cmd = [spy, "record", "--gil", "--rate", str(RATE), "--format", "raw", "-o", str(samples)]
    with (work / "serve.log").open("wb") as log:
        spy_proc = subprocess.Popen([*cmd, "--", *receiver], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or spy_proc.poll() is not None:
                raise click.ClickException(f"serve did not start: {work / 'serve.log'}")
            time.sleep(0.1)
        serve = _child(spy_proc.pid)
        cpu_before = procstat.cpu_seconds(serve)
        point = run_wrk(
            wrk, f"{base}/webhooks/vocode/{token}", connections=connections, seconds=duration,
            prefix=f"s{int(time.time())}", payloads=payloads, workdir=work, cpu=None,
        )  # fmt: skip
        time.sleep(2)  # the handlers drain (a few hundred ms at most)
        life = procstat.cpu_seconds(serve)  # the span py-spy sampled, near enough
        cpu = life - cpu_before
    finally:
        _stop(spy_proc)
    counts, every = read_samples(samples)
    held = every / RATE / life if life else 0.0  # the share of its CPU spent holding the lock
    _print(counts, held, cpu, point.accepted, level, point.rps)


def _child(pid: int) -> int:
    for _ in range(100):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise click.ClickException("py-spy did not start serve")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        serve = _child(proc.pid)
        os.kill(serve, signal.SIGTERM)
    except (click.ClickException, ProcessLookupError, FileNotFoundError):
        pass
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _print(
    counts: collections.Counter[str], held: float, cpu: float, events: int, level: str, rps: float
) -> None:
    total = sum(counts.values())
    per_event = cpu / events * 1e6 if events else 0.0
    table = Table(
        title=f"receiver serve, SQLite FULL, logs {level}: {events:,} events at {rps:,.0f}/s, "
        f"{per_event:,.0f} µs of CPU per event",
        title_justify="left",
    )
    for name in ("stage", "share of samples", "µs / event"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    for stage, n in counts.most_common():
        share = n / total
        table.add_row(stage, f"{share:.1%}", f"{share * min(held, 1.0) * per_event:,.0f}")
    outside = max(0.0, 1.0 - held) * per_event
    table.add_row("outside the Python lock (SQLite, system calls)", "—", f"{outside:,.0f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
