"""Handlers for the multi-process proof on PostgreSQL (imported as ``fixture_pg_handlers``).

Each appends one row per completed run to ``proof_log`` in the database named by
``PROOF_DATABASE_URL``: which handler, event, call, the event's number in its call, the
attempt, and the process. The table shows from outside what ran where and in which order.
With ``PROOF_MARK_START=1`` a run also writes ``proof_started`` before it works
(``PROOF_WORK_SECONDS``), so a test can see a handler in the middle of its run.
``pg.third`` also asks for a follow-up call when a call did not connect. Handlers time out
after ``PROOF_TIMEOUT_SECONDS`` (2 by default).
"""

from __future__ import annotations

import asyncio
import os

import asyncpg

from receiver import HandlerContext, Router
from receiver.events import Event

router = Router("pg")
TIMEOUT = float(os.environ.get("PROOF_TIMEOUT_SECONDS", "2"))
AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
PROOF_TABLE = """
CREATE TABLE IF NOT EXISTS proof_log (
    id bigserial PRIMARY KEY,
    handler text NOT NULL,
    event_id text NOT NULL,
    call_id text NOT NULL,
    n integer NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL
);
CREATE INDEX IF NOT EXISTS proof_log_run ON proof_log (event_id, handler, attempt);
CREATE TABLE IF NOT EXISTS proof_started (
    handler text NOT NULL,
    event_id text NOT NULL,
    attempt integer NOT NULL,
    pid integer NOT NULL
)
"""
_pool: asyncpg.Pool | None = None
_lock: asyncio.Lock | None = None


async def _append(handler: str, event: Event, ctx: HandlerContext) -> None:
    global _pool, _lock
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(
                os.environ["PROOF_DATABASE_URL"], min_size=1, max_size=3
            )
    if os.environ.get("PROOF_MARK_START") == "1":  # so that a test can kill it mid-handler
        await _pool.execute(
            "INSERT INTO proof_started (handler, event_id, attempt, pid) VALUES ($1, $2, $3, $4)",
            handler,
            ctx.event_id,
            ctx.attempt,
            os.getpid(),
        )
    await asyncio.sleep(float(os.environ.get("PROOF_WORK_SECONDS", "0")))
    await _pool.execute(
        "INSERT INTO proof_log (handler, event_id, call_id, n, attempt, pid)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        handler,
        ctx.event_id,
        ctx.call_id,
        int(getattr(event.payload, "proof_n", -1)),
        ctx.attempt,
        os.getpid(),
    )


@router.on("*", timeout=TIMEOUT, max_attempts=10)
async def first(event: Event, ctx: HandlerContext) -> None:
    """Ordered (the default): each call's events in arrival order."""
    await _append("pg.first", event, ctx)


@router.on("*", timeout=TIMEOUT, max_attempts=10)
async def second(event: Event, ctx: HandlerContext) -> None:
    """Ordered too."""
    await _append("pg.second", event, ctx)


@router.on("*", timeout=TIMEOUT, max_attempts=10, ordered=False)
async def third(event: Event, ctx: HandlerContext) -> None:
    """Unordered; asks for one follow-up call per call that did not connect."""
    if event.type == "event_phone_call_did_not_connect":
        ctx.follow_up(
            to_number=str(event.payload.proof_number),
            from_number="+15555550100",
            agent=AGENT,
            context={"call": ctx.call_id},
        )
    await _append("pg.third", event, ctx)
