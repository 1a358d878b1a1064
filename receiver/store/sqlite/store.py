"""The embedded default store: SQLite in WAL mode with group commit.

``synchronous=FULL`` (the default) fsyncs the write-ahead log at every commit: an event
answered 202 survives a process crash *and* a power loss, provided the disk honours fsync.
``NORMAL`` survives a process crash but may lose the last commits on power loss.

Every write is an op of one writer thread (:mod:`receiver.store.sqlite.writer`), which runs
all the ops waiting in one transaction: plans too (:func:`run_plan`), so the writer's lock is
the only lock there is. Reads run on a second connection in a thread of their own.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from receiver.errors import StoreError
from receiver.store.core import PlanFactory, SqlStore
from receiver.store.plan import Driver, Execute, Fetch, Plan, Step
from receiver.store.records import Claimed, ClaimRequest, Finish, NewEvent, Stored
from receiver.store.sqlite import writes
from receiver.store.sqlite.queries import QUERIES
from receiver.store.sqlite.writer import Turns, Writer

T = TypeVar("T")


class SQLiteStore(SqlStore):
    """The :class:`~receiver.store.base.Store` on one SQLite file."""

    queries = QUERIES

    def __init__(
        self,
        path: str,
        *,
        synchronous: str = "FULL",
        batch_max: int = 1000,
        default_region: str | None = None,
    ) -> None:
        super().__init__(default_region)
        self.path = path
        self._synchronous = synchronous
        self._mode = "rwc"  # rwc: create the file (and its folder); rw: it must exist; ro
        memory = path in ("", ":memory:")
        self._writer = Writer(self._connect, batch_max, None if memory else Turns(f"{path}-lock"))
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._cursors: dict[str, str] = {}  # per ordered handler: where the next claim looks

    # lifecycle --------------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        memory = self.path in ("", ":memory:")
        if memory:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        else:
            if self._mode == "rwc":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            uri = f"{Path(self.path).absolute().as_uri()}?mode={self._mode}"
            conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        if self._mode == "ro":
            conn.execute("PRAGMA query_only = ON")
        else:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def open(self, *, migrate: bool = True, read_only: bool = False) -> None:
        if migrate and read_only:
            raise ValueError("a read-only store cannot be migrated")
        self._mode = "rwc" if migrate else "ro" if read_only else "rw"
        if not migrate and self.path not in ("", ":memory:") and not Path(self.path).is_file():
            raise StoreError(
                f"no database at {self.path} (RECEIVER_DATABASE_URL); `receiver migrate` "
                "or `receiver serve` creates it"
            )
        try:
            if not read_only:
                self._writer.after_commit = self._notify
                self._writer.start(asyncio.get_running_loop())
            self._reader = await asyncio.to_thread(self._connect)
            if migrate:
                await self.migrate()
        except sqlite3.Error as exc:
            await self.close()
            raise StoreError(f"cannot open the SQLite database {self.path}: {exc}") from exc
        except BaseException:
            await self.close()  # no writer thread or connection outlives a failed open
            raise

    async def close(self) -> None:
        await asyncio.to_thread(self._writer.stop)
        await asyncio.to_thread(self._close_reader)

    def _close_reader(self) -> None:
        with self._read_lock:  # a read may still run in its thread: closing under it crashes
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    # primitives -------------------------------------------------------------------------------

    async def _read(self, plan: PlanFactory[T]) -> T:
        def run() -> T:
            with self._read_lock:
                if self._reader is None:
                    raise StoreError("the store is closed")
                try:
                    return run_plan(self._reader, plan())
                except sqlite3.Error as exc:
                    raise StoreError(f"SQLite: {exc}") from exc

        return await asyncio.to_thread(run)

    async def _write(self, plan: PlanFactory[T], *, notify: bool = False) -> T:
        return await self._writer.submit(lambda conn: run_plan(conn, plan()), notify=notify)

    async def add_event(self, event: NewEvent) -> Stored:
        return await self._writer.submit(lambda conn: writes.add_event(conn, event), notify=True)

    async def _claim(self, request: ClaimRequest) -> list[Claimed]:
        return await self._writer.submit(lambda conn: writes.claim(conn, request, self._cursors))

    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]:
        return await self._writer.submit(
            lambda conn: writes.finish_many(conn, results), notify=True
        )


def run_plan(conn: sqlite3.Connection, plan: Plan[T]) -> T:
    """Run ``plan``'s statements on ``conn`` (in the caller's transaction)."""
    driver = Driver(plan)
    while not driver.done:
        try:
            result = _run_step(conn, driver.step)
        except sqlite3.Error as exc:
            driver.throw(exc)
        else:
            driver.send(result)
    return driver.answer()


def _run_step(conn: sqlite3.Connection, step: Step) -> Any:
    if isinstance(step, Fetch):
        return conn.execute(step.sql, _params(step.params)).fetchall()
    if isinstance(step, Execute):
        return conn.execute(step.sql, _params(step.params)).rowcount
    for statement in step.sql.split(";"):
        if statement.strip():
            conn.execute(statement)
    return None


def _params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Lists travel as JSON arrays, read with ``json_each``."""
    return {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
