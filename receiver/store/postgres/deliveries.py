"""Delivery operations of the PostgreSQL store.

Claims are one statement: for each handler, its due rows are locked with ``FOR UPDATE SKIP
LOCKED`` (so concurrent workers never wait for each other and never take the same row) and
leased in the same statement. For an ordered handler only the head of each call's queue (its
earliest pending row) can be claimed: the head stays pending until it is finished, which keeps
every later row of that call out of every worker's reach whatever the interleaving. The heads
are found by a skip scan, one index probe per call, so a claim costs the same whether a call
has one event waiting or ten thousand. It starts after the call the process's last claim took
a head of (wrapping around) and stops once it has seen twice the heads it may take (and 8 more,
for heads another claim holds), then takes the earliest due among them: a claim reads about
what it takes, and the calls after the last one taken come first next time. A row's own state
is rechecked under its lock, so a row another worker claimed a moment ago is skipped.

A running delivery is stored as ``pending`` with a lease (``lease_until``) and read back as
``running``. A claim then changes no indexed column, so PostgreSQL rewrites the row in place
(a HOT update, with the table's fill factor leaving room on each page) instead of adding an
entry to every index: claims are the busiest write there is. An expired lease makes the row
due again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

import asyncpg

from receiver.store.base import Claimed, DeliveryFilter, DeliveryRecord, Finish, HandlerStats
from receiver.store.postgres.follow_ups import RECORD_CTE, follow_up_columns
from receiver.store.postgres.intake import NOW

_FINISHED = "('done', 'dropped', 'skipped')"
_RUNNING = "(d.status = 'pending' AND d.lease_until IS NOT NULL)"
_HEAD = "d.handler, d.call_id, d.id, d.attempts, d.status, d.next_attempt_at, d.lease_until"
_DUE = "d.status = 'pending' AND d.next_attempt_at <= {t} AND coalesce(d.lease_until, 0) <= {t}"

# The walk of the module doc: the row comparison matches deliveries_call's leading columns, and
# a head is locked only if it is still the row the walk read (the attempt is the fencing token).
_CLAIM = f"""
WITH RECURSIVE now AS (SELECT {NOW} AS t),
w AS (
    SELECT * FROM unnest($1::text[], $2::int[], $3::bool[], $4::float8[], $6::text[])
        AS w(handler, slots, ordered, lease, cursor)
),
-- from a seed at each ordered handler's cursor, each step probes the next call's head
-- (after the last one, else wrapped around from the start)
heads AS (
    SELECT w.handler, w.cursor AS call_id, NULL::bigint AS id, NULL::int AS attempts,
        NULL::text AS status, NULL::float8 AS next_attempt_at, NULL::float8 AS lease_until,
        false AS wrapped, false AS due, w.slots * 2 + 8 AS wanted, w.cursor, 0 AS found
    FROM w WHERE w.ordered
    UNION ALL
    SELECT n.*, x.due, h.wanted, h.cursor, h.found + x.due::int
    FROM heads h CROSS JOIN now CROSS JOIN LATERAL (
        SELECT * FROM (
            SELECT {_HEAD}, h.wrapped FROM deliveries d
            WHERE (d.handler, d.call_id) > (h.handler, h.call_id) AND d.status = 'pending'
            ORDER BY d.handler, d.call_id, d.event_seq LIMIT 1
        ) a WHERE a.handler = h.handler
        UNION ALL
        SELECT * FROM (
            SELECT {_HEAD}, true FROM deliveries d
            WHERE NOT h.wrapped AND (d.handler, d.call_id) >= (h.handler, '')
              AND d.status = 'pending'
            ORDER BY d.handler, d.call_id, d.event_seq LIMIT 1
        ) b WHERE b.handler = h.handler
        LIMIT 1
    ) n
    CROSS JOIN LATERAL (
        SELECT n.next_attempt_at <= now.t AND coalesce(n.lease_until, 0) <= now.t AS due
    ) x
    WHERE h.found < h.wanted AND NOT (n.wrapped AND n.call_id > h.cursor)
),
candidates AS (
    SELECT c.id, c.next_attempt_at
    FROM w CROSS JOIN now CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM deliveries d
        WHERE NOT w.ordered AND d.handler = w.handler AND {_DUE.format(t="now.t")}
        ORDER BY d.next_attempt_at
        LIMIT w.slots
        FOR UPDATE OF d SKIP LOCKED
    ) c
    UNION ALL
    SELECT c.id, c.next_attempt_at
    FROM w CROSS JOIN now CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM heads h JOIN deliveries d ON d.id = h.id
        WHERE w.ordered AND h.handler = w.handler AND h.due
          AND d.attempts = h.attempts AND d.status = h.status
          AND d.next_attempt_at = h.next_attempt_at
          AND d.lease_until IS NOT DISTINCT FROM h.lease_until
        ORDER BY h.next_attempt_at
        LIMIT w.slots
        FOR UPDATE OF d SKIP LOCKED
    ) c
),
picked AS (SELECT id FROM candidates ORDER BY next_attempt_at LIMIT $5)
UPDATE deliveries d
SET attempts = d.attempts + 1, updated_at = (SELECT t FROM now),
    lease_until = (SELECT t FROM now) + (SELECT w.lease FROM w WHERE w.handler = d.handler)
