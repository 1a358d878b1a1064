"""The runs of ``python -m bench pg``: one intake point and one dispatch point per call.

Every run gets a fresh database: a new SQLite file, or a new schema in the benchmark's
PostgreSQL database (``?search_path=``). Servers and workers are real processes.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import click
import httpx

from bench.preload import preload
from bench.server import free_port
from bench.wrk import run_wrk
from receiver.settings import load_settings
from receiver.store import create_store

ROOT = Path(__file__).resolve().parent.parent
HANDLERS = ("bench.noop",)


@dataclass
class Database:
    """Where one run's data lives, and how to read it back."""

    url: str

    @classmethod
    async def fresh(cls, backend: str, pg_database: str, work: Path) -> Database:
        if backend == "sqlite":
            db = work / f"pg-bench-{secrets.token_hex(4)}.db"
            return cls(f"sqlite:///{db}")
        schema = f"bench_{secrets.token_hex(4)}"
        await _pg(pg_database, f'CREATE SCHEMA "{schema}"')
        parts = urlsplit(pg_database)
        return cls(urlunsplit(parts._replace(query=f"search_path={schema}")))

    @property
    def postgres(self) -> bool:
        return not self.url.startswith("sqlite:///")

    @property
    def sqlite_path(self) -> str:
        return self.url.removeprefix("sqlite:///")

    async def counter(self, sql: str) -> tuple[Callable[[], Awaitable[int]], Callable[[], Any]]:
        """``(count, close)``: ``await count()`` runs ``sql`` on one connection kept open."""
        if not self.postgres:
            conn = sqlite3.connect(self.sqlite_path)

            async def from_sqlite() -> int:
                return int(conn.execute(sql).fetchone()[0])

            return from_sqlite, conn.close
        pg = await asyncpg.connect(self.url)

        async def from_pg() -> int:
            return int(await pg.fetchval(sql))

        return from_pg, pg.close

    async def column(self, sql: str) -> list[Any]:
        """The first column of every row ``sql`` answers."""
        if not self.postgres:
            conn = sqlite3.connect(self.sqlite_path)
            try:
                return [row[0] for row in conn.execute(sql)]
            finally:
                conn.close()
        pg = await asyncpg.connect(self.url)
        try:
            return [row[0] for row in await pg.fetch(sql)]
        finally:
            await pg.close()

    async def ids(self) -> set[str]:
        return set(await self.column("SELECT id FROM events"))

    async def drop(self) -> None:
        if not self.postgres:
            for suffix in ("", "-wal", "-shm"):
                Path(self.sqlite_path + suffix).unlink(missing_ok=True)
            return
        schema = urlsplit(self.url).query.removeprefix("search_path=")
        base = urlunsplit(urlsplit(self.url)._replace(query=""))
        await _pg(base, f'DROP SCHEMA "{schema}" CASCADE')


