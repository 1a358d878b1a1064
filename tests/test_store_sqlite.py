"""The SQLite store: schema versions, WAL, dedup by unique constraint, group commit, durability."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from receiver.errors import MigrationError, StoreError
from receiver.store import NewEvent
from receiver.store.migrations import SQLITE as MIGRATIONS
from receiver.store.sqlite.store import SQLiteStore, path_from_url


@pytest.fixture
def new_event() -> Callable[..., NewEvent]:
    """``make(n, **fields) -> NewEvent``: event number ``n`` with its own id and dedup key."""

    def make(n: int = 1, **fields: object) -> NewEvent:
        envelope = {"type": "event_message", "call_id": f"call-{n}", "payload": {"text": f"#{n}"}}
        values: dict[str, object] = {
            "id": f"evt_{n:08d}",
            "dedup_key": f"s:{n}",
            "type": "event_message",
            "call_id": f"call-{n}",
            "received_at": 1_700_000_000.0 + n,
            "method": "POST",
            "headers": json.dumps({"user-agent": "test"}),
            "envelope": json.dumps(envelope),
            "raw": json.dumps(envelope).encode(),
        }
        values.update(fields)
        return NewEvent(**values)  # type: ignore[arg-type]

    return make


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_open_applies_the_schema(store, db_path) -> None:
    """Opening a fresh file creates events and deliveries at the latest schema version."""
    state = await store.schema_state()
    assert state.current == state.latest == len(MIGRATIONS)
    conn = connect(db_path)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert {"events", "deliveries", "schema_version"} <= tables


async def test_database_is_in_wal_mode(store, db_path) -> None:
    """The file is switched to write-ahead logging."""
    conn = connect(db_path)
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    conn.close()
    assert mode == "wal"


async def test_reopening_applies_nothing_twice(store, db_path) -> None:
    """Migrating a database that is up to date applies no version again."""
    state = await store.migrate()
    assert state.applied == []
    again = SQLiteStore(str(db_path))
    await again.open()
    await again.close()
    conn = connect(db_path)
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    conn.close()
    assert versions == list(range(1, len(MIGRATIONS) + 1))


async def test_version_3_drops_the_index_no_statement_reads(db_path, new_event) -> None:
    """A database at version 2 loses the full deliveries_call index on open, keeps the partial
    one, and an ordered claim still finds each call's head through it."""
    conn = connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, script in enumerate(MIGRATIONS[:2], start=1):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    conn.close()
    store = SQLiteStore(str(db_path))
    await store.open()
    try:
        for n in (1, 2):  # two events of one call
            await store.add_event(new_event(n, call_id="call-x", handlers=("h",)))
        claimed = await store.claim({"h": 5}, frozenset({"h"}), {"h": 60.0})
    finally:
        await store.close()
    conn = connect(db_path)
    indexes = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    conn.close()
    assert "deliveries_call" not in indexes and "deliveries_active_call" in indexes
    assert versions == list(range(1, len(MIGRATIONS) + 1))
    assert [c.event_id for c in claimed] == ["evt_00000001"]  # the head only, in order


async def test_newer_schema_refuses_to_open(db_path) -> None:
    """A database newer than the code raises MigrationError on open and leaves nothing running."""
    first = SQLiteStore(str(db_path))
    await first.open()
    await first.close()
    conn = connect(db_path)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (len(MIGRATIONS) + 1,))
    conn.close()
    newer = SQLiteStore(str(db_path))
    with pytest.raises(MigrationError, match=f"schema version {len(MIGRATIONS) + 1}"):
        await newer.open()
    assert "receiver-sqlite-writer" not in {t.name for t in threading.enumerate()}


async def test_write_after_close_is_a_store_error(store, new_event) -> None:
    """A write to a closed store fails with StoreError at once instead of waiting forever."""
    await store.close()
    async with asyncio.timeout(10):  # a regression would hang; fail it instead
        with pytest.raises(StoreError, match="closed"):
            await store.add_event(new_event(1))


async def test_unique_constraint_decides_across_stores(store, db_path, new_event) -> None:
    """Two stores (two processes) on one file: the database, not memory, finds the duplicate."""
    other = SQLiteStore(str(db_path))
    await other.open()
    try:
        first = await store.add_event(new_event(1))
        second = await other.add_event(new_event(2, dedup_key=new_event(1).dedup_key))
    finally:
        await other.close()
    assert (second.id, second.duplicate) == (first.id, True)


async def test_deliveries_are_stored_with_the_event(store, db_path, new_event) -> None:
    """One pending delivery row per matching handler is written with the event."""
    await store.add_event(new_event(1, handlers=("crm", "audit")))
    await store.add_event(new_event(2, dedup_key=new_event(1).dedup_key, handlers=("crm",)))
    conn = connect(db_path)
    rows = conn.execute("SELECT event_id, handler, status FROM deliveries ORDER BY handler")
    found = rows.fetchall()
    conn.close()
    assert found == [("evt_00000001", "audit", "pending"), ("evt_00000001", "crm", "pending")]


async def test_added_event_is_durable_before_the_answer(store, db_path, new_event) -> None:
    """When add_event returns, another connection already sees the row (it is committed)."""
    event = new_event(1)
    await store.add_event(event)
    conn = connect(db_path)
    rows = conn.execute("SELECT id FROM events").fetchall()
    conn.close()
    assert rows == [(event.id,)]


async def test_concurrent_adds_share_one_commit(store, db_path, new_event) -> None:
    """Events waiting together are committed together, and none is answered before its commit."""
    commits: list[int] = []
    store.on_commit.append(lambda: commits.append(1))
    blocker = connect(db_path)
    blocker.execute("BEGIN IMMEDIATE")  # hold the write lock: the writer must wait
    tasks = [asyncio.ensure_future(store.add_event(new_event(n))) for n in range(1, 51)]
    for _ in range(5):
        await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)  # nothing is answered before it is durable
    blocker.execute("ROLLBACK")
    blocker.close()
    await asyncio.gather(*tasks)
    assert await store.count_events() == 50
    assert len(commits) <= 2  # the batch that was waiting on the lock, then everything else


async def test_close_waits_for_a_read_in_flight(store) -> None:
    """Closing while a read still runs in its thread waits for it instead of closing under it."""
    started, release = threading.Event(), threading.Event()

    def slow_read(conn: sqlite3.Connection) -> tuple[int]:
        started.set()
        release.wait()
        return conn.execute("SELECT 1").fetchone()

    read = asyncio.ensure_future(store._read(slow_read))  # a read held open on purpose
    await asyncio.to_thread(started.wait)
    closing = asyncio.ensure_future(store.close())
    await asyncio.wait({closing}, timeout=0.2)  # room for a close that does not wait
    release.set()
    assert await read == (1,)
    await closing
    with pytest.raises(StoreError, match="closed"):
        await store.count_events()


def test_sqlite_url_to_path() -> None:
    """``sqlite:///rel.db`` is a relative path and ``sqlite:////abs.db`` an absolute one."""
    assert path_from_url("sqlite:///./receiver.db") == "./receiver.db"
    assert path_from_url("sqlite:////var/lib/receiver.db") == "/var/lib/receiver.db"
