"""The worker: claims due deliveries in batches, runs their handlers, records the outcomes.

One claim loop (:class:`~receiver.loop.ClaimLoop`) per process. It wakes when intake commits
(same process, or any process through PostgreSQL's NOTIFY) and otherwise polls every
``RECEIVER_POLL_INTERVAL_SECONDS``. Each claim leases the delivery for the handler's timeout
plus a margin; a worker that dies leaves the lease to expire and the delivery is claimed
again. A finish is recorded only while the lease is still the attempt's own (``attempts`` is
the fencing token), so no delivery is marked done twice.

Outcomes go to a :class:`~receiver.delivery.recorder.Recorder`, which writes those of one
turn of the loop together. ``worker_concurrency`` (and a handler's ``concurrency``) bound the
handlers *running*: a slot is free again as soon as its handler returns, while its outcome
is being committed, so the next claim does not wait a commit for it. Order per call still
holds: until its outcome is committed a delivery is ``running`` in the store, which keeps
the call's next event from being due.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import structlog
from pydantic import ValidationError

from receiver.backoff import Backoff
from receiver.calls.enrich import Enricher
from receiver.delivery.context import HandlerContext
from receiver.delivery.recorder import Recorder
from receiver.delivery.registry import Registry
from receiver.delivery.router import HandlerSpec
from receiver.delivery.run import HandlerRun, Outcome, outcome_of, run_handler
from receiver.errors import StoreError, VocodeError, VocodeRateLimited
from receiver.events import validate
from receiver.loop import ClaimLoop
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store.base import Store
from receiver.store.records import Claimed
from receiver.tracing import NO_TRACING, Tracing
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import Call

log = structlog.get_logger("receiver.worker")


class Worker(ClaimLoop[Claimed]):
    """Runs deliveries of ``registry``'s handlers from ``store`` until :meth:`stop`."""

    name = "receiver-worker"

    def __init__(
        self,
        store: Store,
        registry: Registry,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        vocode: VocodeClient | None = None,
        tracing: Tracing = NO_TRACING,
        enricher: Enricher | None = None,
    ) -> None:
        super().__init__(
            capacity=settings.worker_concurrency,
            poll=settings.poll_interval_seconds,
            grace=settings.shutdown_grace_seconds,
        )
        self.store = store
        self.registry = registry
        self.metrics = metrics if metrics is not None else Metrics.discarding()
        self.vocode = vocode
        self.tracing = tracing
        self.enricher = enricher  # the Call of handlers registered with enrich=True
        self.backoff = Backoff(settings.retry_base_seconds, settings.retry_cap_seconds)
        self.default_region = settings.default_region
        self.leases = {
            name: spec.timeout + settings.lease_margin_seconds
            for name, spec in registry.handlers.items()
        }
        self.ordered = frozenset(n for n, spec in registry.handlers.items() if spec.ordered)
        self._executor = ThreadPoolExecutor(settings.worker_threads, "receiver-handler")
        self._recorder = Recorder(store, self.metrics)
        self._per_handler: Counter[str] = Counter()  # deliveries in flight, per handler

    def start(self) -> None:
        if self.registry.handlers:
            super().start()

    # the claim loop's parts -------------------------------------------------------------------

    async def _claim(self, free: int) -> tuple[list[Claimed], bool]:
        slots = {}
        for name, spec in self.registry.handlers.items():
            limit = free if spec.concurrency is None else spec.concurrency - self._per_handler[name]
            if limit > 0:
                slots[name] = min(free, limit)
        if not slots:
            return [], False
        try:
            claimed = await self.store.claim(slots, self.ordered, self.leases, free)
        except StoreError as exc:
            log.error("claim_failed", error=str(exc))
            return [], False
        return claimed, len(claimed) >= min(free, sum(slots.values()))

    def _started(self, item: Claimed) -> None:
        self._per_handler[item.handler] += 1

    def _ended(self, item: Claimed, error: BaseException | None) -> None:
        self._per_handler[item.handler] -= 1
        if error is not None:
            # not a handler's error (those are outcomes): the lease expires, it runs again
            log.error("worker_error", delivery_id=item.id, exc_info=error)

    async def _draining(self, count: int) -> None:
        log.info("worker_draining", running=count, grace_seconds=self.grace)

    async def _abandon(self, items: list[Claimed]) -> None:
        await self.store.release([(item.id, item.attempt) for item in items])
        log.warning("worker_released", deliveries=len(items))

    async def _stopped(self) -> None:
        await self._recorder.drain()  # outcomes of handlers that returned: written before close
        self._executor.shutdown(wait=False, cancel_futures=True)

    # one delivery ---------------------------------------------------------------------------

    async def _run(self, item: Claimed) -> None:
        fields = item.log_fields()
        # This task's own context: bound for every line of the delivery, gone with the task.
        structlog.contextvars.bind_contextvars(**fields)
        if not self.tracing.enabled:
            outcome, run = await self._attempt(item, fields)
        else:  # a child of the intake request's span, in whichever process stored the event
            with self.tracing.span(
                f"handler {item.handler}",
                parent=item.trace_context,
                attributes={
                    "receiver.handler": item.handler,
                    "receiver.event_id": item.event_id,
                    "receiver.event_type": item.envelope.get("type"),
                    "receiver.attempt": item.attempt,
                },
            ) as span:
                outcome, run = await self._attempt(item, fields, span.traceparent())
                span.set({"receiver.outcome": outcome.status})
                if run is not None and run.kind == "error":
                    span.failed((run.error or "error").split(":", 1)[0])
        self._recorder.add(item, outcome, run)  # written with this turn's others

    async def _attempt(
        self, item: Claimed, fields: dict[str, object], trace_context: str | None = None
    ) -> tuple[Outcome, HandlerRun | None]:
        spec = self.registry[item.handler]
        if item.attempt > spec.max_attempts:  # its worker died on every attempt
            error = "the lease expired on every attempt (did the worker crash?)"
            return Outcome("dead", None, error), None
        try:
            event = validate(item.envelope, stored=True)
        except ValidationError as exc:
            error = f"the stored event no longer validates: {exc.error_count()} errors"
            return Outcome("dead", None, error), None
        call = None
        if spec.enrich:
            try:
                call = await self._call(spec, item)
            except (VocodeError, TimeoutError) as exc:
                run = _not_fetched(exc)
                return outcome_of(spec, item.attempt, run, self.backoff), run
        ctx = HandlerContext(
            event_id=item.event_id,
            call_id=item.call_id,
            handler=item.handler,
            attempt=item.attempt,
            log=log.bind(**fields),
            vocode=self.vocode,
            side_effects=item.side_effects,
            default_region=self.default_region,
            trace_context=trace_context,
            call=call,
        )
        run = await run_handler(spec, event, ctx, self._executor)
        return outcome_of(spec, item.attempt, run, self.backoff), run

    async def _call(self, spec: HandlerSpec, item: Claimed) -> Call | None:
        """The Call for an ``enrich`` handler, within the handler's timeout (its lease)."""
        if self.enricher is None:
            raise VocodeError("enrich=True needs the Vocode API: set RECEIVER_VOCODE_API_KEY")
        async with asyncio.timeout(spec.timeout):
            return await self.enricher.call(item.event_id, item.call_id)


def _not_fetched(exc: BaseException) -> HandlerRun:
    """The run of a handler that did not run: the Call it asked for could not be fetched."""
    if isinstance(exc, TimeoutError):
        return HandlerRun("error", "TimeoutError: the Call was not fetched in time", None, (), 0.0)
    error = f"the Call could not be fetched: {exc}"
    if isinstance(exc, VocodeRateLimited) and exc.retry_after is not None:
        return HandlerRun("retry", error, exc.retry_after, (), 0.0)
    return HandlerRun("error", error, None, (), 0.0)
