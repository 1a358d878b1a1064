"""New events on PostgreSQL: one statement stores a whole batch of events and their deliveries.

The unique constraint on ``dedup_key`` decides duplicates, across every receiver process:
``ON CONFLICT DO NOTHING`` skips a key already stored (or waits for the transaction that is
storing it), and the ids of those are read back afterwards. Rows are inserted in dedup-key
order so that two receivers' batches holding the same keys cannot deadlock; sequence numbers
are drawn first, in arrival order, so ``seq`` still orders each call's events as they came.

The same statement makes each call of the batch known (``calls``), or moves it on: its
events counted, its last one noted, its stage and status set by a terminal event (the first
one stays). The calls the statement made known come back, for the tracked-calls metric.

A batch first takes a transaction-level advisory lock per call it holds events of (in one
order for every batch, so batches cannot deadlock on them), and draws its sequence numbers
only then. Two batches with events of one call (two receivers, or one receiver's two writes
in flight) therefore commit in the order of their numbers: a worker can never see a call's
later event committed while an earlier one is still to come, which would make the earlier
one the call's head while the later one runs.
"""

from __future__ import annotations

from receiver.errors import StoreError
from receiver.events import TERMINAL_SQL, TERMINAL_STAGES
from receiver.store.postgres.batch import Connection
from receiver.store.records import NewEvent, Stored

CHANNEL = "receiver_deliveries"  # NOTIFY'd when deliveries become due
NOW = "extract(epoch FROM clock_timestamp())::float8"
_STAGE = "".join(f" WHEN '{t}' THEN '{s}'" for t, s in TERMINAL_STAGES.items())

_INSERT = f"""
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[],
                         $6::text[], $7::text[], $8::text[], $9::bytea[], $12::text[],
                         $13::text[])
        WITH ORDINALITY AS t(id, dedup_key, type, call_id, received_at, method, headers,
                             envelope, raw, trace_context, quarantine, ord)
), locked AS (  -- each call's lock, in one order for every batch: held until this commits
    SELECT count(pg_advisory_xact_lock(k)) AS n FROM (
        SELECT DISTINCT hashtextextended('receiver.call:' || call_id, 0) AS k FROM input
        ORDER BY k OFFSET 0
    ) calls
), numbered AS (  -- numbers drawn once the locks are held
    SELECT nextval('events_seq') AS seq, i.* FROM (SELECT * FROM input ORDER BY ord) i
    WHERE (SELECT n FROM locked) >= 0
), inserted AS (
    INSERT INTO events (seq, id, dedup_key, type, call_id, received_at, method, headers,
                        envelope, raw, trace_context, quarantine)
    SELECT seq, id, dedup_key, type, call_id, received_at, method, headers::json,
           envelope::json, raw, trace_context, quarantine::json
    FROM numbered ORDER BY dedup_key
    ON CONFLICT (dedup_key) DO NOTHING
    RETURNING seq, id, dedup_key, call_id, type, received_at
), batch_calls AS (  -- what each call's new events say: how many, the last, the first terminal
    SELECT call_id, count(*) AS n, min(received_at) AS first, max(received_at) AS at,
        (array_agg(type ORDER BY seq DESC))[1] AS last_type,
        (array_agg(id ORDER BY seq) FILTER (WHERE type IN {TERMINAL_SQL}))[1] AS terminal_id,
        (array_agg(type ORDER BY seq) FILTER (WHERE type IN {TERMINAL_SQL}))[1] AS terminal_type
    FROM inserted GROUP BY call_id
), tracked AS (  -- rows in call order; each call's lock is held already (locked)
    INSERT INTO calls (call_id, origin, status, stage, events, last_event_type, first_seen_at,
                       last_seen_at, terminal_event_id, updated_at)
    SELECT c.call_id, 'event', CASE WHEN c.terminal_id IS NULL THEN 'open' ELSE 'ended' END,
        CASE c.terminal_type{_STAGE} ELSE 'connected' END,
        c.n, c.last_type, c.first, c.at, c.terminal_id, c.at
    FROM batch_calls c ORDER BY c.call_id
    ON CONFLICT (call_id) DO UPDATE SET
        events = calls.events + excluded.events,
        last_event_type = excluded.last_event_type,
        last_seen_at = greatest(calls.last_seen_at, excluded.last_seen_at),
        stage = CASE WHEN calls.stage IN ('ended', 'did_not_connect') THEN calls.stage
            ELSE excluded.stage END,
        status = CASE WHEN excluded.status = 'ended'
            AND calls.status IN ('open', 'not_found', 'unreconciled') THEN 'ended'
            ELSE calls.status END,
        terminal_event_id = coalesce(calls.terminal_event_id, excluded.terminal_event_id),
        updated_at = excluded.updated_at
    RETURNING call_id, xmax = 0 AS made
), delivered AS (
    INSERT INTO deliveries (event_seq, event_id, handler, call_id, next_attempt_at,
                            created_at, updated_at)
    SELECT i.seq, i.id, h.handler, i.call_id, n.t, n.t, n.t
    FROM inserted i
    JOIN unnest($10::text[], $11::text[]) AS h(event_id, handler) ON h.event_id = i.id
    CROSS JOIN (SELECT {NOW} AS t) n
    RETURNING event_seq
), notified AS (  -- wakes every LISTENing worker when this statement commits
    SELECT pg_notify('{CHANNEL}', '') FROM (SELECT 1 FROM delivered LIMIT 1) AS any_delivery
)
SELECT id, dedup_key, NULL AS new_call FROM inserted
UNION ALL SELECT NULL, NULL, NULL FROM notified
UNION ALL SELECT NULL, NULL, call_id FROM tracked WHERE made
"""
_KNOWN = "SELECT dedup_key, id FROM events WHERE dedup_key = any($1::text[])"


