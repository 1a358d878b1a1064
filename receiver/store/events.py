"""Reading events back, releasing quarantined ones, and purging what retention no longer keeps."""

from __future__ import annotations

import time

from receiver.store import rows
from receiver.store.plan import Execute, Fetch, Plan, where_sql
from receiver.store.queries import Queries
from receiver.store.records import EventRecord, Released

_EVENT = f"SELECT {rows.EVENT_COLUMNS} FROM events"
QUARANTINED = "quarantine IS NOT NULL AND released_at IS NULL"  # as events_quarantined's WHERE


def get_event(event_id: str) -> Plan[EventRecord | None]:
    found = yield Fetch(f"{_EVENT} WHERE id = :id", {"id": event_id})
    return rows.event_record(found[0]) if found else None


def list_events(
    type: str | None, call_id: str | None, limit: int, quarantined: bool, before_seq: int | None
) -> Plan[list[EventRecord]]:
    params = {"type": type, "call_id": call_id, "limit": limit, "before": before_seq}
    clauses = [f"{c} = :{c}" for c in ("type", "call_id") if params[c] is not None]
    if quarantined:
        clauses.append(QUARANTINED)
    if before_seq is not None:
        clauses.append("seq < :before")
    found = yield Fetch(f"{_EVENT}{where_sql(clauses)} ORDER BY seq DESC LIMIT :limit", params)
    return [rows.event_record(row) for row in found]


def release_quarantined(
    q: Queries, event_id: str, envelope: str, dedup_key: str, handlers: tuple[str, ...]
) -> Plan[Released]:
    """Give a quarantined event the envelope its new model read, and its deliveries: once.

    The update's condition (still quarantined) is checked again under the row's lock, so of
    two reparses at once one releases and the other finds nothing to do. When another event
    already holds the new dedup key, this one is a duplicate of it: released, no deliveries.
    """
    found = yield Fetch(
        f"SELECT seq, call_id FROM events WHERE id = :id AND {QUARANTINED}", {"id": event_id}
    )
    if not found:
        return Released("not_quarantined")
    [(seq, call_id)] = found
    now = {"now": time.time()}
    other = yield Fetch(
        "SELECT id FROM events WHERE dedup_key = :key AND id != :id",
        {"key": dedup_key, "id": event_id},
    )
    if other:
        changed = yield Execute(
            f"UPDATE events SET released_at = {q.now} WHERE id = :id AND {QUARANTINED}",
            {"id": event_id, **now},
        )
        if not changed:
            return Released("not_quarantined")
        return Released("duplicate", duplicate_of=other[0][0])
    changed = yield Execute(
        f"UPDATE events SET envelope = :envelope, dedup_key = :key, released_at = {q.now}"
        f" WHERE id = :id AND {QUARANTINED}",
        {"id": event_id, "envelope": envelope, "key": dedup_key, **now},
    )
    if not changed:
        return Released("not_quarantined")
    for handler in handlers:
        yield Execute(
            "INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,"
            f" created_at, updated_at) VALUES (:seq, :id, :handler, :call_id, {q.now},"
            f" {q.now}, {q.now}) ON CONFLICT (event_seq, handler) DO NOTHING",
            {"seq": seq, "id": event_id, "handler": handler, "call_id": call_id, **now},
        )
    return Released("released", deliveries=len(handlers))


def update_quarantine(event_id: str, quarantine: str) -> Plan[bool]:
    """Record the errors a newer reading found in an event still quarantined."""
    changed = yield Execute(
        f"UPDATE events SET quarantine = :quarantine WHERE id = :id AND {QUARANTINED}",
        {"id": event_id, "quarantine": quarantine},
    )
    return bool(changed)


def count_events() -> Plan[int]:
    [(count,)] = yield Fetch("SELECT count(*) FROM events")
    return int(count)


FINISHED = "('done', 'dropped', 'skipped')"


def purge_chunk(q: Queries, before: float, after_seq: int, batch: int) -> Plan[rows.PurgeStep]:
    """Within the next ``batch`` events after ``after_seq``: delete the deliveries that
    finished before ``before``, then the events received before it that have none left.

    A delivery finishes after its event arrived, so walking the old events finds every
    finished delivery to delete, through the ``(event_seq, handler)`` index: deliveries need
    no index on their status for it. The walk ends at events newer than ``before``. A call
    is forgotten with its last event.
    """
    chunk = yield Fetch(
        "SELECT seq, received_at, call_id FROM events WHERE seq > :after ORDER BY seq"
        " LIMIT :limit",
        {"after": after_seq, "limit": batch},
    )
    if not chunk:
        return rows.PurgeStep(0, 0, None)
    old = [seq for seq, received_at, _ in chunk if received_at < before]
    deliveries = yield Execute(
        f"DELETE FROM deliveries WHERE {q.any_of('event_seq', 'seqs', 'bigint')}"
        f" AND status IN {FINISHED} AND next_attempt_at < :before",
        {"seqs": old, "before": before},
    )
    events = yield Execute(
        f"DELETE FROM events WHERE {q.any_of('seq', 'seqs', 'bigint')}"
        f" AND NOT ({QUARANTINED})"  # kept for an operator, as dead deliveries are
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)",
        {"seqs": old},
    )
    if events:
        calls = sorted({call_id for _, received_at, call_id in chunk if received_at < before})
        yield from forget_calls(q, calls, before)
    go_on = None if len(old) < len(chunk) else chunk[-1][0]
    return rows.PurgeStep(deliveries, events, go_on)


def forget_calls(q: Queries, call_ids: list[str], before: float) -> Plan[None]:
    """Forget the calls of ``call_ids`` last seen before ``before`` that no event is left of."""
    if call_ids:
        yield Execute(
            f"DELETE FROM calls WHERE {q.any_of('call_id', 'calls', 'text')}"
            " AND last_seen_at < :before"
            " AND NOT EXISTS (SELECT 1 FROM events e WHERE e.call_id = calls.call_id)",
            {"calls": call_ids, "before": before},
        )
