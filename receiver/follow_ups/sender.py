"""The follow-up sender: turns recorded intents into calls, never dialling twice for one intent.

Each intent is marked ``sending`` (committed) before its request leaves. Whatever happens
next is recorded against that mark:

=================================  =====================================================
answer                             what happens
=================================  =====================================================
2xx                                ``created`` with the Vocode call id
422                                ``rejected`` with the field errors; never retried
429                                retried after ``Retry-After`` (or the backoff)
not sent (connection refused,      retried with backoff: the request provably never
reset before it was written)       reached the API
5xx, timeout, reset after sending  the call may exist, or be in the making: the sender
                                   looks for a call whose ``context`` carries the intent's
                                   key, every reconcile delay, until the reconcile window
                                   has passed; found → ``created``; still not found →
                                   ``held`` for an operator (counted as ``unresolved``).
                                   It is never sent again by itself.
401/403, other errors, attempts    ``held`` for an operator
=================================  =====================================================

A sender that dies mid-request leaves its lease to expire; the next claim returns the
intent with ``reconcile`` set and a window of its own, so it is looked for, not resent.
An intent an operator releases (``receiver follow-ups release``) is looked for once and, if
its call is surely absent, sent.
"""

from __future__ import annotations

import json
import time
from typing import Any

import structlog
from aiolimiter import AsyncLimiter
from pydantic import ValidationError

from receiver.backoff import Backoff
from receiver.errors import (
    StoreError,
    VocodeAuthError,
    VocodeError,
    VocodeNotSent,
    VocodeRateLimited,
    VocodeRejected,
)
from receiver.follow_ups.guards import FollowUpGuards
from receiver.follow_ups.intent import FOLLOW_UP_DEPTH, FOLLOW_UP_KEY
from receiver.loop import ClaimLoop
from receiver.metrics import Metrics
from receiver.settings import Settings
from receiver.store.base import Store
from receiver.store.records import ClaimedFollowUp
from receiver.tracing import NO_TRACING, Tracing
from receiver.vocode.client import VocodeClient

log = structlog.get_logger("receiver.sender")