WHERE d.id = any(ARRAY(SELECT id FROM picked))  -- by the primary key, whatever the estimates
RETURNING d.id, d.attempts, d.handler, d.event_id, d.call_id, d.side_effects,
    (SELECT e.envelope FROM events e WHERE e.seq = d.event_seq) AS envelope
"""

# One statement records the attempts and the follow-ups of those it recorded: atomic without
# a transaction block (no BEGIN and COMMIT round trips). A finished row keeps in
# next_attempt_at the time it finished (purge reads it). The rows are reached by the primary
# key whatever the estimates, and each finds its own values by its position in $1: joined
# with the unnested arrays instead, the planner's nested loop compared every row with every
# input (a batch of 64 spent most of its time there). Each id appears once in $1 (finish).
_AT = "array_position($1::bigint[], d.id)"
_FINISH = f"""
WITH now AS (SELECT {NOW} AS t),
updated AS (
    UPDATE deliveries d
    SET status = ($3::text[])[{_AT}], next_attempt_at = now.t + ($4::float8[])[{_AT}],
        lease_until = NULL, last_error = coalesce(($5::text[])[{_AT}], d.last_error),
        updated_at = now.t
    FROM now
    WHERE d.id = any($1::bigint[]) AND d.attempts = ($2::int[])[{_AT}] AND {_RUNNING}
    RETURNING d.id
),
{RECORD_CTE}
SELECT id FROM updated
"""

_RELEASE = f"""
UPDATE deliveries d
SET attempts = d.attempts - 1, lease_until = NULL, updated_at = {NOW}
FROM unnest($1::bigint[], $2::int[]) AS r(id, attempt)
WHERE d.id = r.id AND d.attempts = r.attempt AND {_RUNNING}
"""

_REQUEUE = f"""
UPDATE deliveries d SET status = 'pending', attempts = 0, lease_until = NULL,
    next_attempt_at = {NOW}, side_effects = $2, updated_at = {NOW}
WHERE d.id = any($1::bigint[]) AND NOT {_RUNNING}
"""

# as the records show it: a leased row is running, and its next attempt is when its lease ends
_COLUMNS = f"""d.id, d.event_id, e.type, d.handler, d.call_id,
    CASE WHEN {_RUNNING} THEN 'running' ELSE d.status END,
    d.attempts, CASE WHEN {_RUNNING} THEN d.lease_until ELSE d.next_attempt_at END,
    d.lease_until, d.last_error, d.side_effects, d.created_at, d.updated_at"""
_STATUS = {
    "running": _RUNNING,
    "pending": "(d.status = 'pending' AND d.lease_until IS NULL)",
}


async def claim(
    conn: asyncpg.Connection,
    slots: dict[str, int],
    ordered: frozenset[str],
    leases: dict[str, float],
    limit: int | None = None,
    cursors: dict[str, str] | None = None,
) -> list[Claimed]:
    """Lease due deliveries; ``cursors`` (per ordered handler, the call its last claim took
    a head of) is where this claim's walk over the calls starts, and is moved on."""
    cursors = {} if cursors is None else cursors
    wanted = [h for h, n in slots.items() if n > 0]
    if not wanted or (limit is not None and limit <= 0):
        return []
    rows = await conn.fetch(
        _CLAIM,
        wanted,
        [slots[h] for h in wanted],
        [h in ordered for h in wanted],
        [leases[h] for h in wanted],
        limit,  # NULL: no limit but the handlers' own
        [cursors.get(h, "") for h in wanted],
    )
    _advance(cursors, rows, ordered)
    return [
        Claimed(
            id=r["id"],
            attempt=r["attempts"],
            handler=r["handler"],
            event_id=r["event_id"],
            call_id=r["call_id"],
            envelope=json.loads(r["envelope"]),
            side_effects=r["side_effects"],
        )
        for r in rows
    ]


def _advance(cursors: dict[str, str], rows: list[asyncpg.Record], ordered: frozenset[str]) -> None:
    """Start the next walk after the last call this one took (in the walk's order: the
    calls after the cursor, then, wrapped around, those up to it)."""
    taken: dict[str, list[str]] = {}
    for row in rows:
        if row["handler"] in ordered:
            taken.setdefault(row["handler"], []).append(row["call_id"])
    for handler, calls in taken.items():
        cursor = cursors.get(handler, "")
        wrapped = [c for c in calls if c <= cursor]
        cursors[handler] = max(wrapped) if wrapped else max(calls)


