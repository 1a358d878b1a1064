"""SQLite deliveries: outcomes written together are recorded each on its own; claims check a
call's order among its active deliveries only."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from receiver.context import FollowUpRequest
from receiver.errors import StoreError
from receiver.store.base import Finish, NewEvent
from receiver.store.sqlite import SQLiteStore
from receiver.store.sqlite_deliveries import _DUE

HANDLER = "t.h"


def _event(n: int, call_id: str) -> NewEvent:
    envelope = json.dumps({"type": "event_message", "call_id": call_id, "payload": {}})
    return NewEvent(f"evt_{n:08d}", f"k{n}", "event_message", call_id, time.time(), "POST",
                    "{}", envelope, envelope.encode(), (HANDLER,))  # fmt: skip


def _follow_up(key: str, context: dict) -> FollowUpRequest:
    return FollowUpRequest(key, "c1", "+15555550123", "+15555550199", "agent-1", context,
                           time.time(), {})  # fmt: skip


async def test_finish_many_records_each_on_its_own(store: SQLiteStore, read_rows) -> None:
    """A result that cannot be written is answered its error; the others are recorded."""
    for n in range(3):
        await store.add_event(_event(n, f"c{n}"))
    a, b, c = await store.claim({HANDLER: 3}, frozenset(), {HANDLER: 60.0})
    answers = await store.finish_many(
        [
            Finish(a.id, a.attempt, "done", follow_ups=(_follow_up("a/t.h/1", {"n": "1"}),)),
            Finish(b.id, b.attempt, "done", follow_ups=(_follow_up("b/t.h/1", {"x": object()}),)),
            Finish(c.id, c.attempt + 1, "done"),  # not this attempt's lease any more
        ]
    )
    assert answers[0] is True and isinstance(answers[1], StoreError) and answers[2] is False
    rows = dict(read_rows("SELECT id, status FROM deliveries"))
    assert (rows[a.id], rows[b.id], rows[c.id]) == ("done", "running", "running")
    assert read_rows("SELECT key FROM follow_ups") == [("a/t.h/1",)]


async def test_order_check_reads_active_deliveries_only(store: SQLiteStore, db_path: Path) -> None:
    """The claim finds due rows by status and time and checks a call's earlier deliveries
    through the index of active rows, so a long finished history is never read."""
    sql = "EXPLAIN QUERY PLAN " + _DUE.format(handlers="?", ordered="?")
    conn = sqlite3.connect(db_path)
    try:
        rows = conn.execute(sql, (time.time(), HANDLER, HANDLER, 10)).fetchall()
    finally:
        conn.close()
    plan = " / ".join(row[3] for row in rows)
    assert "SEARCH d USING INDEX deliveries_due" in plan
    assert "SEARCH p USING INDEX deliveries_active_call" in plan
