"""SQLite deliveries: outcomes written together are recorded each on its own; claims find a
call's head among its active deliveries only."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from receiver.delivery.context import FollowUpRequest
from receiver.errors import StoreError
from receiver.store.base import Finish, NewEvent
from receiver.store.sqlite.deliveries import _HEADS
from receiver.store.sqlite.store import SQLiteStore

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


async def test_ordered_claim_probes_the_index_of_active_rows(
    store: SQLiteStore, db_path: Path
) -> None:
    """An ordered handler's heads come from index probes on the active rows (one per call),
    never from a scan, so neither a deep backlog nor a long finished history is read."""
    conn = sqlite3.connect(db_path)
    try:
        params = {"handler": HANDLER, "now": time.time(), "slots": 10}
        rows = conn.execute("EXPLAIN QUERY PLAN " + _HEADS, params).fetchall()
    finally:
        conn.close()
    plan = " / ".join(row[3] for row in rows)
    assert plan.count("INDEX deliveries_active_call") >= 3, plan  # first, next, head
    assert "SCAN d" not in plan and "SCAN deliveries" not in plan, plan
