"""The SQLite writer thread: how submitted ops are grouped into commits."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from receiver.errors import StoreError
from receiver.store.sqlite.writer import Writer


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
