"""Claims and finishes on PostgreSQL: the two busiest statements, each one statement.

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

import time
from collections.abc import Iterable
from typing import Any

from receiver.store import rows
from receiver.store.cursors import advance
from receiver.store.postgres.batch import Connection
from receiver.store.postgres.intake import NOW
from receiver.store.postgres.queries import RUNNING
from receiver.store.records import Claimed, ClaimRequest, Finish

# Inside the finish statement (postgres_deliveries): the intents of the attempts recorded
# there (``updated``), numbered from $6, written in the same implicit transaction.
RECORD_CTE = """
recorded AS (
    INSERT INTO follow_ups (key, event_id, handler, call_id, to_number, from_number, request,
                            not_before, depth, status, next_attempt_at, created_at, updated_at,
                            trace_context)
    SELECT r.key, r.event_id, r.handler, r.call_id, r.to_number, r.from_number,
           r.request::json, r.not_before,
           coalesce((SELECT p.depth FROM follow_ups p WHERE p.vocode_call_id = r.call_id
                     LIMIT 1), 0) + 1,
           r.status, r.not_before, now.t, now.t, r.trace_context
    FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                $12::text[], $13::text[], $14::float8[], $15::text[], $16::text[])
        AS r(delivery, key, event_id, handler, call_id, to_number, from_number, request,
             not_before, status, trace_context)
    CROSS JOIN now
    WHERE r.delivery = any(ARRAY(SELECT id FROM updated))  -- a join compared every pair
    ON CONFLICT (key) DO NOTHING
)"""


_RUNNING = RUNNING
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
RETURNING d.id, d.attempts, d.handler, d.event_id, d.call_id,
    (SELECT e.envelope FROM events e WHERE e.seq = d.event_seq) AS envelope, d.side_effects,
    (SELECT e.trace_context FROM events e WHERE e.seq = d.event_seq) AS trace_context
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


async def claim(
    conn: Connection, request: ClaimRequest, cursors: dict[str, str]
) -> list[Claimed]:
    """Lease due deliveries; ``cursors`` (per ordered handler, the call its last claim took
    a head of) is where this claim's walk over the calls starts, and is moved on."""
    slots, ordered, leases, limit = request.slots, request.ordered, request.leases, request.limit
    wanted = [h for h, n in slots.items() if n > 0]
    if not wanted or (limit is not None and limit <= 0):
        return []
    found = await conn.fetch(
        _CLAIM,
        wanted,
        [slots[h] for h in wanted],
        [h in ordered for h in wanted],
        [leases[h] for h in wanted],
        limit,  # NULL: no limit but the handlers' own
        [cursors.get(h, "") for h in wanted],
    )
    advance(cursors, [(r["handler"], r["call_id"]) for r in found if r["handler"] in ordered])
    return [rows.claimed(row) for row in found]  # in the order of rows.CLAIMED_COLUMNS


async def finish(conn: Connection, results: list[Finish]) -> list[object]:
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


def follow_up_columns(results: list[Finish]) -> list[list[Any]]:
    """The intents asked for by ``results``, as the eleven arrays :data:`RECORD_CTE` reads
    (each intent's row of :func:`receiver.store.rows.follow_up_rows`, after its delivery)."""
    table = [(result.id, *row) for result in results for row in rows.follow_up_rows(result)]
    return [list(column) for column in zip(*table, strict=True)] if table else [[]] * 11
