"""The shared store: PostgreSQL through asyncpg, for several receiver and worker processes.

Every process keeps a pool of ``RECEIVER_DATABASE_POOL_SIZE`` connections and one more that
LISTENs. New events and finished deliveries are committed in groups (:mod:`postgres_batch`);
claims lock due rows with ``FOR UPDATE SKIP LOCKED``; a commit that makes deliveries due sends
a NOTIFY that wakes the workers of every process. Schema versions are applied at start-up
under an advisory lock, so processes starting together apply each version once.

A ``search_path`` query parameter in the URL (``postgresql://host/db?search_path=receiver``)
keeps the tables in that schema.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import structlog

from receiver.errors import StoreError
from receiver.store.base import (
    Claimed,
    DeliveryFilter,
    DeliveryRecord,
    EventRecord,
    Finish,
    FollowUpClaim,
    FollowUpGuards,
    FollowUpRecord,
    HandlerStats,
    NewEvent,
    Purged,
    SchemaState,
    Stored,
)
from receiver.store.postgres import deliveries, follow_ups, schema
from receiver.store.postgres.batch import Batcher, translated
from receiver.store.postgres.intake import CHANNEL, insert_events, is_new
from receiver.store.postgres.listen import Listener

T = TypeVar("T")
_EVENT_COLUMNS = "id, seq, dedup_key, type, call_id, received_at, method, headers, envelope, raw"
LISTENER_NAME = "vocode-receiver listener"
ANALYZE_FIRST_AT = 1000  # rows written by this process before its first ANALYZE
log = structlog.get_logger("receiver.store")


class PostgresStore:
    """The :class:`~receiver.store.base.Store` on a PostgreSQL database."""

    def __init__(
        self, url: str, *, pool_size: int = 10, batch_max: int = 1000, listen: bool = True
    ) -> None:
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._events: Batcher[NewEvent, Stored] = Batcher(insert_events, batch_max, "intake")
        self._finishes: Batcher[Finish, bool] = Batcher(deliveries.finish, batch_max, "finish")
        self._events.after_commit = self._events_committed
        self._finishes.after_commit = lambda items, results: self._notify()
        self._listener = Listener(self._connect, CHANNEL, self._notify) if listen else None
        self.on_commit: list[Callable[[], None]] = []
        self._added, self._analyze_at = 0, float(ANALYZE_FIRST_AT)
        self._cursors: dict[str, str] = {}  # per ordered handler: where the next claim looks
        self._analyzing: asyncio.Task[None] | None = None

    # lifecycle ---------------------------------------------------------------------------

    def _connect(self) -> Awaitable[asyncpg.Connection]:
        settings = {"application_name": LISTENER_NAME}  # visible in pg_stat_activity
        return asyncpg.connect(self.url, timeout=10, server_settings=settings)

    async def open(self) -> None:
        with translated():
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                timeout=10,
                reset=_keep_session,
                # The store's statements are prepared once per connection and take arrays,
                # whose values a custom plan cannot use anyway: planning them again on each
                # run only costs CPU. A cached plan is remade when its tables are analysed,
                # which this store sees to while they grow (see _rows_added).
                server_settings={"plan_cache_mode": "force_generic_plan"},
            )
        self._events.bind(self._pool)
        self._finishes.bind(self._pool)
        await self.migrate()
        if self._listener is not None:
            self._listener.start()

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.stop()
        await self._events.drain()
        await self._finishes.drain()
        self._analyze_at = float("inf")  # no ANALYZE starts from here on
        if self._analyzing is not None:
            await asyncio.gather(self._analyzing, return_exceptions=True)
        self._events.bind(None)
        self._finishes.bind(None)
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _notify(self) -> None:
        for callback in list(self.on_commit):
            callback()

    def _events_committed(self, events: list[NewEvent], results: list[Any]) -> None:
        stored = [e for e, r in zip(events, results, strict=True) if is_new(r)]
        deliveries_made = sum(len(e.handlers) for e in stored)
        self._rows_added(len(stored) + deliveries_made)
        if deliveries_made:  # deliveries became due: local workers should look
            self._notify()

    def _rows_added(self, rows: int) -> None:
        """Analyse the tables each time this process has doubled the rows it wrote.

        Plans (cached ones above all) are only as good as the statistics they were made
        with. A new database fills in seconds, long before autovacuum's first ANALYZE: a plan
        made while the tables held a few rows would scan every pending delivery on each
        claim and finish once they hold thousands. An ANALYZE replaces the statistics and
        makes every process plan its statements again; doubling keeps them a few runs in all.
        """
        self._added += rows
        if self._added < self._analyze_at:
            return
        if self._analyzing is None or self._analyzing.done():
            self._analyze_at = 2 * self._added
            self._analyzing = asyncio.get_running_loop().create_task(self._analyze())

    async def _analyze(self) -> None:
        try:  # SKIP_LOCKED: when another process is analysing them, that one will do
            await self._run(lambda conn: conn.execute("ANALYZE (SKIP_LOCKED) events, deliveries"))
        except StoreError as exc:
            log.warning("store_analyze_failed", error=str(exc))

    async def _run(self, fn: Callable[[asyncpg.Connection], Awaitable[T]], tx: bool = False) -> T:
        if self._pool is None:
            raise StoreError("the store is closed")
        with translated():
            async with self._pool.acquire() as conn:
                if not tx:
                    return await fn(conn)
                async with conn.transaction():
                    return await fn(conn)

    async def _notify_all(self, conn: asyncpg.Connection) -> None:
        """Wake workers in every process when the caller's transaction commits."""
        await conn.execute("SELECT pg_notify($1, '')", CHANNEL)

    # schema ------------------------------------------------------------------------------

    async def migrate(self) -> SchemaState:
        return await self._run(schema.migrate, tx=True)

    async def schema_state(self) -> SchemaState:
        return await self._run(schema.schema_state)

    async def ping(self) -> None:
        await self._run(lambda conn: conn.fetchval("SELECT 1"))

    # events ------------------------------------------------------------------------------

    async def add_event(self, event: NewEvent) -> Stored:
        return await self._events.submit(event)

    async def get_event(self, event_id: str) -> EventRecord | None:
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = $1"
        row = await self._run(lambda conn: conn.fetchrow(sql, event_id))
        return _event(row) if row else None

    async def list_events(
        self, *, type: str | None = None, call_id: str | None = None, limit: int = 50
    ) -> list[EventRecord]:
        where, args = [], []
        for column, value in (("type", type), ("call_id", call_id)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        args.append(limit)
        sql = f"SELECT {_EVENT_COLUMNS} FROM events {clause} ORDER BY seq DESC LIMIT ${len(args)}"
        rows = await self._run(lambda conn: conn.fetch(sql, *args))
        return [_event(row) for row in rows]

    async def count_events(self) -> int:
        return await self._run(lambda conn: conn.fetchval("SELECT count(*) FROM events"))

    async def purge(self, before: float, *, batch_size: int = 1000) -> Purged:
        """Walk the events in seq order, one short transaction per ``batch_size`` of them."""
        removed = events = 0
        after: int | None = 0
        while after is not None:
            d, e, after = await self._run(
                lambda c, a=after: deliveries.purge_chunk(c, before, a, batch_size), tx=True
            )
            removed, events = removed + d, events + e
        return Purged(deliveries=removed, events=events)

    # deliveries ---------------------------------------------------------------------------

    async def claim(
        self,
        slots: dict[str, int],
        ordered: frozenset[str],
        leases: dict[str, float],
        limit: int | None = None,
    ) -> list[Claimed]:
        return await self._run(
            lambda conn: deliveries.claim(conn, slots, ordered, leases, limit, self._cursors)
        )

    async def finish(self, result: Finish) -> bool:
        return await self._finishes.submit(result)

    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]:
        """One transaction for all of them (and whatever else is finishing meanwhile)."""
        answers = await asyncio.gather(
            *(self._finishes.submit(r) for r in results), return_exceptions=True
        )
        errors = [a for a in answers if isinstance(a, BaseException)]
        if errors and len(errors) == len(answers):
            raise errors[0]
        return [a if isinstance(a, bool) else _store_error(a) for a in answers]

    async def release(self, claims: list[tuple[int, int]]) -> None:
        async def run(conn: asyncpg.Connection) -> None:
            await deliveries.release(conn, claims)
            await self._notify_all(conn)

        await self._run(run, tx=True)
        self._notify()

    async def requeue(self, ids: list[int], *, side_effects: bool = True) -> int:
        async def run(conn: asyncpg.Connection) -> int:
            count = await deliveries.requeue(conn, ids, side_effects)
            await self._notify_all(conn)
            return count

        count = await self._run(run, tx=True)
        self._notify()
        return count

    async def list_deliveries(self, where: DeliveryFilter) -> list[DeliveryRecord]:
        return await self._run(lambda conn: deliveries.list_deliveries(conn, where))

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        found = await self.list_deliveries(DeliveryFilter(ids=(delivery_id,)))
        return found[0] if found else None

    async def delivery_stats(self) -> dict[str, HandlerStats]:
        return await self._run(deliveries.stats)

    # follow-ups ---------------------------------------------------------------------------

    async def claim_follow_ups(
        self, limit: int, lease: float, guards: FollowUpGuards
    ) -> FollowUpClaim:
        return await self._run(lambda c: follow_ups.claim(c, limit, lease, guards), tx=True)

    async def complete_follow_up(
        self,
        key: str,
        attempt: int,
        status: str,
        *,
        vocode_call_id: str | None = None,
        reason: str | None = None,
        next_attempt_at: float | None = None,
        reconcile: bool = False,
    ) -> bool:
        return await self._run(
            lambda c: follow_ups.complete(
                c, key, attempt, status, vocode_call_id, reason, next_attempt_at, reconcile
            )
        )

    async def list_follow_ups(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[FollowUpRecord]:
        return await self._run(lambda c: follow_ups.list_follow_ups(c, status, None, limit))

    async def get_follow_up(self, key: str) -> FollowUpRecord | None:
        found = await self._run(lambda c: follow_ups.list_follow_ups(c, None, key, 1))
        return found[0] if found else None

    async def release_follow_up(self, key: str) -> bool:
        async def run(conn: asyncpg.Connection) -> bool:
            released = await follow_ups.release(conn, key)
            await self._notify_all(conn)
            return released

        released = await self._run(run, tx=True)
        self._notify()
        return released

    async def cancel_follow_up(self, key: str) -> bool:
        return await self._run(lambda c: follow_ups.cancel(c, key))

    async def dnc_add(self, number: str, reason: str | None = None) -> None:
        await self._run(lambda c: follow_ups.dnc_add(c, number, reason))

    async def dnc_remove(self, number: str) -> bool:
        return await self._run(lambda c: follow_ups.dnc_remove(c, number))

    async def dnc_list(self) -> list[tuple[str, str | None, float]]:
        return await self._run(follow_ups.dnc_list)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Released connections need no reset query (one round trip each): the store sets no
    session state, takes only transaction-level locks, and the pool rolls back a transaction
    left open before it calls this."""


def _store_error(exc: BaseException) -> StoreError:
    return exc if isinstance(exc, StoreError) else StoreError(f"PostgreSQL: {exc}")


def _event(row: Any) -> EventRecord:
    return EventRecord(
        id=row["id"],
        seq=row["seq"],
        dedup_key=row["dedup_key"],
        type=row["type"],
        call_id=row["call_id"],
        received_at=row["received_at"],
        method=row["method"],
        headers=json.loads(row["headers"]),
        envelope=json.loads(row["envelope"]),
        raw=bytes(row["raw"]),
    )
