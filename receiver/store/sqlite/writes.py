"""What the SQLite store does its own way, as ops of the writer's transaction: store an
event with its deliveries, claim due deliveries, and record the ends of attempts.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from receiver.errors import StoreError
from receiver.events import TERMINAL_STAGES, TERMINAL_TYPES
from receiver.store import rows
from receiver.store.cursors import advance
from receiver.store.records import Claimed, ClaimRequest, Finish, NewEvent, Stored

_INSERT_EVENT = (
    "INSERT INTO events (id, dedup_key, type, call_id, received_at, method, headers, envelope,"
    " raw, trace_context, quarantine) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (dedup_key) DO NOTHING"
)
_INSERT_DELIVERY = (
    "INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


# The call of a new event is known from it on (a call known already moves on: a terminal
# event ends it once, a later one keeps the first). Most events are of a call known already:
# an update, and an insert only when it found none (cheaper than an upsert that says which).
_MOVE_CALL = """
    UPDATE calls SET
        events = events + 1,
        last_event_type = :type,
        last_seen_at = max(last_seen_at, :at),
        stage = CASE WHEN stage IN ('ended', 'did_not_connect') THEN stage ELSE :stage END,
        status = CASE WHEN :status = 'ended' AND status IN ('open', 'not_found', 'unreconciled')
            THEN 'ended' ELSE status END,
        terminal_event_id = coalesce(terminal_event_id, :terminal),
        updated_at = :at
    WHERE call_id = :call_id
"""
_NEW_CALL = """
    INSERT INTO calls (call_id, origin, status, stage, events, last_event_type, first_seen_at,
        last_seen_at, terminal_event_id, updated_at)
    VALUES (:call_id, 'event', :status, :stage, 1, :type, :at, :at, :terminal, :at)
"""
"""The stage a terminal event puts its call in; any other event, ``connected``."""


def add_event(conn: sqlite3.Connection, event: NewEvent) -> Stored:
    """Insert the event unless its dedup key is known, and a pending delivery per handler;
    track its call."""
    cursor = conn.execute(
        _INSERT_EVENT,
        (event.id, event.dedup_key, event.type, event.call_id, event.received_at,
         event.method, event.headers, event.envelope, event.raw, event.trace_context,
         event.quarantine),
    )  # fmt: skip
    if cursor.rowcount == 0:
        row = conn.execute("SELECT id FROM events WHERE dedup_key = ?", (event.dedup_key,))
        return Stored(row.fetchone()[0], True)
    if event.handlers:
        seq, now = cursor.lastrowid, event.received_at
        conn.executemany(
            _INSERT_DELIVERY,
            [(seq, event.id, h, event.call_id, now, now, now) for h in event.handlers],
        )
    terminal = event.type in TERMINAL_TYPES
    call = {
        "call_id": event.call_id,
        "status": "ended" if terminal else "open",
        "stage": TERMINAL_STAGES.get(event.type, "connected"),
        "type": event.type,
        "at": event.received_at,
        "terminal": event.id if terminal else None,
    }
    if conn.execute(_MOVE_CALL, call).rowcount:
        return Stored(event.id, False)
    conn.execute(_NEW_CALL, call)
    return Stored(event.id, False, new_call=True)


_ACTIVE = "('pending', 'running')"
# Due rows of an unordered handler come from deliveries_active (version 10), its own rows in
# due order: a claim reads what it takes, however many rows of other handlers are due (from
# deliveries_due it walked all of those first, a backlog whose handler had no free slot).
_DUE = f"""
    SELECT d.id, d.handler, d.attempts, d.event_seq, d.event_id, d.call_id, d.side_effects,
        d.next_attempt_at
    FROM deliveries d
    WHERE d.handler = ? AND d.status IN {_ACTIVE} AND d.next_attempt_at <= ?
    ORDER BY d.next_attempt_at
    LIMIT ?
"""
# An ordered handler is offered the head of each call only: its earliest active delivery. The
# heads are found by a skip scan of deliveries_active_call, one index probe per call however
# deep its backlog, that starts after the handler's cursor (store/cursors.py) and stops once it
# has seen :wanted due heads; the earliest due among them are taken. A claim reads about what
# it takes, however many calls wait. {op} is ">" for the walk from the cursor, ">=" for the
# one that wraps around from the first call up to the cursor (:until). A head is due when its
# time has come: pending and due, or running with an expired lease.
_HEAD = f"""(SELECT h.id FROM deliveries h
    WHERE h.handler = :handler AND h.call_id = walk.call_id AND h.status IN {_ACTIVE}
    ORDER BY h.event_seq LIMIT 1)"""
_HEADS = f"""
    WITH RECURSIVE walk(call_id, found) AS (
        SELECT (SELECT min(call_id) FROM deliveries
                WHERE handler = :handler AND status IN {_ACTIVE} AND call_id {{op}} :after), 0
        UNION ALL
        SELECT (SELECT min(call_id) FROM deliveries
                WHERE handler = :handler AND status IN {_ACTIVE} AND call_id > walk.call_id),
            walk.found + coalesce(
                (SELECT d.next_attempt_at <= :now FROM deliveries d WHERE d.id = {_HEAD}), 0)
        FROM walk
        WHERE walk.call_id IS NOT NULL AND walk.found < :wanted
          AND (:until IS NULL OR walk.call_id <= :until)
    )
    SELECT d.id, d.handler, d.attempts, d.event_seq, d.event_id, d.call_id, d.side_effects,
        d.next_attempt_at
    FROM walk JOIN deliveries d ON d.id = {_HEAD}
    WHERE (:until IS NULL OR walk.call_id <= :until) AND d.next_attempt_at <= :now
    ORDER BY d.next_attempt_at
    LIMIT :slots