class Sender(ClaimLoop[ClaimedFollowUp]):
    """Sends due follow-up intents through ``client`` until :meth:`stop`.

    On stop, requests in flight get up to the lease to finish (their outcome must be
    recorded); one still running then is looked for again by whoever claims it next.
    """

    name = "receiver-sender"

    def __init__(
        self,
        store: Store,
        client: VocodeClient,
        settings: Settings,
        *,
        metrics: Metrics | None = None,
        tracing: Tracing = NO_TRACING,
        limiter: AsyncLimiter | None = None,
    ) -> None:
        super().__init__(
            capacity=settings.follow_up_concurrency,
            poll=settings.poll_interval_seconds,
            grace=settings.follow_up_lease_seconds,
        )
        self.store = store
        self.client = client
        self.metrics = metrics if metrics is not None else Metrics.discarding()
        self.tracing = tracing
        self.lease = settings.follow_up_lease_seconds
        self.max_attempts = settings.follow_up_max_attempts
        self.reconcile_delay = settings.follow_up_reconcile_delay_seconds
        self.reconcile_window = settings.follow_up_reconcile_window_seconds
        self.guards = FollowUpGuards(
            max_per_number=settings.follow_up_max_per_number,
            max_depth=settings.follow_up_max_depth,
        )
        self.backoff = Backoff(settings.retry_base_seconds, settings.retry_cap_seconds)
        # RECEIVER_FOLLOW_UP_RATE_PER_SECOND, shared with the reconciler and enrichment
        self._limiter = limiter or AsyncLimiter(settings.follow_up_rate_per_second, 1)

    async def _claim(self, free: int) -> tuple[list[ClaimedFollowUp], bool]:
        try:
            claim = await self.store.claim_follow_ups(
                free, self.lease, self.guards, self.reconcile_window
            )
        except StoreError as exc:
            log.error("follow_up_claim_failed", error=str(exc))
            return [], False
        for key, reason in claim.refused:
            self.metrics.follow_up(f"refused_{'dnc' if reason == 'do_not_call' else reason}")
            log.warning("follow_up_refused", key=key, reason=reason)
        return claim.claimed, len(claim.claimed) >= free

    def _ended(self, item: ClaimedFollowUp, error: BaseException | None) -> None:
        if error is not None:
            log.error("sender_error", exc_info=error)

    async def _run(self, item: ClaimedFollowUp) -> None:
        if not self.tracing.enabled:
            await self._send(item)
            return
        # a child of the handler run that asked for it: its Vocode requests join the trace
        attributes = {
            "receiver.follow_up_key": item.key,
            "receiver.attempt": item.attempt,
            "receiver.reconcile": item.reconcile,
        }
        with self.tracing.span("follow_up send", parent=item.trace_context, attributes=attributes):
            await self._send(item)

    async def _send(self, item: ClaimedFollowUp) -> None:
        with structlog.contextvars.bound_contextvars(follow_up=item.key, attempt=item.attempt):
            async with self._limiter:
                if item.reconcile and await self._reconciled(item):
                    return
                body = dict(item.request)
                body["context"] = {
                    **(body.get("context") or {}),
                    FOLLOW_UP_KEY: item.key,
                    FOLLOW_UP_DEPTH: str(item.depth),
                }
                try:
                    call = await self.client.create_call(body)
                except VocodeError as exc:
                    await self._failed(item, exc)
                    return
                except ValidationError as exc:  # recorded before its fields were checked
                    detail = exc.errors(
                        include_url=False, include_input=False, include_context=False
                    )
                    reason = json.dumps(detail)
                    await self._complete(item, "rejected", reason=reason)
                    return
            await self._complete(item, "created", vocode_call_id=call.id)

    async def _reconciled(self, item: ClaimedFollowUp) -> bool:
        """Look for the intent's call. True when this attempt's outcome is now recorded:
        found (created), to be looked for again, or held. False only for a released intent
        whose call is surely absent: it is to be sent."""
        doubt: str | None = None
        try:
            call = await self.client.find_call_by_context(FOLLOW_UP_KEY, item.key)
        except VocodeError as exc:
            call, doubt = None, f"cannot tell whether the call was created: {exc}"
        if call is not None:
            log.info("follow_up_reconciled", vocode_call_id=call.id)
            await self._complete(item, "created", vocode_call_id=call.id)
            return True
        if item.reconcile_until is None:  # released by an operator: one look, then send
            if doubt is None:
                return False
            if item.attempt >= self.max_attempts:
                await self._complete(item, "held", reason=doubt, reconcile=True)
            else:
                await self._retry(item, doubt, self.backoff.delay(item.attempt), reconcile=True)
            return True
        now = time.time()
        if now < item.reconcile_until:
            delay = min(self.reconcile_delay, item.reconcile_until - now)
            reason = doubt or "outcome unknown; no call carries the key yet"
            await self._look_again(item, reason, delay, item.reconcile_until)
            return True
        window = self.reconcile_window
        reason = (
            f"outcome unknown: no call carrying this key was found within {window:g} s "
            f"({doubt or 'not found'}). Check the Vocode account for the call, then "
            "`receiver follow-ups release` to send it, or `cancel`"
        )
        await self._complete(item, "held", reason=reason, reconcile=True, metric="unresolved")
        return True

    async def _failed(self, item: ClaimedFollowUp, exc: VocodeError) -> None:
        if isinstance(exc, VocodeRejected):
            await self._complete(item, "rejected", reason=json.dumps(exc.detail))
            return
        if isinstance(exc, VocodeAuthError) or type(exc) is VocodeError:
            await self._complete(item, "held", reason=str(exc))
            return
        if not isinstance(exc, VocodeRateLimited | VocodeNotSent):
            # a 5xx or an unknown outcome: the call may exist, or be in the making
            until = time.time() + self.reconcile_window
            await self._look_again(item, str(exc), self.reconcile_delay, until)
            return
        if item.attempt >= self.max_attempts:
            reason = f"gave up after {item.attempt} attempts: {exc}"
            await self._complete(item, "held", reason=reason)
            return
        if isinstance(exc, VocodeRateLimited):
            after = exc.retry_after
            delay = after if after is not None else self.backoff.delay(item.attempt)
            await self._retry(item, str(exc), delay, reconcile=False)
        else:
            await self._retry(item, str(exc), self.backoff.delay(item.attempt), reconcile=False)

    async def _look_again(
        self, item: ClaimedFollowUp, reason: str, delay: float, until: float
    ) -> None:
        """Look for the call again after ``delay``, until ``until``; never send it meanwhile."""
        await self._complete(
            item, "pending", reason=reason, next_attempt_at=time.time() + max(delay, 0.05),
            reconcile=True, reconcile_until=until,
        )  # fmt: skip

    async def _retry(
        self, item: ClaimedFollowUp, reason: str, delay: float, reconcile: bool
    ) -> None:
        await self._complete(
            item, "pending", reason=reason, next_attempt_at=time.time() + delay, reconcile=reconcile
        )

    async def _complete(
        self, item: ClaimedFollowUp, status: str, *, metric: str | None = None, **fields: Any
    ) -> None:
        try:
            kept = await self.store.complete_follow_up(item.key, item.attempt, status, **fields)
        except StoreError as exc:
            log.error("follow_up_not_recorded", status=status, error=str(exc))
            return
        outcome = metric or ("retried" if status == "pending" else status)
        self.tracing.current().set({"receiver.outcome": outcome if kept else "lease_lost"})
        if kept:
            self.metrics.follow_up(outcome)
        else:
            self.metrics.lease_lost("follow_up")
        (log.info if kept else log.warning)(
            "follow_up_finished",
            outcome=outcome if kept else "lease_lost",
            vocode_call_id=fields.get("vocode_call_id"),
            reason=fields.get("reason"),
        )
