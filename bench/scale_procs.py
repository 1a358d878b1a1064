"""``receiver serve`` and ``receiver worker`` against a backlog, for ``python -m bench scale``:
their peak memory while they work it, and intake's latency beside it.

Each is a real process (``python -m receiver``); its peak resident set is ``VmHWM`` of
``/proc/<pid>/status``, read just before it is stopped.
"""

from __future__ import annotations

import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from bench.pg_runs import ROOT, _env, _stop, _wait_ready
from bench.server import free_port
from bench.wrk import run_wrk

DEFAULT_HANDLERS = "handlers.log:router"
INTAKE_HANDLERS = "bench.scale_handlers:router"


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise click.ClickException(f"no VmHWM for process {pid}")


@dataclass
class Running:
    """A ``receiver`` process started by :func:`start`."""

    proc: subprocess.Popen
    port: int
    log: Path

    def stop(self) -> float:
        """Its peak RSS in MB; raises if it did not exit cleanly."""
        peak = peak_rss_mb(self.proc.pid)
        code = _stop(self.proc, signal.SIGTERM)
        if code != 0:
            raise click.ClickException(f"{self.log.stem} exited with {code}; see {self.log}")
        return peak


def start(
    command: str, url: str, handlers: str, log: Path, *, cpu: str | None = None, **env: str
) -> Running:
    """``receiver serve`` or ``receiver worker`` on ``url``, ready (its /healthz answers)."""
    port = free_port()
    cmd = [sys.executable, "-m", "receiver", command, "--port", str(port)]
    cmd = ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd
    environ = _env(RECEIVER_DATABASE_URL=url, RECEIVER_HANDLERS=handlers, **env)
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=environ, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    running = Running(proc, port, log)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/healthz", proc, log)
    except click.ClickException:
        _stop(proc, signal.SIGKILL)
        raise
    return running


def memory_point(command: str, url: str, seconds: float, log: Path) -> float:
    """Peak RSS (MB) of ``receiver <command>`` with the default handler, ``seconds`` at work."""
    running = start(command, url, DEFAULT_HANDLERS, log, RECEIVER_TOKENS=secrets.token_urlsafe(32))
    try:
        time.sleep(seconds)
    except BaseException:
        _stop(running.proc, signal.SIGKILL)
        raise
    return running.stop()


def intake_point(url: str, opts: dict[str, Any], tag: str) -> dict[str, float]:
    """wrk against ``receiver serve`` beside the backlog; its handler (a no-op) is not one of
    the backlog's, so the worker runs the new events only, whatever the backlog's size."""
    token = secrets.token_urlsafe(32)
    log = opts["work"] / f"scale-{tag}.log"
    running = start(
        "serve", url, INTAKE_HANDLERS, log, cpu=opts["server_cpu"], RECEIVER_TOKENS=token
    )
    try:
        target = f"http://127.0.0.1:{running.port}/webhooks/vocode/{token}"
        wrk = dict(payloads=opts["payloads"], workdir=opts["work"], cpu=opts["wrk_cpu"])
        run_wrk(
            opts["wrk"], target, connections=32, seconds=opts["warmup"], prefix=f"{tag}w", **wrk
        )
        point = run_wrk(
            opts["wrk"], target, connections=32, seconds=opts["duration"], prefix=tag, **wrk
        )
    except BaseException:
        _stop(running.proc, signal.SIGKILL)
        raise
    peak = running.stop()
    return {
        "intake_rps": point.rps, "intake_p50_ms": point.p50_ms, "intake_p99_ms": point.p99_ms,
        "intake_failures": point.failures, "intake_rss_mb": peak,
    }  # fmt: skip
