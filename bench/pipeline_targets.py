"""The stacks ``python -m bench pipeline`` compares: what runs, and how to start and read each.

A stack is started fresh for every point (a new SQLite file, PostgreSQL database or flushed
Redis database) and stopped after it. ``Stack.handled()`` reads how many events its handlers
have finished and, where the store says, when the last one finished.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import click
import httpx

from bench import procstat
from bench.revisions import checkout
from bench.server import free_port

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WEBHOOK = "/webhooks/vocode/{token}"


@dataclass(frozen=True)
class Target:
    """One layout. ``kind``: bare, receiver, arq or celery; for the receiver, ``serves`` is
    how many ``receiver serve`` processes share the port (``--reuse-port`` when more than
    one), ``workers`` how many ``receiver worker`` processes run beside them, and
    ``serve_args`` what else serve is given (``--intake-only``: no workers in serve)."""

    name: str
    kind: str
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 0
    postgres: bool = False
    serve_args: tuple[str, ...] = ()
    serves: int = 1
    code: Path | None = None  # another revision's receiver (first on PYTHONPATH): a baseline


def at_revision(target: Target, revision: str, work: Path) -> Target:
    """``target`` run with the receiver (and default handler) of ``revision``, from ``git
    archive``: the figures before a change, measured in the same rounds as after it."""
    where = checkout(revision, work / f"code-{revision.replace('/', '_')}", "receiver", "handlers")
    return replace(target, name=f"{target.name}@{revision}", code=where)


QUIET = {"RECEIVER_LOG_LEVEL": "WARNING"}
INTAKE = ("--intake-only",)
TARGETS = {
    t.name: t
    for t in (
        Target("bare", "bare"),
        Target("receiver", "receiver", QUIET),
        Target("receiver-info", "receiver", {"RECEIVER_LOG_LEVEL": "INFO"}),
        Target("receiver+worker", "receiver", QUIET, workers=1),
        Target("intake+worker", "receiver", QUIET, workers=1, serve_args=INTAKE),
        Target("2serve", "receiver", QUIET, serves=2),
        Target("2intake+worker", "receiver", QUIET, workers=1, serve_args=INTAKE, serves=2),
        Target("receiver-pg", "receiver", QUIET, workers=1, postgres=True),
        Target("pg-1", "receiver", QUIET, postgres=True),
        Target("pg-intake+worker", "receiver", QUIET, 1, True, INTAKE),
        Target("pg-2serve", "receiver", QUIET, postgres=True, serves=2),
        Target("pg-2intake+worker", "receiver", QUIET, 1, True, INTAKE, serves=2),
        Target("arq", "arq"),
        Target("celery", "celery"),
    )
}


@dataclass
class Stack:
    """A started stack: where to post, and what to read while it runs."""

    url: str
    own: list[int]  # pids of the processes the benchmark started
    shared: list[int] = field(default_factory=list)  # redis-server, the postmaster
    durable: str = "—"
    handled: Callable[[], tuple[int, float | None]] | None = None
    reader_cpu: Callable[[], float] = lambda: 0.0  # the benchmark's own PostgreSQL backend

    def cpu_seconds(self) -> float:
        """CPU of every process of the stack so far, the benchmark's reader left out."""
        return procstat.tree_cpu_seconds(self.own + self.shared) - self.reader_cpu()

    def peak_rss_bytes(self) -> int:
        return procstat.peak_rss_bytes(self.own)


@contextmanager
def started(target: Target, opts: dict, tag: str) -> Iterator[Stack]:
    """``target`` running (ready for load) for the ``with`` block, then stopped."""
    start = {"bare": _bare, "receiver": _receiver, "arq": _arq, "celery": _celery}
    with ExitStack() as stores:  # closed after the processes have stopped
        procs = Processes(opts["work"], tag)
        try:
            yield start[target.kind](target, opts, procs, stores)
            procs.check_running()
        finally:
            procs.stop()


