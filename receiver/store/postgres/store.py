"""The shared store: PostgreSQL through asyncpg, for several receiver and worker processes.

Every process keeps a pool of ``RECEIVER_DATABASE_POOL_SIZE`` connections and one more that
LISTENs. New events and finished deliveries are committed in groups (:mod:`.batch`); claims
lock due rows with ``FOR UPDATE SKIP LOCKED``; a commit that makes deliveries due sends a
NOTIFY that wakes the workers of every process. Plans (:mod:`receiver.store.plans`) run in a
transaction on a pooled connection; schema versions are applied under an advisory lock, so
processes starting together apply each version once.

A ``search_path`` query parameter in the URL (``postgresql://host/db?search_path=receiver``)
keeps the tables in that schema.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import structlog

from receiver.errors import StoreError
from receiver.store.core import PlanFactory, SqlStore
from receiver.store.plan import Driver, Execute, Fetch, Plan, Step
from receiver.store.postgres import claims
from receiver.store.postgres.batch import Batcher, Connection, translated
from receiver.store.postgres.intake import CHANNEL, insert_events, is_new
from receiver.store.postgres.listen import Listener
from receiver.store.postgres.queries import QUERIES
from receiver.store.records import Claimed, ClaimRequest, Finish, NewEvent, Stored

T = TypeVar("T")
LISTENER_NAME = "vocode-receiver listener"
ANALYZE_FIRST_AT = 1000  # rows written by this process before its first ANALYZE
log = structlog.get_logger("receiver.store")


class PostgresStore(SqlStore):
    """The :class:`~receiver.store.base.Store` on a PostgreSQL database."""

    queries = QUERIES

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        batch_max: int = 1000,
        listen: bool = True,
        default_region: str | None = None,
    ) -> None:
        super().__init__(default_region)
        self.url = url
        self._pool_size = pool_size
        self._pool: asyncpg.Pool | None = None
        self._events: Batcher[NewEvent, Stored] = Batcher(insert_events, batch_max, "intake")
        self._finishes: Batcher[Finish, bool] = Batcher(claims.finish, batch_max, "finish")
        self._events.after_commit = self._events_committed
        self._finishes.after_commit = lambda items, results: self._notify()
        self._listener = Listener(self._connect, CHANNEL, self._notify) if listen else None
        self._added, self._analyze_at = 0, float(ANALYZE_FIRST_AT)
        self._cursors: dict[str, str] = {}  # per ordered handler: where the next claim looks
        self._analyzing: asyncio.Task[None] | None = None

    # lifecycle --------------------------------------------------------------------------------

    def _connect(self) -> Awaitable[asyncpg.Connection]:
        settings = {"application_name": LISTENER_NAME}  # visible in pg_stat_activity
        return asyncpg.connect(self.url, timeout=10, server_settings=settings)

    async def open(self, *, migrate: bool = True, read_only: bool = False) -> None:
        """With ``migrate`` (the service), apply pending versions and LISTEN for wake-ups;
        without (commands), neither; ``read_only`` sessions refuse every write."""
        if migrate and read_only:
            raise ValueError("a read-only store cannot be migrated")
        session: dict[str, str] = {}
        if read_only:
            session["default_transaction_read_only"] = "on"
        with translated():
            self._pool = await asyncpg.create_pool(
                self.url,
                min_size=1,
                max_size=self._pool_size,
                timeout=10,
                server_settings=session,
            )
        self._events.bind(self._pool)
        self._finishes.bind(self._pool)
        if not migrate:
            return
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
            await self._with_connection(
                lambda conn: conn.execute("ANALYZE (SKIP_LOCKED) events, deliveries")
            )
        except StoreError as exc:
            log.warning("store_analyze_failed", error=str(exc))

    async def _with_connection(
        self, fn: Callable[[Connection], Awaitable[T]], tx: bool = False
    ) -> T:
        if self._pool is None:
            raise StoreError("the store is closed")
        with translated():
            async with self._pool.acquire() as conn:
                if not tx:
                    return await fn(conn)
                async with conn.transaction():
                    return await fn(conn)

    # primitives -------------------------------------------------------------------------------

    async def _read(self, plan: PlanFactory[T]) -> T:
        return await self._with_connection(lambda conn: run_plan(conn, plan()))

    async def _write(self, plan: PlanFactory[T], *, notify: bool = False) -> T:
        async def run(conn: Connection) -> T:
            answer = await run_plan(conn, plan())
            if notify:  # wakes the workers of every process when this commits
                await conn.execute("SELECT pg_notify($1, '')", CHANNEL)
            return answer

        answer = await self._with_connection(run, tx=True)
        if notify:
            self._notify()
        return answer

    async def add_event(self, event: NewEvent) -> Stored:
        return await self._events.submit(event)

    async def _claim(self, request: ClaimRequest) -> list[Claimed]:
        return await self._with_connection(
            lambda conn: claims.claim(conn, request, self._cursors)
        )

    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]:
        """One transaction for all of them (and whatever else is finishing meanwhile)."""
        answers = await asyncio.gather(
            *(self._finishes.submit(r) for r in results), return_exceptions=True
        )
        errors = [a for a in answers if isinstance(a, BaseException)]
        if errors and len(errors) == len(answers):
            raise errors[0]
        return [a if isinstance(a, bool) else _store_error(a) for a in answers]


async def run_plan(conn: Connection, plan: Plan[T]) -> T:
    """Run ``plan``'s statements on ``conn`` (in the caller's transaction, if any)."""
    driver = Driver(plan)
    while not driver.done:
        try:
            result = await _run_step(conn, driver.step)
        except asyncpg.PostgresError as exc:
            driver.throw(exc)
        else:
            driver.send(result)
    return driver.answer()


async def _run_step(conn: Connection, step: Step) -> Any:
    if isinstance(step, Fetch | Execute):
        sql, names = positional(step.sql)
        args = [step.params[name] for name in names]
        if isinstance(step, Fetch):
            return await conn.fetch(sql, *args)
        status = await conn.execute(sql, *args)
        count = status.rsplit(" ", 1)[-1]
        return int(count) if count.isdigit() else 0
    await conn.execute(step.sql)  # a script: several statements, no parameters
    return None


_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


@functools.lru_cache(maxsize=256)
def positional(sql: str) -> tuple[str, tuple[str, ...]]:
    """``:name`` parameters to asyncpg's ``$n`` (a ``::type`` cast is left alone), and the
    names in the order of their numbers."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match[1] not in names:
            names.append(match[1])
        return f"${names.index(match[1]) + 1}"

    return _PARAM.sub(number, sql), tuple(names)


def _store_error(exc: BaseException) -> StoreError:
    return exc if isinstance(exc, StoreError) else StoreError(f"PostgreSQL: {exc}")
