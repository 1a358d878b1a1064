"""Follow-up intents and the do-not-call list on PostgreSQL.

Several senders may claim at once. Intents are locked with ``FOR UPDATE SKIP LOCKED``, so each
is claimed by one sender; and the guards that count across intents (calls per number) run
under a transaction-level advisory lock per destination number, taken in sorted order, so two
senders can never both see room for one more call to the same number.
"""

from __future__ import annotations

import json
import time
from typing import Any

import asyncpg

from receiver.numbers import normalise_number
from receiver.store.base import (
    ClaimedFollowUp,
    Finish,
    FollowUpClaim,
    FollowUpGuards,
    FollowUpRecord,
)
from receiver.store.postgres.intake import NOW

_COLUMNS = """key, event_id, handler, call_id, to_number, from_number, request, not_before,
    depth, status, attempts, next_attempt_at, reconcile, vocode_call_id, reason, sent_at,
    created_at, updated_at"""

# Inside the finish statement (postgres_deliveries): the intents of the attempts recorded
# there (``updated``), numbered from $6, written in the same implicit transaction.
RECORD_CTE = """
recorded AS (
    INSERT INTO follow_ups (key, event_id, handler, call_id, to_number, from_number, request,
                            not_before, depth, status, next_attempt_at, created_at, updated_at)
    SELECT r.key, r.event_id, r.handler, r.call_id, r.to_number, r.from_number,
           r.request::json, r.not_before,
           coalesce((SELECT p.depth FROM follow_ups p WHERE p.vocode_call_id = r.call_id
                     LIMIT 1), 0) + 1,
           r.status, r.not_before, now.t, now.t
    FROM unnest($6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
                $12::text[], $13::text[], $14::float8[], $15::text[])
        AS r(delivery, key, event_id, handler, call_id, to_number, from_number, request,
             not_before, status)
    CROSS JOIN now
    WHERE r.delivery = any(ARRAY(SELECT id FROM updated))  -- a join compared every pair
    ON CONFLICT (key) DO NOTHING
)"""


def follow_up_columns(results: list[Finish]) -> list[list[object]]:
    """The intents asked for by ``results``, as the ten arrays :data:`RECORD_CTE` reads.

    A key already recorded (a retried or replayed handler) is left alone by the insert.
    """
    rows = []
    for result in results:
        status = "pending" if result.side_effects else "suppressed"
        for request in result.follow_ups:
            event_id, handler, _ = request.key.split("/", 2)
            rows.append(
                (result.id, request.key, event_id, handler, request.call_id,
                 normalise_number(request.to_number), request.from_number,
                 json.dumps(request.body()), request.not_before, status)
            )  # fmt: skip
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * 10


async def _refusal(
    conn: asyncpg.Connection, key: str, number: str, depth: int, guards: FollowUpGuards, now: float
) -> str | None:
    if await conn.fetchval("SELECT 1 FROM do_not_call WHERE number = $1", number):
        return "do_not_call"
    if depth > guards.max_depth:
        return "depth"
    recent = await conn.fetchval(
        "SELECT count(*) FROM follow_ups WHERE to_number = $1 AND sent_at >= $2 AND key != $3"
        " AND status NOT IN ('rejected', 'refused', 'cancelled')",
        number,
        now - guards.window_seconds,
        key,
    )
    return "cap" if recent >= guards.max_per_number else None


