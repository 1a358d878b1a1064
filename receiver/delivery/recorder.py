"""Recording the outcomes of deliveries: every attempt that ends in one turn of the event
loop is written with one :meth:`~receiver.store.base.Store.finish_many`.

A busy worker ends dozens of attempts per turn. One write for all of them, answered once,
costs the loop one future and one wake-up instead of one per delivery; the store still
records (or refuses, when the lease was lost) each on its own. Each outcome is then counted
and logged (``delivery_finished``) with the delivery's fields, as the delivery's task would.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from dataclasses import dataclass

import structlog

from receiver.delivery.run import HandlerRun, Outcome
from receiver.errors import StoreError
from receiver.metrics import Metrics
from receiver.store.base import Store
from receiver.store.records import Claimed, Finish

log = structlog.get_logger("receiver.worker")


@dataclass(frozen=True, slots=True)
class _Ended:
    item: Claimed
    outcome: Outcome
    run: HandlerRun | None  # None: the handler did not run (the outcome was decided before)
    finish: Finish


class Recorder:
    """Batches the ends of attempts into one write per turn of the loop."""

    def __init__(self, store: Store, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics
        self._pending: list[_Ended] = []
        self._writes: set[asyncio.Task[None]] = set()

    def add(self, item: Claimed, outcome: Outcome, run: HandlerRun | None) -> None:
        """Record this attempt's end with the others that end in this turn of the loop."""
        finish = Finish(
            id=item.id,
            attempt=item.attempt,
            status=outcome.status,
            next_attempt_at=outcome.next_attempt_at,
            error=outcome.error,
            follow_ups=run.follow_ups if run else (),
            side_effects=item.side_effects,
        )
        self._pending.append(_Ended(item, outcome, run, finish))
        if len(self._pending) == 1:  # an empty context: no delivery's bindings leak into it
            asyncio.get_running_loop().call_soon(self._flush, context=contextvars.Context())

    async def drain(self) -> None:
        """Wait until everything added so far is written (shutdown)."""
        while self._pending or self._writes:
            if self._pending:
                self._flush()
            await asyncio.gather(*self._writes, return_exceptions=True)

    def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.create_task(self._write(batch), name="receiver-recorder")
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _write(self, batch: list[_Ended]) -> None:
        answers: list[bool | StoreError]
        try:
            answers = await self.store.finish_many([ended.finish for ended in batch])
        except StoreError as exc:  # the leases will expire and the deliveries run again
            answers = [exc] * len(batch)
        except Exception:  # not an outcome but a bug: the same, and the error logged
            log.exception("worker_error", deliveries=len(batch))
            return
        for ended, answer in zip(batch, answers, strict=True):
            self._report(ended, answer)

    def _report(self, ended: _Ended, answer: bool | StoreError) -> None:
        item, outcome, finish = ended.item, ended.outcome, ended.finish
        fields = item.log_fields()  # what the delivery's own lines carry
        if isinstance(answer, StoreError):
            log.error("delivery_not_recorded", error=str(answer), **fields)
            return
        seconds = ended.run.seconds if ended.run else 0.0
        if not answer:
            self.metrics.lease_lost("delivery")
        if answer:
            self.metrics.delivery(item.handler, outcome.status, seconds)
            if finish.follow_ups and not item.side_effects:
                for _ in finish.follow_ups:
                    self.metrics.follow_up("suppressed")
        # a lost lease is logged as a warning: the handler ran past its lease (or its outcome
        # reached the store too late) and the delivery runs again elsewhere
        (log.info if answer else log.warning)(
            "delivery_finished",
            outcome=outcome.status if answer else "lease_lost",
            duration_ms=round(seconds * 1000, 2),
            error=outcome.error,
            follow_ups=len(finish.follow_ups),
            retry_in=(
                round(outcome.next_attempt_at - time.time(), 3)
                if outcome.next_attempt_at
                else None
            ),
            **fields,
            **(ended.run.notes if ended.run else {}),
        )
