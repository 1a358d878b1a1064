"""Where the pipeline benchmark's stacks keep their data, and how it reads their progress.

The receiver's store is read read-only: the number of deliveries finished (done, dropped,
skipped or dead) and the time of the last. The peers count handled events in Redis.
"""

from __future__ import annotations

import asyncio
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import redis

from bench import procstat
from bench.peers import HANDLED
from bench.pg_runs import _pg, with_database

FINISHED = """SELECT count(*), max(updated_at) FROM deliveries
    WHERE status IN ('done', 'dropped', 'skipped', 'dead')"""


class Reader(Protocol):
    def handled(self) -> tuple[int, float | None]: ...
    def cpu_seconds(self) -> float: ...
    def server_pids(self) -> list[int]: ...


@dataclass
class SqliteDatabase:
    path: Path
    synchronous: str = "FULL"  # what the stack is started with

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def durable(self) -> str:
        return f"yes (SQLite synchronous={self.synchronous})"

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            yield _SqliteReader(conn)
        finally:
            conn.close()


@dataclass
class _SqliteReader:
    conn: sqlite3.Connection

    def handled(self) -> tuple[int, float | None]:
        count, last = self.conn.execute(FINISHED).fetchone()
        return int(count), last

    def cpu_seconds(self) -> float:
        return 0.0  # the benchmark's own process, not the stack's

    def server_pids(self) -> list[int]:
        return []


@contextmanager
def sqlite_database(path: Path) -> Iterator[SqliteDatabase]:
    """A new SQLite file at ``path``, removed afterwards."""

    def remove() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    remove()
    try:
        yield SqliteDatabase(path)
    finally:
        remove()


@dataclass
class PostgresDatabase:
    url: str

    def _fetch(self, sql: str) -> list[Any]:
        async def run() -> list[Any]:
            conn = await asyncpg.connect(self.url)
            try:
                return [tuple(r) for r in await conn.fetch(sql)]
            finally:
                await conn.close()

        return asyncio.run(run())

    def durable(self) -> str:
        rows = self._fetch(
            "SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit')"
        )
        found = dict(rows)
        safe = found.get("fsync") == "on" and found.get("synchronous_commit") != "off"
        said = ", ".join(f"{k}={v}" for k, v in sorted(found.items()))
        return f"{'yes' if safe else 'no'} (PostgreSQL {said})"

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(asyncpg.connect(self.url))
        try:
            loop.run_until_complete(conn.execute("SET default_transaction_read_only = on"))
            backend = loop.run_until_complete(conn.fetchval("SELECT pg_backend_pid()"))
            yield _PostgresReader(loop, conn, backend)
        finally:
            loop.run_until_complete(conn.close())
            loop.close()


@dataclass
class _PostgresReader:
    loop: asyncio.AbstractEventLoop
    conn: asyncpg.Connection
    backend: int

    def handled(self) -> tuple[int, float | None]:
        count, last = self.loop.run_until_complete(self.conn.fetchrow(FINISHED))
        return int(count), last

    def cpu_seconds(self) -> float:
        """The CPU of the backend serving the benchmark's queries: not the stack's work."""
        return procstat.cpu_seconds(self.backend, reaped=False)

    def server_pids(self) -> list[int]:
        """The postmaster: its tree is every PostgreSQL process (backends, their reaped
        predecessors, the background workers)."""
        return [procstat.parent(self.backend)]


@contextmanager
def postgres_database(admin_url: str) -> Iterator[PostgresDatabase]:
    """A new database on the server of ``admin_url``, dropped afterwards."""
    name = f"receiver_pipeline_{secrets.token_hex(4)}"
    asyncio.run(_pg(admin_url, f'CREATE DATABASE "{name}"'))
    try:
        yield PostgresDatabase(with_database(admin_url, name))
    finally:
        asyncio.run(_pg(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Redis:
    client: redis.Redis

    @classmethod
    @contextmanager
    def flushed(cls, url: str) -> Iterator[Redis]:
        """The database of ``url``, emptied before and after."""
        client = redis.Redis.from_url(url)
        client.flushdb()
        try:
            yield cls(client)
        finally:
            client.flushdb()
            client.close()

    def server_pid(self) -> int:
        return int(self.client.info("server")["process_id"])

    def durable(self) -> str:
        """What Redis is configured with, as found: only an fsync per write survives a power
        loss with every acknowledged job."""
        config = self.client.config_get("appendonly") | self.client.config_get("save")
        if config.get("appendonly") == "yes":
            config |= self.client.config_get("appendfsync")
        said = ", ".join(f"{k}={v!r}" for k, v in sorted(config.items()))
        if config.get("appendonly") == "yes" and config.get("appendfsync") == "always":
            return f"yes (Redis {said})"
        if config.get("appendonly") == "yes" and config.get("appendfsync") == "everysec":
            return f"up to 1 s lost (Redis {said})"
        return f"no (Redis {said})"

    def handled(self) -> tuple[int, float | None]:
        return int(self.client.get(HANDLED) or 0), None
