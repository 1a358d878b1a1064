"""A dedicated connection that LISTENs, so that a commit in any process wakes idle workers here.

Notifications are hints: nothing is lost when one is missed, because workers also poll. The
connection is checked every ``ping_seconds`` and opened again (after a pause) when it drops;
each (re)connection wakes the workers once, for what may have been committed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from receiver.store.postgres.batch import Connection

log = structlog.get_logger("receiver.store")


class Listener:
    def __init__(
        self,
        connect: Callable[[], Any],
        channel: str,
        wake: Callable[[], None],
        *,
        ping_seconds: float = 15.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._wake = wake
        self._ping = ping_seconds
        self._retry = retry_seconds
        self._task: asyncio.Task[None] | None = None
        self._conn: Connection | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="receiver-pg-listen")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _run(self) -> None:
        while True:
            try:
                await self._listen()
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
                log.warning("listen_connection_lost", error=str(exc), retry_in=self._retry)
            self.listening.clear()
            await self._close()
            await asyncio.sleep(self._retry)

    async def _listen(self) -> None:
        self._conn = conn = await self._connect()
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self._channel, self._notified)
        self.listening.set()
        self._wake()  # whatever was committed while nobody here was listening
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._ping)
                break
            await conn.fetchval("SELECT 1", timeout=self._ping)

    def _notified(self, *_: object) -> None:
        self._wake()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