class Processes:
    """The processes of one stack, each in its own session, its output in its own file."""

    def __init__(self, work: Path, tag: str) -> None:
        self.work, self.tag = work, tag
        self.procs: list[tuple[subprocess.Popen[bytes], IO[bytes]]] = []

    def spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.work / f"{self.tag}-{name}.log").open("wb")
        proc = subprocess.Popen(
            cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.procs.append((proc, log))
        return proc

    def log(self, proc: subprocess.Popen[bytes]) -> str:
        return next(str(log.name) for p, log in self.procs if p is proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p, _ in self.procs]

    def check_running(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is not None:
                raise click.ClickException(f"exited with {proc.returncode}; see {log.name}")

    def stop(self) -> None:
        """SIGTERM (every one shuts down gracefully on it), then SIGKILL to the session."""
        for proc, _ in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, log in reversed(self.procs):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def wait_http(url: str, proc: subprocess.Popen[bytes], log: str, timeout: float = 60) -> None:
    """Until ``url`` answers anything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"{url}: the process exited; see {log}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise click.ClickException(f"{url} did not answer within {timeout:g}s; see {log}")


def _uvicorn(app: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
        "--loop", "uvloop", "--http", "httptools", "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RECEIVER_", "PEER_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return {**env, **values}


def _bare(target: Target, opts: dict, procs: Processes, stores: ExitStack) -> Stack:
    port, token = free_port(), secrets.token_urlsafe(32)
    proc = procs.spawn("uvicorn", _uvicorn("bench.bare_app:app", port), _env())
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/", proc, procs.log(proc))
    return Stack(base + WEBHOOK.format(token=token), procs.pids)


def _receiver(target: Target, opts: dict, procs: Processes, stores: ExitStack) -> Stack:
    from bench.pipeline_stores import postgres_database, sqlite_database

    token = secrets.token_urlsafe(32)
    if target.postgres:
        db = stores.enter_context(postgres_database(opts["database_url"]))
    else:
        db = stores.enter_context(sqlite_database(opts["work"] / f"{procs.tag}.db"))
    env = _env(
        RECEIVER_TOKENS=token,
        RECEIVER_DATABASE_URL=db.url,
        RECEIVER_SQLITE_SYNCHRONOUS="FULL",
        RECEIVER_HANDLERS="handlers.log:router",
        RECEIVER_LOG_FORMAT="json",
        **target.env,
    )
    if target.code is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(target.code), env["PYTHONPATH"]])
    port = free_port()
    cmd = [str(BIN / "receiver"), "serve", "--port", str(port), *target.serve_args]
    if target.serves > 1:
        cmd.append("--reuse-port")
    base = f"http://127.0.0.1:{port}"
    for n in range(target.serves):  # one at a time: the first creates the schema
        serve = procs.spawn(f"serve{n}" if n else "serve", cmd, env)
        wait_http(base + "/healthz", serve, procs.log(serve))
    for n in range(target.workers):
        metrics = free_port()
        cmd = [str(BIN / "receiver"), "worker", "--port", str(metrics)]
        worker = procs.spawn(f"worker{n}", cmd, env)
        wait_http(f"http://127.0.0.1:{metrics}/healthz", worker, procs.log(worker))
    reader = stores.enter_context(db.reader())
    return Stack(
        base + WEBHOOK.format(token=token), procs.pids, shared=reader.server_pids(),
        durable=db.durable(), handled=reader.handled, reader_cpu=reader.cpu_seconds,
    )  # fmt: skip


def _peer(app: str, worker: list[str], opts: dict, procs: Processes, stores: ExitStack) -> Stack:
    from bench.pipeline_stores import Redis

    redis = stores.enter_context(Redis.flushed(opts["redis_url"]))
    port, token = free_port(), secrets.token_urlsafe(32)
    env = _env(PEER_TOKEN=token, PEER_REDIS_URL=opts["redis_url"])
    api = procs.spawn("uvicorn", _uvicorn(app, port), env)
    procs.spawn("worker", worker, env)
    wait_http(f"http://127.0.0.1:{port}/docs", api, procs.log(api))
    return Stack(
        f"http://127.0.0.1:{port}" + WEBHOOK.format(token=token), procs.pids,
        shared=[redis.server_pid()], durable=redis.durable(), handled=redis.handled,
    )  # fmt: skip


def _arq(target: Target, opts: dict, procs: Processes, stores: ExitStack) -> Stack:
    worker = [sys.executable, "-m", "bench.peers.arq_app"]
    return _peer("bench.peers.arq_app:app", worker, opts, procs, stores)


def _celery(target: Target, opts: dict, procs: Processes, stores: ExitStack) -> Stack:
    # prefork with 2 processes: the handler is CPU-bound Python (JSON, pydantic), so threads
    # would share one GIL, i.e. one core; two processes can use both of the machine's cores
    worker = [
        str(BIN / "celery"), "-A", "bench.peers.celery_app:celery", "worker", "--pool", "prefork",
        "--concurrency", "2", "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
        "--without-heartbeat",
    ]  # fmt: skip
    return _peer("bench.peers.celery_app:app", worker, opts, procs, stores)