"""


def _heads(
    conn: sqlite3.Connection, handler: str, slots: int, now: float, cursor: str
) -> list[tuple[Any, ...]]:
    """Up to ``slots`` due heads of ``handler``: from the calls after ``cursor``, then,
    if those had too few, from the first call up to it."""
    params = {"handler": handler, "now": now, "slots": slots, "wanted": 2 * slots}
    after = {"after": cursor, "until": None}
    found = conn.execute(_HEADS.format(op=">"), params | after).fetchall()
    if len(found) < slots:
        around = {"after": "", "until": cursor, "slots": slots - len(found)}
        found += conn.execute(_HEADS.format(op=">="), params | around).fetchall()
    return found


def _marks(n: int) -> str:
    return ",".join("?" * n)


def claim(
    conn: sqlite3.Connection, request: ClaimRequest, cursors: dict[str, str]
) -> list[Claimed]:
    """Lease the earliest due deliveries, within each handler's slots and the limit;
    ``cursors`` (per ordered handler) is where its walk over the calls starts, and is moved on."""
    ordered, leases = request.ordered, request.leases
    wanted = {h: n for h, n in request.slots.items() if n > 0}
    total = sum(wanted.values())
    if request.limit is not None:
        total = min(total, request.limit)
    if total <= 0:
        return []
    now = time.time()
    due = []
    for handler in (h for h in wanted if h not in ordered):
        due += conn.execute(_DUE, (handler, now, min(wanted[handler], total))).fetchall()
    for handler in (h for h in wanted if h in ordered):
        due += _heads(conn, handler, wanted[handler], now, cursors.get(handler, ""))
    due.sort(key=lambda row: row[7])  # the earliest due first, whatever its handler
    taken = []
    for row in due:
        if wanted[row[1]] > 0:
            wanted[row[1]] -= 1
            taken.append(row)
            if len(taken) == total:
                break
    if not taken:
        return []
    advance(cursors, [(r[1], r[5]) for r in taken if r[1] in ordered])
    conn.executemany(
        "UPDATE deliveries SET status = 'running', attempts = attempts + 1, lease_until = ?,"
        " next_attempt_at = ?, updated_at = ? WHERE id = ?",
        [(now + leases[r[1]], now + leases[r[1]], now, r[0]) for r in taken],
    )
    seqs = sorted({r[3] for r in taken})
    events = {
        seq: (envelope, trace)
        for seq, envelope, trace in conn.execute(
            f"SELECT seq, envelope, trace_context FROM events WHERE seq IN ({_marks(len(seqs))})",
            seqs,
        )
    }
    return [
        rows.claimed((r[0], r[2] + 1, r[1], r[4], r[5], *events[r[3]][:1], r[6], events[r[3]][1]))
        for r in taken
    ]


_FINISH = (
    "UPDATE deliveries SET status = ?, next_attempt_at = ?, lease_until = NULL,"
    " last_error = coalesce(?, last_error), updated_at = ?"
    " WHERE id = ? AND attempts = ? AND status = 'running'"
)
# The chain depth of an intent is one more than that of the follow-up that created its call.
_RECORD = f"""
    INSERT INTO follow_ups ({rows.FOLLOW_UP_INSERT}, depth, next_attempt_at, created_at,
        updated_at)
    SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
        coalesce((SELECT p.depth FROM follow_ups p WHERE p.vocode_call_id = ?4 LIMIT 1), 0) + 1,
        ?8, ?11, ?11
    WHERE true  -- an INSERT ... SELECT needs it before an upsert clause
    ON CONFLICT (key) DO NOTHING"""


def finish(conn: sqlite3.Connection, result: Finish) -> bool:
    """Record one attempt's end, and the follow-ups it asked for, if its lease still holds."""
    now = time.time()
    status = "pending" if result.status == "retry" else result.status
    next_at = result.next_attempt_at if result.next_attempt_at is not None else now
    cursor = conn.execute(
        _FINISH, (status, next_at, result.error, now, result.id, result.attempt)
    )
    if cursor.rowcount != 1:
        return False  # the lease expired and another worker owns this delivery now
    if result.follow_ups:
        conn.executemany(_RECORD, [(*row, now) for row in rows.follow_up_rows(result)])
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
