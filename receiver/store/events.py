"""Reading events back, releasing quarantined ones, and purging what retention no longer keeps."""

from __future__ import annotations

import time

from receiver.store import rows
from receiver.store.deliveries import insert_deliveries
from receiver.store.plan import Execute, Fetch, Plan, where_sql
from receiver.store.queries import Queries
from receiver.store.records import EventPage, EventQuery, EventRecord, Released

_EVENT = f"SELECT {rows.EVENT_COLUMNS} FROM events"
QUARANTINED = "quarantine IS NOT NULL AND released_at IS NULL"  # as events_quarantined's WHERE


def get_event(event_id: str) -> Plan[EventRecord | None]:
    found = yield Fetch(f"{_EVENT} WHERE id = :id", {"id": event_id})
    return rows.event_record(found[0]) if found else None


def list_events(where: EventQuery) -> Plan[list[EventRecord]]:
    """Newest first, through the index of the one filter given (``events_type``,
    ``events_call``, ``events_quarantined``) or the primary key: a page costs the same at any
    depth, because it starts from a ``seq`` (keyset), never skips rows (OFFSET). A time range
    becomes a range of ``seq`` (:func:`first_seq_at`), so it narrows any of those walks."""
    low = (yield from first_seq_at(where.since)) if where.since is not None else None
    high = (yield from first_seq_at(where.until)) if where.until is not None else None
    params: dict[str, object] = {
        "type": where.type, "call_id": where.call_id, "limit": where.limit,
        "low": low, "high": high, "before": where.before_seq, "after": where.after_seq,
    }  # fmt: skip
    clauses = [f"{c} = :{c}" for c in ("type", "call_id") if params[c] is not None]
    if where.quarantined:
        clauses.append(QUARANTINED)
    for name, condition in (
        ("low", "seq >= :low"), ("high", "seq < :high"),
        ("before", "seq < :before"), ("after", "seq > :after"),
    ):  # fmt: skip
        if params[name] is not None:
            clauses.append(condition)
    order = "ASC" if where.after_seq is not None else "DESC"  # a newer page: read upwards
    found = yield Fetch(
        f"{_EVENT}{where_sql(clauses)} ORDER BY seq {order} LIMIT :limit", params
    )
    records = [rows.event_record(row) for row in found]
    return records[::-1] if order == "ASC" else records


def next_seq() -> Plan[int]:
    """One past the newest event's ``seq``: where a tail from now starts."""
    [(newest,)] = yield Fetch("SELECT max(seq) FROM events")
    return int(newest or 0) + 1


def first_seq_at(at: float) -> Plan[int]:
    """The lowest ``seq`` bound of the events received at or after ``at``: every such event
    has a ``seq`` at least this (one past the newest when there is none).

    Events are numbered in the order they are stored, which is the order they are received
    but for the requests of one group commit: so a bisection over the primary key (some 20
    lookups for a million events) finds it, with no index on ``received_at`` for intake to
    keep up.
    """
    [(low, high)] = yield Fetch(  # one aggregate per SELECT: each reads one end of the key
        "SELECT (SELECT min(seq) FROM events), (SELECT max(seq) FROM events)"
    )
    if low is None:
        return 1
    high += 1  # the bound when every event is older
    while low < high:
        middle = (low + high) // 2
        [(seq, received_at)] = yield Fetch(
            "SELECT seq, received_at FROM events WHERE seq >= :middle ORDER BY seq LIMIT 1",
            {"middle": middle},
        )
        if received_at >= at:
            high = middle  # no event is numbered between middle and seq
        else:
            low = seq + 1
    return int(low)


def events_after(after_seq: int, limit: int, newest: bool) -> Plan[EventPage]:
    """Events stored after ``after_seq``, oldest first: the next ``limit`` of them, or with
    ``newest`` the latest ``limit`` and the count of those left out between (a live tail
    that never falls behind, whatever the rate)."""
    params = {"after": after_seq, "limit": limit}
    order = "DESC" if newest else "ASC"
    found = yield Fetch(
        f"{_EVENT} WHERE seq > :after ORDER BY seq {order} LIMIT :limit", params
    )
    records = [rows.event_record(row) for row in found]
    if not newest:
        return EventPage(records)
    records.reverse()
    skipped = 0
    if len(records) == limit:
        [(skipped,)] = yield Fetch(
            "SELECT count(*) FROM events WHERE seq > :after AND seq < :first",
            {"after": after_seq, "first": records[0].seq},
        )
    return EventPage(records, int(skipped))


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
    yield from insert_deliveries(q, seq, event_id, call_id, handlers, now["now"])
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
