"""What only the SQLite store does: WAL, its own schema steps, its threads, its claim's index
use. Everything both stores promise is in the contract suite beside this file."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from receiver.errors import MigrationError, StoreError
from receiver.store.plan import Fetch, Plan
from receiver.store.records import ClaimRequest
from receiver.store.sqlite.schema import VERSIONS
from receiver.store.sqlite.store import SQLiteStore
from receiver.store.sqlite.writes import _DUE, _HEADS, claim


@pytest.fixture
def backend() -> str:
    """These tests are for SQLite only."""
    return "sqlite"


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


async def test_database_is_in_wal_mode(store, db_path) -> None:
    """The file is switched to write-ahead logging."""
    conn = connect(db_path)
    (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    conn.close()
    assert mode == "wal"


async def test_version_3_drops_the_index_no_statement_reads(db_path, new_event) -> None:
    """A database at version 2 loses the full deliveries_call index on open, keeps the partial
    one, and an ordered claim still finds each call's head through it."""
    conn = connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, step in enumerate(VERSIONS[:2], start=1):
        for statement in step.script.split(";"):
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
    assert versions == list(range(1, len(VERSIONS) + 1))
    assert [c.event_id for c in claimed] == ["evt_00000001"]  # the head only, in order


async def test_a_failed_open_leaves_no_writer_thread(store, db_path) -> None:
    """A database newer than the code fails to open, and no writer thread is left behind."""
    await store.close()
    conn = connect(db_path)
    conn.execute("INSERT INTO schema_version VALUES (?, 0)", (len(VERSIONS) + 1,))
    conn.close()
    newer = SQLiteStore(str(db_path))
    with pytest.raises(MigrationError):
        await newer.open()
    assert "receiver-sqlite-writer" not in {t.name for t in threading.enumerate()}


async def test_close_waits_for_a_read_in_flight(store) -> None:
    """Closing while a read still runs in its thread waits for it instead of closing under it."""
    started, release = threading.Event(), threading.Event()

    def slow_read() -> Plan[int]:
        started.set()
        release.wait()
        [(one,)] = yield Fetch("SELECT 1")
        return int(one)

    read = asyncio.ensure_future(store._read(slow_read))  # a read held open on purpose
    await asyncio.to_thread(started.wait)
    closing = asyncio.ensure_future(store.close())
    await asyncio.wait({closing}, timeout=0.2)  # room for a close that does not wait
    release.set()
    assert await read == 1
    await closing
    with pytest.raises(StoreError, match="closed"):
        await store.count_events()


async def test_ordered_claim_probes_the_index_of_active_rows(store, db_path) -> None:
    """An ordered handler's heads come from index probes on the active rows (one per call),
    never from a scan, so neither a deep backlog nor a long finished history is read."""
    conn = connect(db_path)
    try:
        params = {"handler": "t.h", "now": time.time(), "slots": 10, "wanted": 20}
        for op, around in (
            (">", {"after": "c", "until": None}),
            (">=", {"after": "", "until": "c"}),
        ):
            rows = conn.execute("EXPLAIN QUERY PLAN " + _HEADS.format(op=op), params | around)
            plan = " / ".join(row[3] for row in rows.fetchall())
            assert plan.count("INDEX deliveries_active_call") >= 3, plan  # first, next, head
            assert "SCAN d" not in plan and "SCAN deliveries" not in plan, plan
    finally:
        conn.close()


def _steps_of_a_claim(path: Path, slots: int, handler: str = "t.h", ordered: bool = True) -> int:
    """The SQLite virtual machine's steps in one claim of ``slots`` (rolled back)."""
    conn = connect(path)
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    try:
        conn.execute("BEGIN")
        conn.set_progress_handler(count, 1)
        kinds = frozenset({handler} if ordered else ())
        request = ClaimRequest({handler: slots}, kinds, {handler: 60.0})
        assert len(claim(conn, request, {})) == slots
        conn.set_progress_handler(None, 1)
        conn.execute("ROLLBACK")
    finally:
        conn.close()
    return steps


def _add_calls(path: Path, first: int, count: int, handler: str = "t.h") -> None:
    """One pending delivery of ``handler`` for each of ``count`` calls, numbered from
    ``first``."""
    conn = connect(path)
    with conn:
        for n in range(first, first + count):
            conn.execute(
                "INSERT INTO events (seq, id, dedup_key, type, call_id, received_at, method,"
                " headers, envelope, raw) VALUES (?, ?, ?, 'event_message', ?, 0, 'POST', '{}',"
                " '{}', x'')",
                (n + 1, f"e{n}", f"k{n}", f"c{n:05d}"),
            )
            conn.execute(
                "INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, 0, 0, 0)",
                (n + 1, f"e{n}", handler, f"c{n:05d}"),
            )
    conn.close()


async def test_an_ordered_claim_reads_about_what_it_takes(store, db_path) -> None:
    """However many calls have work waiting, an ordered claim walks about twice the heads it
    may take: with ten times the calls it costs the same (it walked every call before)."""
    _add_calls(db_path, 0, 100)
    few = _steps_of_a_claim(db_path, 4)
    _add_calls(db_path, 100, 900)
    many = _steps_of_a_claim(db_path, 4)
    assert many < 1.5 * few, (few, many)


async def test_an_unordered_claim_reads_its_handlers_rows_only(store, db_path) -> None:
    """A claim for one handler costs the same whatever the backlog of others that are due
    earlier (a handler with no free slot, or one this process does not load)."""
    _add_calls(db_path, 0, 100, handler="t.other")
    _add_calls(db_path, 100, 10, handler="t.u")
    few = _steps_of_a_claim(db_path, 4, "t.u", ordered=False)
    _add_calls(db_path, 110, 900, handler="t.other")
    many = _steps_of_a_claim(db_path, 4, "t.u", ordered=False)
    assert many < 1.5 * few, (few, many)
    conn = connect(db_path)
    plan = conn.execute("EXPLAIN QUERY PLAN " + _DUE, ("t.u", time.time(), 4)).fetchall()
    conn.close()
    assert "INDEX deliveries_active " in " / ".join(row[3] for row in plan), plan