async def finish(conn: asyncpg.Connection, results: list[Finish]) -> list[object]:
    """Record a batch of finished attempts, each only if its lease is still its own."""
    now = time.time()
    unique = {(r.id, r.attempt): r for r in reversed(results)}  # first of each wins
    kept: set[tuple[int, int]] = set()
    for round_ in _rounds(unique.values()):
        batch = list(round_.values())
        rows = await conn.fetch(
            _FINISH,
            [r.id for r in batch],
            [r.attempt for r in batch],
            ["pending" if r.status == "retry" else r.status for r in batch],
            [max(0.0, r.next_attempt_at - now) if r.next_attempt_at else 0.0 for r in batch],
            [r.error for r in batch],
            *follow_up_columns([r for r in batch if r.follow_ups]),
        )
        kept.update((row["id"], round_[row["id"]].attempt) for row in rows)
    return [(r.id, r.attempt) in kept and unique[(r.id, r.attempt)] is r for r in results]


def _rounds(results: Iterable[Finish]) -> list[dict[int, Finish]]:
    """``results`` by id, split so that no id appears twice in one statement (:data:`_FINISH`
    finds a row's values by its id). Two attempts of one delivery in one batch (a stale one
    beside the current one) are rare: nearly always this is one round."""
    rounds: list[dict[int, Finish]] = []
    for result in results:
        for round_ in rounds:
            if result.id not in round_:
                round_[result.id] = result
                break
        else:
            rounds.append({result.id: result})
    return rounds


async def release(conn: asyncpg.Connection, claims: list[tuple[int, int]]) -> None:
    await conn.execute(_RELEASE, [c[0] for c in claims], [c[1] for c in claims])


async def requeue(conn: asyncpg.Connection, ids: list[int], side_effects: bool) -> int:
    status = await conn.execute(_REQUEUE, ids, side_effects)
    return int(status.split()[-1])


async def list_deliveries(conn: asyncpg.Connection, where: DeliveryFilter) -> list[DeliveryRecord]:
    clauses, args = [], []
    if where.status in _STATUS:
        clauses.append(_STATUS[where.status])
    elif where.status is not None:
        args.append(where.status)
        clauses.append(f"d.status = ${len(args)}")
    for column, value, op in (
        ("d.handler", where.handler, "="),
        ("e.type", where.type, "="),
        ("d.created_at", where.since, ">="),
        ("d.created_at", where.until, "<"),
    ):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} {op} ${len(args)}")
    if where.ids:
        args.append(list(where.ids))
        clauses.append(f"d.id = any(${len(args)}::bigint[])")
    sql = f"SELECT {_COLUMNS} FROM deliveries d JOIN events e ON e.seq = d.event_seq"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += " ORDER BY d.id DESC"
    if where.limit is not None:
        args.append(where.limit)
        sql += f" LIMIT ${len(args)}"
    return [DeliveryRecord(*row) for row in await conn.fetch(sql, *args)]


async def stats(conn: asyncpg.Connection) -> dict[str, HandlerStats]:
    rows = await conn.fetch(
        "SELECT handler, count(*) FILTER (WHERE status = 'pending') AS active,"
        " min(created_at) FILTER (WHERE status = 'pending') AS oldest,"
        f" count(*) FILTER (WHERE status = 'dead') AS dead, {NOW} AS now"
        " FROM deliveries WHERE status IN ('pending', 'dead') GROUP BY handler"
    )
    return {
        r["handler"]: HandlerStats(
            r["active"], max(0.0, r["now"] - r["oldest"]) if r["active"] else 0.0, r["dead"]
        )
        for r in rows
    }


async def purge_chunk(
    conn: asyncpg.Connection, before: float, after_seq: int, batch: int
) -> tuple[int, int, int | None]:
    """Within the next ``batch`` events after ``after_seq`` (in the caller's transaction):
    delete the deliveries that finished before ``before``, then the events received before
    it that have no delivery left. Answers (deliveries, events, where to go on from; None
    once the walk reaches events newer than ``before``, or the end).

    A delivery finishes after its event arrived, so walking the old events finds every
    finished delivery to delete, through the ``(event_seq, handler)`` index: deliveries
    need no index on their status, which every claim and finish would have to update.
    """
    chunk = await conn.fetch(
        "SELECT seq, received_at FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
        after_seq,
        batch,
    )
    if not chunk:
        return 0, 0, None
    old = [row["seq"] for row in chunk if row["received_at"] < before]
    deliveries = await conn.execute(
        "DELETE FROM deliveries WHERE event_seq = any($1::bigint[])"
        f" AND status IN {_FINISHED} AND next_attempt_at < $2",
        old,
        before,
    )
    events = await conn.execute(
        "DELETE FROM events e WHERE seq = any($1::bigint[])"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq)",
        old,
    )
    newer = len(old) < len(chunk)
    go_on = None if newer else chunk[-1]["seq"]
    return int(deliveries.split()[-1]), int(events.split()[-1]), go_on
