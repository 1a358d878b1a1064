"""Reading events back, and purging what retention no longer keeps."""

from __future__ import annotations

from receiver.store import rows
from receiver.store.plan import Execute, Fetch, Plan, where_sql
from receiver.store.queries import Queries
from receiver.store.records import EventRecord

_EVENT = f"SELECT {rows.EVENT_COLUMNS} FROM events"


def get_event(event_id: str) -> Plan[EventRecord | None]:
    found = yield Fetch(f"{_EVENT} WHERE id = :id", {"id": event_id})
    return rows.event_record(found[0]) if found else None


def list_events(type: str | None, call_id: str | None, limit: int) -> Plan[list[EventRecord]]:
    params = {"type": type, "call_id": call_id, "limit": limit}
    filters = where_sql(f"{c} = :{c}" for c in ("type", "call_id") if params[c] is not None)
    found = yield Fetch(f"{_EVENT}{filters} ORDER BY seq DESC LIMIT :limit", params)
    return [rows.event_record(row) for row in found]


def count_events() -> Plan[int]:
    [(count,)] = yield Fetch("SELECT count(*) FROM events")
    return int(count)


FINISHED = "('done', 'dropped', 'skipped')"


def purge_chunk(q: Queries, before: float, after_seq: int, batch: int) -> Plan[rows.PurgeStep]:
    """Within the next ``batch`` events after ``after_seq``: delete the deliveries that
    finished before ``before``, then the events received before it that have none left.

    A delivery finishes after its event arrived, so walking the old events finds every
    finished delivery to delete, through the ``(event_seq, handler)`` index: deliveries need
    no index on their status for it. The walk ends at events newer than ``before``.
    """
    chunk = yield Fetch(
        "SELECT seq, received_at FROM events WHERE seq > :after ORDER BY seq LIMIT :limit",
        {"after": after_seq, "limit": batch},
    )
    if not chunk:
        return rows.PurgeStep(0, 0, None)
    old = [seq for seq, received_at in chunk if received_at < before]
    deliveries = yield Execute(
        f"DELETE FROM deliveries WHERE {q.any_of('event_seq', 'seqs', 'bigint')}"
        f" AND status IN {FINISHED} AND next_attempt_at < :before",
        {"seqs": old, "before": before},
    )
    events = yield Execute(
        f"DELETE FROM events WHERE {q.any_of('seq', 'seqs', 'bigint')}"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = events.seq)",
        {"seqs": old},
    )
    go_on = None if len(old) < len(chunk) else chunk[-1][0]
    return rows.PurgeStep(deliveries, events, go_on)
