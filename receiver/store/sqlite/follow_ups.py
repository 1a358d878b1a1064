"""Follow-up intents and the do-not-call list on SQLite. Each op runs in the writer's transaction.

The single writer serialises claims, so the guards' checks (do-not-call, calls per number,
chain depth) and the ``sending`` mark are atomic with respect to every other sender.
"""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from receiver.numbers import normalise_number
from receiver.store.base import (
    ClaimedFollowUp,
    Finish,
    FollowUpClaim,
    FollowUpGuards,
    FollowUpRecord,
)

_COLUMNS = """key, event_id, handler, call_id, to_number, from_number, request, not_before,
    depth, status, attempts, next_attempt_at, reconcile, vocode_call_id, reason, sent_at,
    created_at, updated_at"""


def record_follow_ups(conn: sqlite3.Connection, result: Finish, now: float) -> None:
    """Insert each intent once: a key already recorded (a retried handler) is left alone."""
    status = "pending" if result.side_effects else "suppressed"
    rows = []
    for request in result.follow_ups:
        event_id, handler, _ = request.key.split("/", 2)
        parent = conn.execute(
            "SELECT depth FROM follow_ups WHERE vocode_call_id = ? LIMIT 1", (request.call_id,)
        ).fetchone()
        rows.append(
            (request.key, event_id, handler, request.call_id, normalise_number(request.to_number),
             request.from_number, json.dumps(request.body()), request.not_before,
             (parent[0] if parent else 0) + 1, status, request.not_before, now, now)
        )  # fmt: skip
    conn.executemany(
        "INSERT INTO follow_ups (key, event_id, handler, call_id, to_number, from_number, request,"
        " not_before, depth, status, next_attempt_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        rows,
    )


def _refusal(
    conn: sqlite3.Connection, key: str, number: str, depth: int, guards: FollowUpGuards, now: float
) -> str | None:
    if conn.execute("SELECT 1 FROM do_not_call WHERE number = ?", (number,)).fetchone():
        return "do_not_call"
    if depth > guards.max_depth:
        return "depth"
    (recent,) = conn.execute(
        "SELECT count(*) FROM follow_ups WHERE to_number = ? AND sent_at >= ? AND key != ?"
        " AND status NOT IN ('rejected', 'refused', 'cancelled')",
        (number, now - guards.window_seconds, key),
    ).fetchone()
    return "cap" if recent >= guards.max_per_number else None


def claim(
    conn: sqlite3.Connection, limit: int, lease: float, guards: FollowUpGuards
) -> FollowUpClaim:
    now = time.time()
    rows = conn.execute(
        "SELECT key, attempts, to_number, request, depth, reconcile, status FROM follow_ups"
        " WHERE status IN ('pending', 'sending') AND next_attempt_at <= ?"
        " ORDER BY next_attempt_at LIMIT ?",
        (now, limit),
    ).fetchall()
    claimed, refused = [], []
    for key, attempts, number, request, depth, reconcile, status in rows:
        maybe_sent = bool(reconcile) or status == "sending"  # a sender died mid-request
        reason = None if maybe_sent else _refusal(conn, key, number, depth, guards, now)
        if reason is not None:
            conn.execute(
                "UPDATE follow_ups SET status = 'refused', reason = ?, updated_at = ?"
                " WHERE key = ?",
                (reason, now, key),
            )
            refused.append((key, reason))
            continue
        conn.execute(
            "UPDATE follow_ups SET status = 'sending', attempts = attempts + 1, lease_until = ?,"
            " next_attempt_at = ?, reconcile = ?, sent_at = ?, updated_at = ? WHERE key = ?",
            (now + lease, now + lease, int(maybe_sent), now, now, key),
        )
        claimed.append(
            ClaimedFollowUp(key, attempts + 1, number, json.loads(request), depth, maybe_sent)
        )
    return FollowUpClaim(claimed, refused)


def complete(
    conn: sqlite3.Connection,
    key: str,
    attempt: int,
    status: str,
    vocode_call_id: str | None,
    reason: str | None,
    next_attempt_at: float | None,
    reconcile: bool,
) -> bool:
    now = time.time()
    cursor = conn.execute(
        "UPDATE follow_ups SET status = ?, vocode_call_id = ?, reason = ?, next_attempt_at = ?,"
        " reconcile = ?, lease_until = NULL, updated_at = ?"
        " WHERE key = ? AND attempts = ? AND status = 'sending'",
        (status, vocode_call_id, reason, next_attempt_at or now, int(reconcile), now, key, attempt),
    )
    return cursor.rowcount == 1


def release(conn: sqlite3.Connection, key: str) -> bool:
    now = time.time()
    cursor = conn.execute(
        "UPDATE follow_ups SET status = 'pending', attempts = 0, next_attempt_at = ?,"
        " updated_at = ? WHERE key = ? AND status IN ('held', 'rejected', 'refused')",
        (now, now, key),
    )
    return cursor.rowcount == 1


def cancel(conn: sqlite3.Connection, key: str) -> bool:
    cursor = conn.execute(
        "UPDATE follow_ups SET status = 'cancelled', updated_at = ? WHERE key = ?"
        " AND status IN ('pending', 'held', 'rejected', 'refused', 'suppressed')",
        (time.time(), key),
    )
    return cursor.rowcount == 1


def list_follow_ups(
    conn: sqlite3.Connection, status: str | None, key: str | None, limit: int
) -> list[FollowUpRecord]:
    where, args = [], []
    if status is not None:
        where.append("status = ?")
        args.append(status)
    if key is not None:
        where.append("key = ?")
        args.append(key)
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    sql = f"SELECT {_COLUMNS} FROM follow_ups {clause} ORDER BY created_at DESC LIMIT ?"
    return [_record(row) for row in conn.execute(sql, (*args, limit))]


def _record(row: Any) -> FollowUpRecord:
    values = list(row)
    values[6] = json.loads(values[6])
    values[12] = bool(values[12])
    return FollowUpRecord(*values)


def dnc_add(conn: sqlite3.Connection, number: str, reason: str | None) -> None:
    conn.execute(
        "INSERT INTO do_not_call (number, reason, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT (number) DO UPDATE SET reason = excluded.reason",
        (normalise_number(number), reason, time.time()),
    )


def dnc_remove(conn: sqlite3.Connection, number: str) -> bool:
    cursor = conn.execute("DELETE FROM do_not_call WHERE number = ?", (normalise_number(number),))
    return cursor.rowcount == 1
