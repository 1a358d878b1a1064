"""Find (or install) wrk, prepare the payloads, run one load point and read its results."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import click

SCRIPT = Path(__file__).with_name("intake.lua")
_SENTINEL = "@@CALL_ID@@"


def find_wrk(explicit: str | None) -> str:
    """The wrk binary; installed with apt-get (Debian's ``wrk`` package) when missing."""
    if explicit:
        return explicit
    found = shutil.which("wrk")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        click.echo("wrk not found: installing Debian's wrk package with apt-get", err=True)
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "wrk"]):
            if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
                break
        found = shutil.which("wrk")
        if found:
            return found
    raise click.ClickException(
        "the benchmark needs wrk, and it could not be installed here: "
        "`apt-get install wrk` (Debian, Ubuntu), `brew install wrk` (macOS), "
        "or pass --wrk /path/to/wrk"
    )


def wrk_version(wrk: str) -> str:
    run = subprocess.run([wrk, "--version"], capture_output=True, text=True)
    return (run.stdout or run.stderr).splitlines()[0].strip() if (run.stdout or run.stderr) else "?"


def write_payloads(target: Path) -> int:
    """Every sample event, compact, split around its call_id: ``<before>\\t<after>`` lines."""
    samples = resources.files("receiver") / "samples"
    lines = []
    for entry in sorted(samples.iterdir(), key=lambda e: e.name):
        if not (entry.name.startswith("event_") and entry.name.endswith(".json")):
            continue
        data = json.loads(entry.read_text())
        data["call_id"] = _SENTINEL
        before, after = json.dumps(data, separators=(",", ":")).split(f'"{_SENTINEL}"')
        lines.append(f'{before}"\t"{after}')
    target.write_text("\n".join(lines) + "\n")
    return len(lines)


@dataclass(frozen=True)
class Point:
    """What wrk measured at one number of connections."""

    requests: int
    seconds: float
    statuses: dict[int, int]
    errors: dict[str, int]
    p50_ms: float
    p99_ms: float
    max_ms: float
    ids: list[str]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def accepted(self) -> int:
        return self.statuses.get(202, 0)

    @property
    def failures(self) -> int:
        return sum(self.errors.values()) + sum(
            n for status, n in self.statuses.items() if status != 202
        )


def run_wrk(
    wrk: str,
    url: str,
    *,
    connections: int,
    seconds: float,
    prefix: str,
    payloads: Path,
    workdir: Path,
    cpu: str | None,
) -> Point:
    """One wrk run (one thread) of ``seconds``, every request a new event."""
    ids_file, result_file = workdir / f"{prefix}.ids", workdir / f"{prefix}.json"
    path = "/" + url.split("/", 3)[3]
    env = dict(
        os.environ,
        BENCH_PATH=path,
        BENCH_PAYLOADS=str(payloads),
        BENCH_PREFIX=prefix,
        BENCH_IDS=str(ids_file),
        BENCH_RESULT=str(result_file),
    )
    cmd = [wrk, "-t1", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
    cmd += ["-s", str(SCRIPT), url]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu, *cmd]
    run = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if run.returncode != 0 or not result_file.exists():
        raise click.ClickException(f"wrk failed ({run.returncode}): {run.stderr or run.stdout}")
    data = json.loads(result_file.read_text())
    ids = ids_file.read_text().split()
    ids_file.unlink()
    result_file.unlink()
    latency = data["latency_us"]
    return Point(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        statuses={int(k): v for k, v in data["statuses"].items()},
        errors=data["errors"],
        p50_ms=latency["p50"] / 1000,
        p99_ms=latency["p99"] / 1000,
        max_ms=latency["max"] / 1000,
        ids=ids,
    )
