"""The claim loop shared by the worker (deliveries) and the sender (follow-up intents).

One asyncio task claims work in batches, up to the free capacity, and runs each item as a
task of its own. It claims again at once after a full batch, when woken (:meth:`wake`: a
store commit made work due), or every ``poll`` seconds. :meth:`stop` stops claiming, gives
the items in flight ``grace`` seconds, then cancels the rest and hands them to
:meth:`ClaimLoop._abandon`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, Generic, TypeVar

import structlog

from receiver.store.base import Store

T = TypeVar("T")
log = structlog.get_logger("receiver.loop")


class ClaimLoop(abc.ABC, Generic[T]):
    """Claims items of type ``T`` and runs each in a task until :meth:`stop`."""

    name = "receiver-loop"

    def __init__(self, *, capacity: int, poll: float, grace: float) -> None:
        self.capacity = capacity
        self.poll = poll
        self.grace = grace
        self._tasks: dict[asyncio.Task[None], T] = {}  # the items in flight
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    # what a loop does ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def _claim(self, free: int) -> tuple[list[T], bool]:
        """Claim up to ``free`` items; answer them and whether the batch was full (more may
        be due already). Errors are the loop's own to log: answer nothing."""

    @abc.abstractmethod
    async def _run(self, item: T) -> None:
        """Run one item to its end (its outcome recorded or handed on)."""

    def _started(self, item: T) -> None:
        """An item's task started (bookkeeping, e.g. per-handler counts)."""

    def _ended(self, item: T, error: BaseException | None) -> None:
        """An item's task ended; ``error`` is what it raised, if anything but cancellation."""

    async def _abandon(self, items: list[T]) -> None:
        """Items still running when the grace period ended (their tasks are cancelled)."""

    async def _stopped(self) -> None:
        """Everything has ended: flush what is left."""

    # the loop ----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    def wake(self) -> None:
        """Claim now instead of at the next poll (called when the store commits)."""
        self._wake.set()

    def start(self) -> None:
        self._loop_task = asyncio.create_task(self._claiming(), name=self.name)

    async def stop(self) -> None:
        """Stop claiming; let items in flight end within the grace period; abandon the rest."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        if self._tasks:
            await self._draining(len(self._tasks))
            _, late = await asyncio.wait(list(self._tasks), timeout=self.grace)
            unfinished = [self._tasks[task] for task in late]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if unfinished:
                await self._abandon(unfinished)
        await self._stopped()

    async def _draining(self, count: int) -> None:
        """Stopping with ``count`` items in flight (a log line)."""

    async def _claiming(self) -> None:
        while not self._stopping:
            self._wake.clear()
            free = self.capacity - len(self._tasks)
            try:
                claimed, full = await self._claim(free) if free > 0 else ([], False)
            except Exception:  # a bug or an error no store translates: the loop goes on
                log.exception("claim_error", loop=self.name)
                claimed, full = [], False
            for item in claimed:
                task = asyncio.create_task(self._run(item))
                self._tasks[task] = item
                self._started(item)
                task.add_done_callback(self._done)
            if claimed and full:
                continue  # a full batch: more may be due already
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    def _done(self, task: asyncio.Task[None]) -> None:
        item = self._tasks.pop(task)
        self._wake.set()  # a slot is free
        error = None if task.cancelled() else task.exception()
        self._ended(item, error)


L = TypeVar("L", bound=ClaimLoop[Any])


@contextlib.asynccontextmanager
async def running(loop: L, store: Store | None) -> AsyncIterator[L]:
    """Start ``loop``, woken whenever ``store`` commits work (None: by its polls only); stop
    it on exit."""
    if store is not None:
        store.on_commit.append(loop.wake)
    loop.start()
    try:
        yield loop
    finally:
        await loop.stop()
        if store is not None:
            store.on_commit.remove(loop.wake)
