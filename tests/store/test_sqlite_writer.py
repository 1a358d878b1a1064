"""The SQLite writer thread: how submitted ops are grouped into commits."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from receiver.errors import StoreError
from receiver.store.sqlite.writer import Turns, Writer


def _writer(path: Path, batch_max: int = 1000) -> tuple[Writer, list[int]]:
    def connect() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False)

    writer, commits = Writer(connect, batch_max), []
    writer.after_commit = lambda: commits.append(1)
    return writer, commits


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[tuple[Writer, list[int]]]:
    writer, commits = _writer(tmp_path / "w.db")
    writer.start(asyncio.get_running_loop())
    yield writer, commits
    writer.stop()


async def test_ops_of_one_loop_turn_share_one_commit(running) -> None:
    """Ops submitted in one turn of the event loop are committed together, in order."""
    writer, commits = running
    futures = [writer.submit(lambda conn, i=i: i, notify=True) for i in range(50)]
    assert await asyncio.gather(*futures) == list(range(50))
    assert len(commits) == 1


async def test_batch_max_splits_one_turn_into_several_commits(tmp_path: Path) -> None:
    """More ops than commit_batch_max in one turn are committed in batches of at most that many."""
    writer, commits = _writer(tmp_path / "w.db", batch_max=2)
    writer.start(asyncio.get_running_loop())
    try:
        futures = [writer.submit(lambda conn, i=i: i, notify=True) for i in range(5)]
        assert await asyncio.gather(*futures) == list(range(5))
        assert len(commits) == 3
    finally:
        writer.stop()


async def test_an_op_not_handed_over_before_stop_fails(running) -> None:
    """An op submitted in the turn that stops the writer fails with StoreError, never hangs."""
    writer, _ = running
    future = writer.submit(lambda conn: 1)
    writer.stop()
    with pytest.raises(StoreError, match="closed"):
        await future


async def test_writers_of_one_file_take_turns_instead_of_failing(tmp_path: Path) -> None:
    """Two writers on one file, with SQLite's busy timeout at 0 (a taken lock fails at once),
    both commit every op: each waits for the other's turn (``<database>-lock``) first."""
    path = tmp_path / "t.db"

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA busy_timeout = 0")
        return conn

    setup = connect()
    setup.execute("CREATE TABLE t (n INTEGER)")
    setup.close()
    writers = [Writer(connect, 1000, Turns(f"{path}-lock")) for _ in range(2)]
    for writer in writers:
        writer.start(asyncio.get_running_loop())

    def insert(n: int) -> Callable[[sqlite3.Connection], None]:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO t VALUES (?)", (n,))
            time.sleep(0.001)  # hold the transaction a while: the other writer is waiting

        return op

    try:
        for round_ in range(20):
            await asyncio.gather(
                *(w.submit(insert(round_ * 10 + i)) for i in range(5) for w in writers)
            )
    finally:
        for writer in writers:
            writer.stop()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 20 * 5 * 2
    assert Path(f"{path}-lock").exists()
