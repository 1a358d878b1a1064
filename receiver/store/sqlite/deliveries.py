"""Delivery operations of the SQLite store. Each runs inside the writer's transaction."""

from __future__ import annotations

import json
import sqlite3
import time
from typing import Any

from receiver.errors import StoreError
from receiver.store.base import Claimed, DeliveryFilter, DeliveryRecord, Finish, HandlerStats
from receiver.store.sqlite.follow_ups import record_follow_ups

_ACTIVE = "('pending', 'running')"
# Due rows of unordered handlers come from deliveries_due (``+d.handler``: not from an index
# on the handler, which would walk every active row).
_DUE = f"""
    SELECT d.id, d.handler, d.attempts, d.event_seq, d.event_id, d.call_id, d.side_effects,
        d.next_attempt_at
    FROM deliveries d
    WHERE d.status IN {_ACTIVE} AND d.next_attempt_at <= ? AND +d.handler IN ({{handlers}})
    LIMIT ?
"""
# An ordered handler is offered the head of each call only: its earliest active delivery.
# The heads are found by a skip scan of deliveries_active_call (one index probe per call
# with active deliveries, however deep a call's backlog), then the due ones taken.
_HEADS = f"""
    WITH RECURSIVE calls(call_id) AS (
        SELECT (SELECT min(call_id) FROM deliveries
                WHERE handler = :handler AND status IN {_ACTIVE})
        UNION ALL
        SELECT (SELECT min(call_id) FROM deliveries
                WHERE handler = :handler AND status IN {_ACTIVE} AND call_id > calls.call_id)
        FROM calls WHERE calls.call_id IS NOT NULL
    )
    SELECT d.id, d.handler, d.attempts, d.event_seq, d.event_id, d.call_id, d.side_effects,
        d.next_attempt_at
    FROM calls JOIN deliveries d ON d.id = (
        SELECT h.id FROM deliveries h
        WHERE h.handler = :handler AND h.call_id = calls.call_id AND h.status IN {_ACTIVE}
        ORDER BY h.event_seq LIMIT 1)
    WHERE d.next_attempt_at <= :now
    ORDER BY d.next_attempt_at
    LIMIT :slots
"""
_DELIVERY_COLUMNS = """d.id, d.event_id, e.type, d.handler, d.call_id, d.status, d.attempts,
    d.next_attempt_at, d.lease_until, d.last_error, d.side_effects, d.created_at, d.updated_at"""


def _marks(n: int) -> str:
    return ",".join("?" * n)


def claim(
    conn: sqlite3.Connection,
    slots: dict[str, int],
    ordered: frozenset[str],
    leases: dict[str, float],
    limit: int | None = None,
) -> list[Claimed]:
    wanted = {h: n for h, n in slots.items() if n > 0}
    total = sum(wanted.values())
    if limit is not None:
        total = min(total, limit)
    if total <= 0:
        return []
    now = time.time()
    rows = []
    unordered = [h for h in wanted if h not in ordered]
    if unordered:
        sql = _DUE.format(handlers=_marks(len(unordered)))
        rows += conn.execute(sql, (now, *unordered, total * 2)).fetchall()
    for handler in (h for h in wanted if h in ordered):
        params = {"handler": handler, "now": now, "slots": wanted[handler]}
        rows += conn.execute(_HEADS, params).fetchall()
    rows.sort(key=lambda row: row[7])  # the earliest due first, whatever its handler
    taken = []
    for row in rows:
        if wanted[row[1]] > 0:
            wanted[row[1]] -= 1
            taken.append(row)
            if len(taken) == total:
                break
    if not taken:
        return []
    conn.executemany(
        "UPDATE deliveries SET status = 'running', attempts = attempts + 1, lease_until = ?,"
        " next_attempt_at = ?, updated_at = ? WHERE id = ?",
        [(now + leases[r[1]], now + leases[r[1]], now, r[0]) for r in taken],
    )
    seqs = sorted({r[3] for r in taken})
    envelopes = dict(
        conn.execute(f"SELECT seq, envelope FROM events WHERE seq IN ({_marks(len(seqs))})", seqs)
    )
    return [
        Claimed(
            id=r[0],
            attempt=r[2] + 1,
            handler=r[1],
            event_id=r[4],
            call_id=r[5],
            envelope=json.loads(envelopes[r[3]]),
            side_effects=bool(r[6]),
        )
        for r in taken
    ]


def finish(conn: sqlite3.Connection, result: Finish) -> bool:
    now = time.time()
    status = "pending" if result.status == "retry" else result.status
    next_at = result.next_attempt_at if result.next_attempt_at is not None else now
    cursor = conn.execute(
        "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,"
        " last_error = coalesce(?, last_error), updated_at = ?"
        " WHERE id = ? AND attempts = ? AND status = 'running'",
        (status, next_at, result.error, now, result.id, result.attempt),
    )
    if cursor.rowcount != 1:
        return False  # the lease expired and another worker owns this delivery now
    if result.follow_ups:
        record_follow_ups(conn, result, now)
    return True


