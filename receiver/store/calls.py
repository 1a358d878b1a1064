"""The calls the receiver knows: claimed for a lookup, the lookup's outcome recorded (with the
terminal event it synthesised, once), read back by operators; and the Call fetched for an
event (enrichment).

Intake makes a call known, or moves it on, in the same write as its events (in each dialect's
own intake statement: ``store/sqlite/writes.py``, ``store/postgres/intake.py``); a follow-up
that created a call makes it known in the write that records it created
(:func:`track_created`).
"""

from __future__ import annotations

import time

from receiver.events import TERMINAL_SQL
from receiver.store.call_records import CallRecord, CallStats, ClaimedCall, Looked, Lookup
from receiver.store.deliveries import insert_deliveries
from receiver.store.plan import Execute, Fetch, Plan, where_sql
from receiver.store.queries import Queries

CALL_COLUMNS = """call_id, origin, status, stage, events, last_event_type, first_seen_at,
    last_seen_at, lookups, next_check_at, lease_until, last_result, terminal_event_id,
    updated_at"""


def claim_calls(q: Queries, limit: int, lease: float, after: float) -> Plan[list[ClaimedCall]]:
    """Lease up to ``limit`` open calls whose last event (or creation) is ``after`` seconds
    old and whose next check is due; each lookup's number is its fencing token."""
    now = time.time()
    due = yield Fetch(q.calls_due, {"now": now, "after": after, "limit": limit})
    if not due:
        return []
    [(now,)] = yield Fetch(f"SELECT {q.now}", {"now": now})
    claimed = []
    for call_id, lookups, last_seen_at, stage in due:
        yield Execute(
            "UPDATE calls SET lookups = lookups + 1, lease_until = :until, updated_at = :now"
            " WHERE call_id = :call_id",
            {"until": now + lease, "now": now, "call_id": call_id},
        )
        claimed.append(ClaimedCall(call_id, lookups + 1, last_seen_at, stage))
    return claimed


def record_lookup(q: Queries, lookup: Lookup) -> Plan[Looked]:
    """Record a lookup's outcome if its lease still holds; with an event, store it unless the
    call has a terminal event already (then that one is the answer, and nothing is made).

    The call's lock (PostgreSQL: the one intake takes per call) is taken first, so a real
    terminal event being stored at the same moment is either seen here or finds this one as
    its duplicate: the unique dedup key decides, and handlers get one of them."""
    now = time.time()
    yield Execute(q.lock_call, {"call_id": lookup.call_id})
    found = yield Fetch(
        "SELECT status FROM calls WHERE call_id = :call_id AND lookups = :attempt"
        " AND lease_until IS NOT NULL",
        {"call_id": lookup.call_id, "attempt": lookup.attempt},
    )
    if not found:
        return Looked("lease_lost")
    status, event_id, made = lookup.status, None, False
    if found[0][0] != "open":  # its terminal event came meanwhile: that settles it
        status = found[0][0]
    elif lookup.event is not None:
        event_id, made = yield from _terminal_event(q, lookup, now)
        status = "synthesized" if made else "reconciled"
    yield Execute(
        f"UPDATE calls SET status = :status, stage = coalesce(:stage, stage),"
        f" last_result = :result, next_check_at = :next, lease_until = NULL,"
        f" terminal_event_id = coalesce(terminal_event_id, :event_id), updated_at = {q.now}"
        " WHERE call_id = :call_id",
        {
            "status": status,
            "stage": lookup.stage,
            "result": lookup.result,
            "next": lookup.next_check_at,
            "event_id": event_id,
            "call_id": lookup.call_id,
            "now": now,
        },
    )
    return Looked("recorded", status, event_id, made)


def _terminal_event(q: Queries, lookup: Lookup, now: float) -> Plan[tuple[str, bool]]:
    """The call's terminal event: one stored already (before it was tracked, or of the
    other type), else ``lookup.event``, stored with its deliveries. (id, whether made)."""
    event = lookup.event
    assert event is not None
    known = yield Fetch(
        f"SELECT id FROM events WHERE call_id = :call_id AND type IN {TERMINAL_SQL}"
        " ORDER BY seq LIMIT 1",
        {"call_id": event.call_id},
    )
    if known:
        return known[0][0], False
    inserted = yield Execute(
        "INSERT INTO events (id, dedup_key, type, call_id, received_at, method, headers,"
        " envelope, raw, call_snapshot) VALUES (:id, :key, :type, :call_id, :at, :method,"
        " :headers, :envelope, :raw, :snapshot) ON CONFLICT (dedup_key) DO NOTHING",
        {
            "id": event.id, "key": event.dedup_key, "type": event.type,
            "call_id": event.call_id, "at": event.received_at, "method": event.method,
            "headers": event.headers, "envelope": event.envelope, "raw": event.raw,
            "snapshot": lookup.snapshot,
        },
    )  # fmt: skip
    if not inserted:  # stored by intake a moment ago (SQLite: never; its writer is one)
        [(other,)] = yield Fetch(
            "SELECT id FROM events WHERE dedup_key = :key", {"key": event.dedup_key}
        )
        return other, False
    [(seq,)] = yield Fetch("SELECT seq FROM events WHERE id = :id", {"id": event.id})
    yield from insert_deliveries(q, seq, event.id, event.call_id, event.handlers, now)
    return event.id, True


def track_created(q: Queries, call_id: str, now: float) -> Plan[None]:
    """A call a follow-up created is known from then on, even if none of its events comes."""
    yield Execute(
        "INSERT INTO calls (call_id, origin, status, stage, first_seen_at, last_seen_at,"
        f" updated_at) VALUES (:call_id, 'follow_up', 'open', 'created', {q.now}, {q.now},"
        f" {q.now}) ON CONFLICT (call_id) DO NOTHING",
        {"call_id": call_id, "now": now},
    )


def list_calls(status: str | None, call_id: str | None, limit: int) -> Plan[list[CallRecord]]:
    clauses = [f"{c} = :{c}" for c, v in (("status", status), ("call_id", call_id)) if v]
    found = yield Fetch(
        f"SELECT {CALL_COLUMNS} FROM calls{where_sql(clauses)}"
        " ORDER BY first_seen_at DESC LIMIT :limit",
        {"status": status, "call_id": call_id, "limit": limit},
    )
    return [CallRecord(*row) for row in found]


def call_stats() -> Plan[CallStats]:
    """Through calls_open: the open rows only."""
    [(count,)] = yield Fetch("SELECT count(*) FROM calls WHERE status = 'open'")
    return CallStats(int(count))


def call_snapshot(event_id: str) -> Plan[str | None]:
    """The Call fetched for an event (JSON; ``null`` when the API did not know it), or None
    when none was fetched yet."""
    found = yield Fetch("SELECT call_snapshot FROM events WHERE id = :id", {"id": event_id})
    return found[0][0] if found else None


def save_call_snapshot(event_id: str, snapshot: str) -> Plan[str | None]:
    """Keep the Call fetched for an event, unless one is kept already: answer the one kept."""
    yield Execute(
        "UPDATE events SET call_snapshot = :snapshot WHERE id = :id AND call_snapshot IS NULL",
        {"snapshot": snapshot, "id": event_id},
    )
    kept = yield from call_snapshot(event_id)
    return kept