def with_database(url: str, name: str) -> str:
    """``url`` pointing at database ``name``."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _pg(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECEIVER_")}
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{env.get('PYTHONPATH', '')}"
    env.update(RECEIVER_LOG_FORMAT="json", **values)
    return env


def _servers(
    target: str, factory: bool, processes: int, port: int, cpu: str | None, **popen: Any
) -> list[subprocess.Popen]:
    """``processes`` uvicorn processes sharing ``port`` (see :mod:`bench.pg_serve`)."""
    procs = []
    for _ in range(processes):
        cmd = [sys.executable, "-m", "bench.pg_serve", target, str(port)]
        cmd += ["--factory"] if factory else []
        cmd = ["taskset", "-c", cpu, *cmd] if cpu is not None else cmd
        procs.append(subprocess.Popen(cmd, **popen))
    return procs


def _wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise click.ClickException(f"{url} exited; see {log}")
        try:
            httpx.get(url, timeout=1.0)  # any answer: the bare app has no /healthz
            return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise click.ClickException(f"{url} did not become ready; see {log}")


def _stop(proc: subprocess.Popen, sig: int = signal.SIGINT) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


@dataclass
class IntakePoint:
    rps: float
    p50_ms: float
    p99_ms: float
    accepted: int
    failures: int
    lost: int | None


def intake_point(
    target: str, db: Database | None, processes: int, opts: dict, tag: str
) -> IntakePoint:
    """Serve ``target`` (``bare`` or the receiver on ``db``), load it with wrk, check ids."""
    token, port = secrets.token_urlsafe(32), free_port()
    receiver = db is not None
    app = "bench.receiver_app:intake" if receiver else "bench.bare_app:app"
    env = _env(RECEIVER_TOKENS=token, RECEIVER_DATABASE_URL=db.url if db else "sqlite:///x.db")
    cpu = opts["server_cpu"] if processes == 1 else None
    log = opts["work"] / f"pg-{tag}.log"
    with log.open("wb") as out:
        procs = _servers(
            app, receiver, processes, port, cpu, env=env, cwd=ROOT, stdout=out,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            for proc in procs:
                _wait_ready(f"http://127.0.0.1:{port}/healthz", proc, log)
            url = f"http://127.0.0.1:{port}/webhooks/vocode/{token}"
            wrk = dict(payloads=opts["payloads"], workdir=opts["work"], cpu=opts["wrk_cpu"])
            wrk["cpu"] = wrk["cpu"] if processes == 1 else None
            run_wrk(
                opts["wrk"], url, connections=32, seconds=opts["warmup"], prefix=tag + "w", **wrk
            )
            point = run_wrk(
                opts["wrk"], url, connections=32, seconds=opts["duration"], prefix=tag, **wrk
            )
        finally:
            code = max(abs(_stop(proc)) for proc in procs)
    if code != 0:
        raise click.ClickException(f"{tag} exited with {code}; see {log}")
    lost = None
    if db is not None:
        stored = asyncio.run(db.ids())
        lost = sum(1 for i in point.ids if i not in stored)
    return IntakePoint(point.rps, point.p50_ms, point.p99_ms, point.accepted, point.failures, lost)


def dispatch_point(db: Database, workers: int, opts: dict, tag: str) -> float:
    """Deliveries per second of ``workers`` ``receiver worker`` processes on a preloaded backlog
    (the rate between 10 % and 90 % done, so start-up and the tail do not count)."""
    events, calls = opts["events"], opts["calls"]

    async def seed() -> None:
        store = create_store(load_settings(database_url=db.url))
        await store.open()
        await preload(store, events, calls, HANDLERS)
        await store.close()

    asyncio.run(seed())
    env = _env(RECEIVER_DATABASE_URL=db.url, RECEIVER_HANDLERS="bench.pg_handlers:router")
    procs = []
    log = opts["work"] / f"pg-{tag}.log"
    with log.open("wb") as out:
        for _ in range(workers):
            cmd = [sys.executable, "-m", "receiver", "worker", "--port", str(free_port())]
            procs.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out))
        try:
            marks = asyncio.run(_watch(db, events, opts["timeout"]))
        finally:
            codes = [_stop(p, signal.SIGTERM) for p in procs]
    if any(codes):
        raise click.ClickException(f"{tag}: a worker exited with {codes}; see {log}")
    (t10, t90) = marks
    return 0.8 * events / (t90 - t10)


async def _watch(db: Database, events: int, timeout: float) -> tuple[float, float]:
    """When 10 % and 90 % of the backlog were done, read from the deliveries' finish times
    once the backlog has run: polling a count while it runs costs the database a scan of the
    table each time, CPU the workers being measured would otherwise have."""
    # one probe of an index on unfinished rows: PostgreSQL keeps a claimed row 'pending' (with
    # a lease), SQLite marks it 'running'
    unfinished = "'pending'" if db.postgres else "'pending', 'running'"
    busy, close = await db.counter(
        f"SELECT EXISTS (SELECT 1 FROM deliveries WHERE status IN ({unfinished}))"
    )
    try:
        deadline = time.monotonic() + timeout
        while await busy():
            if time.monotonic() > deadline:
                raise click.ClickException(
                    f"the backlog of {events} was not run within {timeout:g}s"
                )
            await asyncio.sleep(0.1)
    finally:
        result = close()
        if asyncio.iscoroutine(result):
            await result
    finished = await db.column(
        "SELECT updated_at FROM deliveries WHERE status = 'done' ORDER BY updated_at"
    )
    if len(finished) < events:
        raise click.ClickException(f"{events - len(finished)} deliveries did not end done")
    return finished[events // 10 - 1], finished[events * 9 // 10 - 1]
