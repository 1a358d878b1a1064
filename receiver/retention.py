"""Retention on a schedule: with ``RECEIVER_RETENTION_DAYS`` set, every process that runs
workers (``receiver serve``, ``receiver worker``) purges what is older, about once an hour.

It is ``receiver purge --older-than <days>d`` run from inside: finished deliveries, events
left without any, and finished follow-up intents, in short transactions while intake and
workers go on. The first run waits a random part of a minute, and each next one the
interval give or take a tenth, so processes started together do not purge together (two that
do only share the work: each deletion is its own). A failed run is logged and tried again
at the next one.

Example::

    retention = Retention(store, days=30)
    async with retention.running():
        ...
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog

from receiver.store.base import Store
from receiver.store.records import Purged

log = structlog.get_logger("receiver.retention")
INTERVAL_SECONDS = 3600.0
FIRST_RUN_WITHIN_SECONDS = 60.0


class Retention:
    """Purges what is older than ``days`` from ``store`` every ``interval`` seconds."""

    def __init__(
        self,
        store: Store,
        days: float,
        *,
        interval: float = INTERVAL_SECONDS,
        first_within: float = FIRST_RUN_WITHIN_SECONDS,
        batch_size: int = 1000,
    ) -> None:
        self.store = store
        self.days = days
        self.interval = interval
        self.first_within = first_within
        self.batch_size = batch_size
        self.runs = 0  # completed runs, failed ones included

    async def run_once(self) -> Purged | None:
        """Purge once; log what was removed (or why it failed) and answer it (None: failed)."""
        before = time.time() - self.days * 86_400
        cut = datetime.fromtimestamp(before, UTC).isoformat(timespec="seconds")
        try:
            purged = await self.store.purge(before, batch_size=self.batch_size)
        except Exception as exc:
            log.warning("retention_failed", older_than=cut, error=str(exc))
            return None
        finally:
            self.runs += 1
        log.info(
            "retention_purged",
            older_than=cut,
            deliveries=purged.deliveries,
            events=purged.events,
            follow_ups=purged.follow_ups,
        )
        return purged

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Purge on the schedule while the block runs."""

        async def loop() -> None:
            await asyncio.sleep(random.uniform(0, self.first_within))
            while True:
                await self.run_once()
                await asyncio.sleep(self.interval * random.uniform(0.9, 1.1))

        task = asyncio.create_task(loop(), name="receiver-retention")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
