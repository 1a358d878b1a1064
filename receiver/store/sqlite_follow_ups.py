"""Follow-up intents of the SQLite store, written in the transaction of their delivery."""

from __future__ import annotations

import json
import sqlite3

from receiver.store.base import Finish


def record_follow_ups(conn: sqlite3.Connection, result: Finish, now: float) -> None:
    """Insert each intent once: a key already recorded (a retried handler) is left alone."""
    status = "pending" if result.side_effects else "suppressed"
    rows = []
    for request in result.follow_ups:
        event_id, handler, _ = request.key.split("/", 2)
        body = {
            "to_number": request.to_number,
            "from_number": request.from_number,
            "agent": request.agent,
            "context": request.context,
            **request.options,
        }
        rows.append(
            (
                request.key,
                event_id,
                handler,
                request.call_id,
                request.to_number,
                request.from_number,
                json.dumps(body),
                request.not_before,
                status,
                request.not_before,
                now,
                now,
            )
        )
    conn.executemany(
        "INSERT INTO follow_ups (key, event_id, handler, call_id, to_number, from_number, request,"
        " not_before, status, next_attempt_at, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
        rows,
    )