async def insert_events(conn: Connection, events: list[NewEvent]) -> list[object]:
    """Store ``events`` with one statement; one :class:`Stored` per event."""
    first: dict[str, NewEvent] = {}
    for event in events:
        first.setdefault(event.dedup_key, event)
    unique = list(first.values())
    columns = [
        [e.id for e in unique],
        [e.dedup_key for e in unique],
        [e.type for e in unique],
        [e.call_id for e in unique],
        [e.received_at for e in unique],
        [e.method for e in unique],
        [e.headers for e in unique],
        [e.envelope for e in unique],
        [e.raw for e in unique],
    ]
    pairs = [(e.id, h) for e in unique for h in e.handlers]
    traces = [e.trace_context for e in unique]
    quarantines = [e.quarantine for e in unique]
    rows = await conn.fetch(
        _INSERT, *columns, [p[0] for p in pairs], [p[1] for p in pairs], traces, quarantines
    )
    ids = {row["dedup_key"]: row["id"] for row in rows if row["id"] is not None}
    new_calls = {row["new_call"] for row in rows if row["new_call"] is not None}
    missing = [key for key in first if key not in ids]
    if missing:  # stored before (their rows were committed when ON CONFLICT looked)
        ids.update({row["dedup_key"]: row["id"] for row in await conn.fetch(_KNOWN, missing)})
    out: list[object] = []
    for event in events:
        known = ids.get(event.dedup_key)
        if known is None:  # stored by someone else and purged since: let the sender retry
            out.append(StoreError("a duplicate of an event being purged; retry"))
        elif known != event.id:
            out.append(Stored(known, True))
        else:  # the first event of each call the batch made known says so
            out.append(Stored(known, False, event.call_id in new_calls))
            new_calls.discard(event.call_id)
    return out


def is_new(result: object) -> bool:
    """Whether an event's result says this batch stored it (not a duplicate, not an error)."""
    return isinstance(result, Stored) and not result.duplicate
