"""The worker: claims due deliveries in batches, runs their handlers, records the outcomes.

One asyncio loop per process. It wakes when intake commits (same process) and otherwise
polls every ``RECEIVER_POLL_INTERVAL_SECONDS``. Each claim leases the delivery for the
handler's timeout plus a margin; a worker that dies leaves the lease to expire and the
delivery is claimed again. A finish is recorded only while the lease is still the
attempt's own (``attempts`` is the fencing token), so no delivery is marked done twice.

Outcomes go to a :class:`~receiver.recorder.Recorder`, which writes those of one turn of
the loop together. ``worker_concurrency`` (and a handler's ``concurrency``) bound the
handlers *running*: a slot is free again as soon as its handler returns, while its outcome
is being committed, so the next claim does not wait a commit for it. Order per call still
holds: until its outcome is committed a delivery is ``running`` in the store, which keeps
the call's next event from being due.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import structlog
from pydantic import ValidationError

from receiver.delivery import run as dispatch
from receiver.delivery.backoff import RetryPolicy
from receiver.delivery.context import HandlerContext
from receiver.delivery.recorder import Recorder
from receiver.delivery.registry import Registry
from receiver.errors import StoreError
from receiver.events import event_adapter
from receiver.settings import Settings
from receiver.store.records import Claimed

log = structlog.get_logger("receiver.worker")


class Worker:
    """Runs deliveries of ``registry``'s handlers from ``store`` until :meth:`stop`."""

    def __init__(
        self,
        store: Any,
        registry: Registry,
        settings: Settings,
        *,
        metrics: Any = None,
        vocode: Any = None,
    ) -> None:
        self.store = store
        self.registry = registry
        self.metrics = metrics
        self.vocode = vocode
        self.capacity = settings.worker_concurrency
        self.poll = settings.poll_interval_seconds
        self.grace = settings.shutdown_grace_seconds
        self.policy = RetryPolicy(settings.retry_base_seconds, settings.retry_cap_seconds)
        self.leases = {
            name: spec.timeout + settings.lease_margin_seconds
            for name, spec in registry.handlers.items()
        }
        self.ordered = frozenset(n for n, spec in registry.handlers.items() if spec.ordered)
        self._executor = ThreadPoolExecutor(settings.worker_threads, "receiver-handler")
        self._recorder = Recorder(store, metrics)
        self._running: dict[asyncio.Task[None], Claimed] = {}  # until handed to the recorder
        # (delivery id, attempt) whose handler has not returned yet: an attempt, not a delivery,
        # as a lease that ran out lets this worker claim the delivery again meanwhile
        self._active: set[tuple[int, int]] = set()
        self._per_handler: Counter[str] = Counter()  # of those, per handler
        self._wake = asyncio.Event()
        self._stopping = False
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._loop_task is not None and not self._loop_task.done()

    def wake(self) -> None:
        """Claim now instead of at the next poll (called when intake commits)."""
        self._wake.set()

    def start(self) -> None:
        if self.registry.handlers:
            self._loop_task = asyncio.create_task(self._claim_loop(), name="receiver-worker")

    async def stop(self) -> None:
        """Stop claiming; let running handlers finish within the grace period; release the rest."""
        self._stopping = True
        self._wake.set()
        if self._loop_task is not None:
            await self._loop_task
        tasks = list(self._running)
        if tasks:
            log.info("worker_draining", running=len(tasks), grace_seconds=self.grace)
            _, late = await asyncio.wait(tasks, timeout=self.grace)
            unfinished = [(self._running[t].id, self._running[t].attempt) for t in late]
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
            if unfinished:
                await self.store.release(unfinished)
                log.warning("worker_released", deliveries=len(unfinished))
        await self._recorder.drain()  # outcomes of handlers that returned: written before close
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _slots(self) -> tuple[dict[str, int], int]:
        """Per handler, how many it may claim; and how many in all (the free capacity)."""
        free = self.capacity - len(self._active)
        if free <= 0:
            return {}, 0
        slots = {}
        for name, spec in self.registry.handlers.items():
            limit = free if spec.concurrency is None else spec.concurrency - self._per_handler[name]
            if limit > 0:
                slots[name] = min(free, limit)
        return slots, free

    async def _claim_loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            slots, free = self._slots()
            claimed: list[Claimed] = []
            if slots:
                try:
                    claimed = await self.store.claim(slots, self.ordered, self.leases, free)
                except StoreError as exc:
                    log.error("claim_failed", error=str(exc))
            for item in claimed:
                self._start(item)
            if claimed and len(claimed) >= min(free, sum(slots.values())):
                continue  # a full batch: more may be due already
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    def _start(self, item: Claimed) -> None:
        task = asyncio.create_task(self._deliver(item))
        self._running[task] = item
        self._active.add((item.id, item.attempt))
        self._per_handler[item.handler] += 1
        task.add_done_callback(self._finished)

    def _free(self, item: Claimed) -> None:
        """The handler has returned (or never will): its slot may be claimed again."""
        attempt = (item.id, item.attempt)
        if attempt in self._active:
            self._active.discard(attempt)
            self._per_handler[item.handler] -= 1
            self._wake.set()

    def _finished(self, task: asyncio.Task[None]) -> None:
        item = self._running.pop(task)
        self._free(item)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            # not a handler's error (those are outcomes): the lease expires, it runs again
            log.error("worker_error", delivery_id=item.id, exc_info=task.exception())

    async def _deliver(self, item: Claimed) -> None:
        bound = dict(
            event_id=item.event_id,
            call_id=item.call_id,
            type=item.envelope.get("type"),
            handler=item.handler,
            attempt=item.attempt,
        )
        # This task's own context: bound for every line of the delivery, gone with the task.
        structlog.contextvars.bind_contextvars(**bound)
        try:
            decision, result = await self._attempt(item, bound)
            self._recorder.add(item, decision, result)  # written with this turn's others
        finally:
            self._free(item)

    async def _attempt(
        self, item: Claimed, bound: dict[str, Any]
    ) -> tuple[dispatch.Decision, dispatch.Attempt | None]:
        spec = self.registry[item.handler]
        if item.attempt > spec.max_attempts:  # its worker died on every attempt
            error = "the lease expired on every attempt (did the worker crash?)"
            return dispatch.Decision("dead", None, error), None
        try:
            event = event_adapter.validate_python(item.envelope)
        except ValidationError as exc:
            error = f"the stored event no longer validates: {exc.error_count()} errors"
            return dispatch.Decision("dead", None, error), None
        ctx = HandlerContext(
            event_id=item.event_id,
            call_id=item.call_id,
            handler=item.handler,
            attempt=item.attempt,
            log=log.bind(**bound),
            vocode=self.vocode,
            side_effects=item.side_effects,
        )
        result = await dispatch.attempt(spec, event, ctx, self._executor)
        return dispatch.decide(spec, item.attempt, result, self.policy), result
