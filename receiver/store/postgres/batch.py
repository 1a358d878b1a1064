"""Group commit for PostgreSQL: calls made while a write is in flight share the next one.

A :class:`Batcher` owns one kind of write (new events, finished deliveries). Callers submit an
item and wait; one task takes everything waiting, writes it with one statement on one pooled
connection (a single statement is its own transaction: no BEGIN and COMMIT round trips),
and answers every caller once it is committed. While it commits, the next batch gathers, so
a busy receiver pays one round of commit latency (and one WAL flush) per batch, not per
request. Up to ``concurrency`` writes are in flight at once (on as many connections): a
batch need not wait for the previous one's round trip, and PostgreSQL flushes the WAL of
concurrent commits together. If a batch fails, its items are run again one by one so that
one bad item does not fail the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, Generic, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from receiver.errors import StoreError

T = TypeVar("T")
R = TypeVar("R")
# run(conn, items) -> one result per item; a result that is an exception fails only its item.
# Whatever it writes must be atomic by itself (one statement), as no transaction is opened.
Connection = asyncpg.Connection | PoolConnectionProxy
"""A connection of its own, or one lent by the pool."""
Run = Callable[[Connection, list[T]], Awaitable[list[Any]]]


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """Driver and network errors become :class:`StoreError` (intake answers 503 to those)."""
    try:
        yield
    except StoreError:
        raise
    except (
        asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError,
        TimeoutError,
    ) as exc:  # fmt: skip  (a connection ended under an operation can raise any of these)
        raise StoreError(f"PostgreSQL: {exc}") from exc


class Batcher(Generic[T, R]):
    """Runs submitted items in shared writes, at most ``batch_max`` per write."""

    def __init__(self, run: Run[T], batch_max: int, name: str, concurrency: int = 2) -> None:
        self._run = run
        self._batch_max = batch_max
        self._name = name
        self._concurrency = concurrency
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._pool: asyncpg.Pool | None = None
        self.after_commit: Callable[[list[T], list[Any]], None] | None = None

    def bind(self, pool: asyncpg.Pool | None) -> None:
        self._pool = pool

    async def submit(self, item: T) -> R:
        if self._pool is None:
            raise StoreError("the store is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._tasks) < self._concurrency:
            task = asyncio.create_task(self._drain(), name=f"receiver-pg-{self._name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def drain(self) -> None:
        """Wait until everything submitted so far is committed (or failed)."""
        while self._tasks:
            await asyncio.shield(asyncio.gather(*self._tasks, return_exceptions=True))

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._batch_max]
            del self._pending[: self._batch_max]
            items = [item for item, _ in batch]
            try:
                results = await self._commit(items)
            except Exception:
                results = [await self._one(item) for item in items]
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # the caller gave up (cancelled); the commit stands
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(_as_store_error(result))
                else:
                    future.set_result(result)
            if self.after_commit is not None:
                self.after_commit(items, results)

    async def _commit(self, items: list[T]) -> list[Any]:
        if self._pool is None:
            raise StoreError("the store is closed")
        with translated():
            async with self._pool.acquire() as conn:
                return await self._run(conn, items)

    async def _one(self, item: T) -> Any:
        try:
            [result] = await self._commit([item])
        except Exception as exc:
            return exc
        return result


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, StoreError):
        return exc
    return StoreError(f"PostgreSQL: {exc}")