def finish_many(conn: sqlite3.Connection, results: list[Finish]) -> list[bool | StoreError]:
    answers: list[bool | StoreError] = []
    for result in results:
        if not result.follow_ups:  # one statement: it fails (if ever) without side effects
            answers.append(_guarded(conn, result))
            continue
        conn.execute("SAVEPOINT finish")  # follow-ups too: all of this attempt's rows or none
        answer = _guarded(conn, result)
        if isinstance(answer, StoreError):
            conn.execute("ROLLBACK TO finish")
        conn.execute("RELEASE finish")
        answers.append(answer)
    return answers


def _guarded(conn: sqlite3.Connection, result: Finish) -> bool | StoreError:
    """``finish``, answering the errors of this one result (a follow-up that is not JSON, a
    constraint); an error of the database itself (I/O, full, locked) ends the whole write."""
    try:
        return finish(conn, result)
    except (sqlite3.IntegrityError, sqlite3.InterfaceError, ValueError, TypeError) as exc:
        return StoreError(str(exc))  # as the writer words an op's error


def release(conn: sqlite3.Connection, claims: list[tuple[int, int]]) -> None:
    now = time.time()
    conn.executemany(
        "UPDATE deliveries SET status = 'pending', attempts = attempts - 1, lease_until = NULL,"
        " next_attempt_at = ?, updated_at = ? WHERE id = ? AND attempts = ? AND status = 'running'",
        [(now, now, delivery_id, attempt) for delivery_id, attempt in claims],
    )


def requeue(conn: sqlite3.Connection, ids: list[int], side_effects: bool) -> int:
    now = time.time()
    cursor = conn.executemany(
        "UPDATE deliveries SET status = 'pending', attempts = 0, lease_until = NULL,"
        " next_attempt_at = ?, side_effects = ?, updated_at = ? WHERE id = ?"
        " AND status != 'running'",
        [(now, int(side_effects), now, i) for i in ids],
    )
    return cursor.rowcount


def list_deliveries(conn: sqlite3.Connection, where: DeliveryFilter) -> list[DeliveryRecord]:
    clauses, args = _filter(where)
    sql = (
        f"SELECT {_DELIVERY_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq"
        f" {clauses} ORDER BY d.id DESC"
    )
    if where.limit is not None:
        sql += " LIMIT ?"
        args.append(where.limit)
    return [_record(row) for row in conn.execute(sql, args)]


def _filter(where: DeliveryFilter) -> tuple[str, list[Any]]:
    clauses, args = [], []
    for column, value, op in (
        ("d.status", where.status, "="),
        ("d.handler", where.handler, "="),
        ("e.type", where.type, "="),
        ("d.created_at", where.since, ">="),
        ("d.created_at", where.until, "<"),
    ):
        if value is not None:
            clauses.append(f"{column} {op} ?")
            args.append(value)
    if where.ids:
        clauses.append(f"d.id IN ({_marks(len(where.ids))})")
        args.extend(where.ids)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", args


def _record(row: Any) -> DeliveryRecord:
    return DeliveryRecord(*row[:10], bool(row[10]), row[11], row[12])


def stats(conn: sqlite3.Connection) -> dict[str, HandlerStats]:
    now = time.time()
    out: dict[str, HandlerStats] = {}
    for handler, count, oldest in conn.execute(
        f"SELECT handler, count(*), min(created_at) FROM deliveries WHERE status IN {_ACTIVE}"
        " GROUP BY handler"
    ):
        out[handler] = HandlerStats(count, max(0.0, now - oldest), 0)
    for handler, dead in conn.execute(
        "SELECT handler, count(*) FROM deliveries WHERE status = 'dead' GROUP BY handler"
    ):
        previous = out.get(handler, HandlerStats(0, 0.0, 0))
        out[handler] = HandlerStats(previous.pending, previous.oldest_pending_age, dead)
    return out


_FINISHED = "('done', 'dropped', 'skipped')"


def purge_deliveries(conn: sqlite3.Connection, before: float, batch: int) -> int:
    """Delete up to ``batch`` deliveries that finished before ``before`` (a finished row's
    ``next_attempt_at`` is when it finished, which the ``deliveries_due`` index covers)."""
    cursor = conn.execute(
        "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries"
        f" WHERE status IN {_FINISHED} AND next_attempt_at < ? LIMIT ?)",
        (before, batch),
    )
    return cursor.rowcount


def purge_events(
    conn: sqlite3.Connection, before: float, after_seq: int, batch: int
) -> tuple[int, int | None]:
    """Walk ``batch`` events after ``after_seq``; delete those received before ``before`` that
    have no delivery left. Answers (deleted, where to go on from; None once the walk reaches
    events newer than ``before``, or the end)."""
    chunk = conn.execute(
        "SELECT seq, received_at FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, batch),
    ).fetchall()
    if not chunk:
        return 0, None
    cursor = conn.execute(
        "DELETE FROM events WHERE seq BETWEEN ? AND ? AND received_at < ?"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)",
        (chunk[0][0], chunk[-1][0], before),
    )
    newer = any(received_at >= before for _, received_at in chunk)
    return cursor.rowcount, None if newer else chunk[-1][0]
