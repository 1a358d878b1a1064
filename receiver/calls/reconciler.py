"""The reconciler: looks up calls whose terminal event never came, and makes that event.

Vocode documents no retries, no ordering and no delivery guarantee for webhooks. A call the
receiver knows (from an event, or because a follow-up created it) that has sent neither
``event_phone_call_ended`` nor ``event_phone_call_did_not_connect`` within
``RECEIVER_RECONCILE_AFTER_SECONDS`` of its last event (or creation) is looked up with
``GET /v1/calls?id=``. One claim loop per process leases due calls, so a call is looked up by
one process at a time (PostgreSQL: ``FOR UPDATE SKIP LOCKED``); requests share the follow-up
sender's rate cap.

========================  =======================================================
the API answers           what happens
========================  =======================================================
the call ended            the terminal event is stored, ``synthesized``, and
(or never connected)      delivered like any other: once, and a real one arriving
                          later is its duplicate. Nothing is made when the call has
                          a terminal event already, or its type is not subscribed.
the call goes on          looked up again after a backoff (doubling from the delay)
404                       ``not_found``: a final answer; nothing is made
429                       again after ``Retry-After`` (or the backoff)
5xx, no answer, 401/403   again after the backoff
========================  =======================================================

Until ``RECEIVER_RECONCILE_GIVE_UP_HOURS`` after its last event: then the call is
``unreconciled``, counted, and listed by ``receiver calls list --status unreconciled``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import structlog
from aiolimiter import AsyncLimiter

from receiver.backoff import Backoff
from receiver.calls import synthesize
from receiver.errors import StoreError, VocodeError, VocodeRateLimited
from receiver.events import TERMINAL_STAGES, TERMINAL_TYPES, Event
from receiver.loop import ClaimLoop
from receiver.metrics import Metrics
from receiver.metrics_calls import RECONCILE_OUTCOMES
from receiver.settings import Settings
from receiver.store.base import Store
from receiver.store.call_records import ClaimedCall, Lookup
from receiver.vocode.client import VocodeClient
from receiver.vocode.models import Call

log = structlog.get_logger("receiver.reconciler")

CAPACITY = 4  # lookups in flight per process (the shared rate cap bounds them too)
MAX_DELAY = 3600.0  # the longest wait between two lookups of a call (unless the delay is longer)
Route = Callable[[Event], tuple[str, ...]]


class Reconciler(ClaimLoop[ClaimedCall]):
    """Looks up due calls through ``client`` until :meth:`stop`; ``route`` names the handlers
    of a synthesised event (as intake's does)."""

    name = "receiver-reconciler"

    def __init__(
        self,
        store: Store,
        client: VocodeClient,
        settings: Settings,
        *,
        route: Route,
        limiter: AsyncLimiter | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        after = settings.reconcile_after_seconds
        super().__init__(
            capacity=CAPACITY,
            poll=max(settings.poll_interval_seconds, min(5.0, after / 4)),
            grace=settings.follow_up_lease_seconds,
        )
        self.store = store
        self.client = client
        self.route = route
        self.metrics = metrics if metrics is not None else Metrics.discarding()
        self.after = after
        self.give_up = settings.reconcile_give_up_hours * 3600
        self.lease = settings.follow_up_lease_seconds
        self.types = frozenset(t for t in TERMINAL_TYPES if t in settings.subscriptions)
        self.backoff = Backoff(after, max(after, MAX_DELAY))
        self._limiter = limiter or AsyncLimiter(settings.follow_up_rate_per_second, 1)

    async def _claim(self, free: int) -> tuple[list[ClaimedCall], bool]:
        try:
            claimed = await self.store.claim_calls(free, self.lease, self.after)
        except StoreError as exc:
            log.error("call_claim_failed", error=str(exc))
            return [], False
        return claimed, len(claimed) >= free

    def _ended(self, item: ClaimedCall, error: BaseException | None) -> None:
        if error is not None:
            log.error("reconciler_error", call_id=item.call_id, exc_info=error)

    async def _run(self, item: ClaimedCall) -> None:
        with structlog.contextvars.bound_contextvars(call_id=item.call_id, lookup=item.attempt):
            await self.record(await self.look_up(item))

    # one lookup -----------------------------------------------------------------------------

    async def look_up(self, item: ClaimedCall) -> Lookup:
        """Ask the API about ``item``'s call; what to record."""
        async with self._limiter:
            try:
                call = await self.client.get_call(item.call_id)
            except VocodeError as exc:
                return self._failed(item, exc)
        return self._found(item, call)

    def _failed(self, item: ClaimedCall, exc: VocodeError) -> Lookup:
        if exc.status == 404:
            self.metrics.call_lookup("not_found")
            return Lookup(item.call_id, item.attempt, "not_found", "404: the API does not know it")
        delay = None
        if isinstance(exc, VocodeRateLimited):
            self.metrics.call_lookup("rate_limited")
            delay = exc.retry_after
        else:
            self.metrics.call_lookup("failed")
        log.warning("call_lookup_failed", error=str(exc))
        return self._again(item, str(exc), delay)

    def _found(self, item: ClaimedCall, call: Call) -> Lookup:
        kind = synthesize.terminal_type(call)
        stage = synthesize.stage_of(call)
        said = f"{call.status}, stage {call.stage}, outcome {call.stage_outcome}"
        if kind is None:
            self.metrics.call_lookup("in_progress")
            return self._again(item, said, None, stage)
        self.metrics.call_lookup(TERMINAL_STAGES[kind])  # ended, did_not_connect
        if kind not in self.types:
            result = f"{said}: {kind} is not in RECEIVER_SUBSCRIPTIONS"
            return Lookup(item.call_id, item.attempt, "reconciled", result, stage)
        now = time.time()
        event, _ = synthesize.terminal_event(call, kind, now=now, route=self.route)
        return Lookup(
            item.call_id, item.attempt, "synthesized", said, stage,
            event=event, snapshot=call.model_dump_json(),
        )  # fmt: skip

    def _again(
        self, item: ClaimedCall, result: str, delay: float | None, stage: str | None = None
    ) -> Lookup:
        """Look again after ``delay`` (else the backoff), or give up once it is time to."""
        now = time.time()
        if now >= item.last_seen_at + self.give_up:
            hours = self.give_up / 3600
            result = f"given up {hours:g} h after its last event: {result}"
            return Lookup(item.call_id, item.attempt, "unreconciled", result, stage)
        if delay is None:  # equal jitter: spread, never much sooner than the ceiling
            delay = self.backoff.ceiling(item.attempt) * random.uniform(0.5, 1.0)
        return Lookup(item.call_id, item.attempt, "open", result, stage, next_check_at=now + delay)

    async def record(self, lookup: Lookup) -> None:
        """Record ``lookup``; count and log what it settled."""
        try:
            looked = await self.store.record_lookup(lookup)
        except StoreError as exc:  # the lease expires and the call is looked up again
            log.error("call_lookup_not_recorded", error=str(exc))
            return
        if looked.outcome == "lease_lost":
            self.metrics.lease_lost("call")
            log.warning("call_reconciled", outcome="lease_lost")
            return
        status = looked.status or lookup.status
        if looked.synthesized and lookup.event is not None:
            self.metrics.event_synthesized(lookup.event.type)
        if status in RECONCILE_OUTCOMES:  # not open still, nor ended by its own event meanwhile
            self.metrics.call_reconciled(status)
        (log.info if status != "unreconciled" else log.warning)(
            "call_reconciled",
            outcome=status,
            event_id=looked.event_id,
            result=lookup.result,
            next_check_in=(
                round(lookup.next_check_at - time.time(), 3) if lookup.next_check_at else None
            ),
        )
