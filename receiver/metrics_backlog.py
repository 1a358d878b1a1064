"""The backlog gauges: what waits in the shared database, read from the store every few
seconds by one grouped query per table, never by a scrape.

They describe the database, not the process, so every process reports the same values:
aggregate them with ``max``, not ``sum``. Part of :class:`receiver.metrics.Metrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

log = structlog.get_logger("receiver.metrics")

DeliveryStats = Mapping[str, Any]
"""handler -> (pending, oldest pending age in seconds, dead): a tuple, or an object with the
attributes ``pending``, ``oldest_pending_age`` and ``dead`` (``store.HandlerStats``)."""
StatsSource = Callable[[], Awaitable[DeliveryStats]]
FollowUpStatsSource = Callable[[], Awaitable[Any]]
"""Answers an object with ``pending`` and ``held`` (``store.FollowUpStats``)."""


class BacklogGauges:
    """Pending, oldest-age and dead deliveries per handler; pending and held follow-ups."""

    _handlers: set[str]

    def handler_label(self, name: str) -> str:
        raise NotImplementedError

    def _init_backlog(self, r: CollectorRegistry) -> None:
        self.pending = Gauge(
            "receiver_deliveries_pending",
            "Deliveries waiting to run or running, per handler (from the store, every few "
            "seconds; the same in every process: aggregate with max).",
            ("handler",),
            registry=r,
        )
        self.oldest_pending_age = Gauge(
            "receiver_oldest_pending_age_seconds",
            "Age of the oldest pending delivery, per handler; 0 when none is pending.",
            ("handler",),
            registry=r,
        )
        self.dead = Gauge(
            "receiver_deliveries_dead",
            "Deliveries that used up their attempts and wait for a replay, per handler.",
            ("handler",),
            registry=r,
        )
        self.follow_ups_pending = Gauge(
            "receiver_follow_ups_pending",
            "Follow-up intents waiting to be sent or being sent (from the store; the same in "
            "every process: aggregate with max).",
            registry=r,
        )
        self.follow_ups_held = Gauge(
            "receiver_follow_ups_held",
            "Follow-up intents held for an operator (`receiver follow-ups list --status held`).",
            registry=r,
        )
        self.stats_age = Gauge(
            "receiver_delivery_stats_age_seconds",
            "Seconds since the backlog gauges were last read from the store (since start "
            "if never).",
            registry=r,
        )
        self.stats_errors = Counter(
            "receiver_delivery_stats_errors",
            "Failed reads of the backlog gauges from the store.",
            registry=r,
        )
        self.stats_errors.inc(0)
        self._stat_labels: set[str] = set()  # handler labels the delivery gauges carry
        self._stats_at = time.monotonic()
        self._oldest_since: dict[str, float] = {}  # label -> wall time of the oldest pending
        self.stats_age.set_function(lambda: time.monotonic() - self._stats_at)

    def set_delivery_stats(self, stats: DeliveryStats) -> None:
        """Set the pending, oldest-age and dead gauges from one read of the store.

        Registered handlers missing from ``stats`` are set to 0; rows of handlers this process
        does not load are summed under ``unregistered``.
        """
        totals: dict[str, tuple[int, float, int]] = {}
        for handler, row in stats.items():
            pending, oldest, dead = (
                row if isinstance(row, tuple) else (row.pending, row.oldest_pending_age, row.dead)
            )
            label = self.handler_label(handler)
            p, o, d = totals.get(label, (0, 0.0, 0))
            totals[label] = (p + int(pending), max(o, float(oldest)), d + int(dead))
        for label in self._handlers | self._stat_labels | set(totals):
            self._set_stats(label, *totals.get(label, (0, 0.0, 0)))
        self._stats_at = time.monotonic()

    def _set_stats(self, label: str, pending: int, oldest: float, dead: int) -> None:
        if label not in self._stat_labels:
            self._stat_labels.add(label)
            # the age keeps growing between reads (and while the store cannot be read)
            self.oldest_pending_age.labels(label).set_function(lambda: self._age(label))
        self.pending.labels(label).set(pending)
        self.dead.labels(label).set(dead)
        if pending > 0 and math.isfinite(oldest):
            self._oldest_since[label] = time.time() - max(oldest, 0.0)
        else:
            self._oldest_since.pop(label, None)

    def _age(self, label: str) -> float:
        since = self._oldest_since.get(label)
        return 0.0 if since is None else max(time.time() - since, 0.0)

    def set_follow_up_stats(self, stats: Any) -> None:
        """Set the follow-up gauges from one read of the store (``pending``, ``held``)."""
        self.follow_ups_pending.set(stats.pending)
        self.follow_ups_held.set(stats.held)

    def set_call_stats(self, stats: Any) -> None:
        raise NotImplementedError

    async def refresh_delivery_stats(
        self,
        stats: StatsSource,
        follow_ups: FollowUpStatsSource | None = None,
        calls: FollowUpStatsSource | None = None,
    ) -> bool:
        """Read ``stats()`` (and ``follow_ups()``, ``calls()``) once and set the gauges; on
        failure keep the old values."""
        try:
            result = await stats()
            follow_up_stats = await follow_ups() if follow_ups is not None else None
            call_stats = await calls() if calls is not None else None
        except Exception:
            self.stats_errors.inc()
            log.warning("delivery_stats_failed", exc_info=True)
            return False
        self.set_delivery_stats(result)
        if follow_up_stats is not None:
            self.set_follow_up_stats(follow_up_stats)
        if call_stats is not None:
            self.set_call_stats(call_stats)
        return True

    @contextlib.asynccontextmanager
    async def refreshing(
        self,
        stats: StatsSource,
        interval: float = 5.0,
        follow_ups: FollowUpStatsSource | None = None,
        calls: FollowUpStatsSource | None = None,
    ) -> AsyncIterator[None]:
        """Refresh the backlog gauges every ``interval`` seconds while the block runs
        (``calls()`` answers an object with ``open``: ``store.CallStats``).

        The first read starts at once, in the background: entering never waits on the store.
        """

        async def loop() -> None:
            while True:
                await self.refresh_delivery_stats(stats, follow_ups, calls)
                await asyncio.sleep(interval)

        task = asyncio.create_task(loop(), name="receiver-metrics-refresh")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

