"""The embedded default store: SQLite in WAL mode with group commit.

``synchronous=FULL`` (the default) fsyncs the write-ahead log at every commit: an event
answered 202 survives a process crash *and* a power loss, provided the disk honours fsync.
``NORMAL`` survives a process crash but may lose the last commits on power loss.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from receiver.errors import MigrationError, StoreError
from receiver.store.base import (
    Claimed,
    DeliveryFilter,
    DeliveryRecord,
    EventRecord,
    Finish,
    FollowUpClaim,
    FollowUpGuards,
    FollowUpRecord,
    HandlerStats,
    NewEvent,
    Purged,
    SchemaState,
    Stored,
)
from receiver.store.migrations import SQLITE as MIGRATIONS
from receiver.store.sqlite import deliveries, follow_ups
from receiver.store.sqlite.writer import Writer

T = TypeVar("T")

_INSERT_EVENT = (
    "INSERT INTO events (id, dedup_key, type, call_id, received_at, method, headers, envelope, raw)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedup_key) DO NOTHING"
)
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_EVENT_COLUMNS = "id, seq, dedup_key, type, call_id, received_at, method, headers, envelope, raw"


def path_from_url(url: str) -> str:
    """``sqlite:///relative.db`` → ``relative.db``; ``sqlite:////abs.db`` → ``/abs.db``."""
    if not url.startswith("sqlite:///"):
        raise StoreError("RECEIVER_DATABASE_URL: expected sqlite:///PATH or postgresql://...")
    return url[len("sqlite:///") :]