async def claim(
    conn: asyncpg.Connection, limit: int, lease: float, guards: FollowUpGuards
) -> FollowUpClaim:
    """Run inside a transaction: the row and number locks last until it commits."""
    rows = await conn.fetch(
        "SELECT key, attempts, to_number, request, depth, reconcile, status FROM follow_ups"
        f" WHERE status IN ('pending', 'sending') AND next_attempt_at <= {NOW}"
        " ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
        limit,
    )
    if not rows:
        return FollowUpClaim([], [])
    for number in sorted({row["to_number"] for row in rows}):
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('receiver.number:' || $1, 0))", number
        )
    now = await conn.fetchval(f"SELECT {NOW}")
    claimed, refused = [], []
    for row in rows:
        key, number = row["key"], row["to_number"]
        maybe_sent = row["reconcile"] or row["status"] == "sending"  # a sender died mid-request
        reason = None
        if not maybe_sent:
            reason = await _refusal(conn, key, number, row["depth"], guards, now)
        if reason is not None:
            await conn.execute(
                "UPDATE follow_ups SET status = 'refused', reason = $1, updated_at = $2"
                " WHERE key = $3",
                reason,
                now,
                key,
            )
            refused.append((key, reason))
            continue
        await conn.execute(
            "UPDATE follow_ups SET status = 'sending', attempts = attempts + 1, lease_until = $1,"
            " next_attempt_at = $1, reconcile = $2, sent_at = $3, updated_at = $3 WHERE key = $4",
            now + lease,
            maybe_sent,
            now,
            key,
        )
        claimed.append(
            ClaimedFollowUp(
                key, row["attempts"] + 1, number, json.loads(row["request"]), row["depth"],
                maybe_sent,
            )
        )  # fmt: skip
    return FollowUpClaim(claimed, refused)


async def complete(
    conn: asyncpg.Connection,
    key: str,
    attempt: int,
    status: str,
    vocode_call_id: str | None,
    reason: str | None,
    next_attempt_at: float | None,
    reconcile: bool,
) -> bool:
    delay = max(0.0, next_attempt_at - time.time()) if next_attempt_at else 0.0
    result = await conn.execute(
        f"UPDATE follow_ups SET status = $1, vocode_call_id = $2, reason = $3,"
        f" next_attempt_at = {NOW} + $4, reconcile = $5, lease_until = NULL, updated_at = {NOW}"
        " WHERE key = $6 AND attempts = $7 AND status = 'sending'",
        status,
        vocode_call_id,
        reason,
        delay,
        reconcile,
        key,
        attempt,
    )
    return result == "UPDATE 1"


async def release(conn: asyncpg.Connection, key: str) -> bool:
    result = await conn.execute(
        f"UPDATE follow_ups SET status = 'pending', attempts = 0, next_attempt_at = {NOW},"
        f" updated_at = {NOW} WHERE key = $1 AND status IN ('held', 'rejected', 'refused')",
        key,
    )
    return result == "UPDATE 1"


async def cancel(conn: asyncpg.Connection, key: str) -> bool:
    result = await conn.execute(
        f"UPDATE follow_ups SET status = 'cancelled', updated_at = {NOW} WHERE key = $1"
        " AND status IN ('pending', 'held', 'rejected', 'refused', 'suppressed')",
        key,
    )
    return result == "UPDATE 1"


async def list_follow_ups(
    conn: asyncpg.Connection, status: str | None, key: str | None, limit: int
) -> list[FollowUpRecord]:
    where, args = [], []
    for column, value in (("status", status), ("key", key)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    clause = ("WHERE " + " AND ".join(where)) if where else ""
    args.append(limit)
    sql = f"SELECT {_COLUMNS} FROM follow_ups {clause} ORDER BY created_at DESC LIMIT ${len(args)}"
    return [_record(row) for row in await conn.fetch(sql, *args)]


def _record(row: Any) -> FollowUpRecord:
    values = list(row)
    values[6] = json.loads(values[6])
    return FollowUpRecord(*values)


async def dnc_add(conn: asyncpg.Connection, number: str, reason: str | None) -> None:
    await conn.execute(
        f"INSERT INTO do_not_call (number, reason, created_at) VALUES ($1, $2, {NOW})"
        " ON CONFLICT (number) DO UPDATE SET reason = excluded.reason",
        normalise_number(number),
        reason,
    )


async def dnc_remove(conn: asyncpg.Connection, number: str) -> bool:
    result = await conn.execute(
        "DELETE FROM do_not_call WHERE number = $1", normalise_number(number)
    )
    return result == "DELETE 1"


async def dnc_list(conn: asyncpg.Connection) -> list[tuple[str, str | None, float]]:
    rows = await conn.fetch("SELECT number, reason, created_at FROM do_not_call ORDER BY number")
    return [tuple(row) for row in rows]