class SQLiteStore:
    """The :class:`~receiver.store.base.Store` on one SQLite file."""

    def __init__(self, path: str, *, synchronous: str = "FULL", batch_max: int = 1000) -> None:
        self.path = path
        self._synchronous = synchronous
        self._writer = Writer(self._connect, batch_max)
        self._reader: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self.on_commit: list[Callable[[], None]] = []

    # lifecycle ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        if self.path not in ("", ":memory:"):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    async def open(self) -> None:
        self._writer.after_commit = self._notify
        self._writer.start(asyncio.get_running_loop())
        try:
            self._reader = await asyncio.to_thread(self._connect)
            await self.migrate()
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

    def _notify(self) -> None:
        for callback in self.on_commit:
            callback()

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            with self._read_lock:
                if self._reader is None:
                    raise StoreError("the store is closed")
                try:
                    return fn(self._reader)
                except sqlite3.Error as exc:
                    raise StoreError(f"SQLite: {exc}") from exc

        return await asyncio.to_thread(run)

    # schema ------------------------------------------------------------------------------

    async def migrate(self) -> SchemaState:
        return await self._writer.submit(_migrate)

    async def schema_state(self) -> SchemaState:
        return await self._read(_schema_state)

    async def ping(self) -> None:
        await self._read(lambda conn: conn.execute("SELECT 1").fetchone())

    # events ------------------------------------------------------------------------------

    async def add_event(self, event: NewEvent) -> Stored:
        return await self._writer.submit(lambda conn: _add_event(conn, event), notify=True)

    async def get_event(self, event_id: str) -> EventRecord | None:
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?"
        row = await self._read(lambda conn: conn.execute(sql, (event_id,)).fetchone())
        return _event(row) if row else None

    async def list_events(
        self, *, type: str | None = None, call_id: str | None = None, limit: int = 50
    ) -> list[EventRecord]:
        where, args = [], []
        if type is not None:
            where.append("type = ?")
            args.append(type)
        if call_id is not None:
            where.append("call_id = ?")
            args.append(call_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {_EVENT_COLUMNS} FROM events {clause} ORDER BY seq DESC LIMIT ?"
        rows = await self._read(lambda conn: conn.execute(sql, (*args, limit)).fetchall())
        return [_event(row) for row in rows]

    async def count_events(self) -> int:
        row = await self._read(lambda conn: conn.execute("SELECT count(*) FROM events").fetchone())
        return int(row[0])

    async def purge(self, before: float, *, batch_size: int = 1000) -> Purged:
        """Each batch is one op of the writer, so intake's batches go on in between."""
        removed = events = 0
        while n := await self._writer.submit(
            lambda c: deliveries.purge_deliveries(c, before, batch_size)
        ):
            removed += n
        after: int | None = 0
        while after is not None:
            n, after = await self._writer.submit(
                lambda c, a=after: deliveries.purge_events(c, before, a, batch_size)
            )
            events += n
        return Purged(deliveries=removed, events=events)


    # deliveries ---------------------------------------------------------------------------

    async def claim(
        self,
        slots: dict[str, int],
        ordered: frozenset[str],
        leases: dict[str, float],
        limit: int | None = None,
    ) -> list[Claimed]:
        return await self._writer.submit(
            lambda conn: deliveries.claim(conn, slots, ordered, leases, limit)
        )

    async def finish(self, result: Finish) -> bool:
        return await self._writer.submit(lambda conn: deliveries.finish(conn, result), notify=True)

    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]:
        return await self._writer.submit(
            lambda conn: deliveries.finish_many(conn, results), notify=True
        )

    async def release(self, claims: list[tuple[int, int]]) -> None:
        await self._writer.submit(lambda conn: deliveries.release(conn, claims), notify=True)

    async def requeue(self, ids: list[int], *, side_effects: bool = True) -> int:
        return await self._writer.submit(
            lambda conn: deliveries.requeue(conn, ids, side_effects), notify=True
        )

    async def list_deliveries(self, where: DeliveryFilter) -> list[DeliveryRecord]:
        return await self._read(lambda conn: deliveries.list_deliveries(conn, where))

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        found = await self.list_deliveries(DeliveryFilter(ids=(delivery_id,)))
        return found[0] if found else None

    async def delivery_stats(self) -> dict[str, HandlerStats]:
        return await self._read(deliveries.stats)

    # follow-ups ---------------------------------------------------------------------------

    async def claim_follow_ups(
        self, limit: int, lease: float, guards: FollowUpGuards
    ) -> FollowUpClaim:
        return await self._writer.submit(lambda c: follow_ups.claim(c, limit, lease, guards))

    async def complete_follow_up(
        self,
        key: str,
        attempt: int,
        status: str,
        *,
        vocode_call_id: str | None = None,
        reason: str | None = None,
        next_attempt_at: float | None = None,
        reconcile: bool = False,
    ) -> bool:
        return await self._writer.submit(
            lambda c: follow_ups.complete(
                c, key, attempt, status, vocode_call_id, reason, next_attempt_at, reconcile
            ),
            notify=status == "pending",
        )

    async def list_follow_ups(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[FollowUpRecord]:
        return await self._read(lambda c: follow_ups.list_follow_ups(c, status, None, limit))

    async def get_follow_up(self, key: str) -> FollowUpRecord | None:
        found = await self._read(lambda c: follow_ups.list_follow_ups(c, None, key, 1))
        return found[0] if found else None

    async def release_follow_up(self, key: str) -> bool:
        return await self._writer.submit(lambda c: follow_ups.release(c, key), notify=True)

    async def cancel_follow_up(self, key: str) -> bool:
        return await self._writer.submit(lambda c: follow_ups.cancel(c, key))

    async def dnc_add(self, number: str, reason: str | None = None) -> None:
        await self._writer.submit(lambda c: follow_ups.dnc_add(c, number, reason))

    async def dnc_remove(self, number: str) -> bool:
        return await self._writer.submit(lambda c: follow_ups.dnc_remove(c, number))

    async def dnc_list(self) -> list[tuple[str, str | None, float]]:
        sql = "SELECT number, reason, created_at FROM do_not_call ORDER BY number"
        return await self._read(lambda c: [tuple(row) for row in c.execute(sql)])


def _add_event(conn: sqlite3.Connection, event: NewEvent) -> Stored:
    cursor = conn.execute(
        _INSERT_EVENT,
        (
            event.id,
            event.dedup_key,
            event.type,
            event.call_id,
            event.received_at,
            event.method,
            event.headers,
            event.envelope,
            event.raw,
        ),
    )
    if cursor.rowcount == 0:
        sql = "SELECT id FROM events WHERE dedup_key = ?"
        row = conn.execute(sql, (event.dedup_key,)).fetchone()
        return Stored(row[0], True)
    if event.handlers:
        seq, now = cursor.lastrowid, event.received_at
        conn.executemany(
            _INSERT_DELIVERY,
            [(seq, event.id, h, event.call_id, now, now, now) for h in event.handlers],
        )
    return Stored(event.id, False)


def _event(row: Any) -> EventRecord:
    return EventRecord(
        id=row[0],
        seq=row[1],
        dedup_key=row[2],
        type=row[3],
        call_id=row[4],
        received_at=row[5],
        method=row[6],
        headers=json.loads(row[7]),
        envelope=json.loads(row[8]),
        raw=bytes(row[9]),
    )


def _schema_state(conn: sqlite3.Connection, applied: list[int] | None = None) -> SchemaState:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL)"
    )
    row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    return SchemaState(row[0] or 0, len(MIGRATIONS), applied or [])


def _migrate(conn: sqlite3.Connection) -> SchemaState:
    state = _schema_state(conn)
    if state.current > state.latest:
        raise MigrationError(
            f"the database is at schema version {state.current}; "
            f"this version of vocode-receiver knows up to {state.latest}"
        )
    applied = []
    for version in range(state.current + 1, state.latest + 1):
        for statement in MIGRATIONS[version - 1].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, ?)", (version, time.time()))
        applied.append(version)
    return _schema_state(conn, applied)
