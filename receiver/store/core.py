"""The store, written once: every operation of :class:`~receiver.store.base.Store` in terms of
the few primitives a dialect supplies.

A dialect (``store/sqlite``, ``store/postgres``) provides its :class:`Queries`, runs plans
(:meth:`SqlStore._read`, :meth:`SqlStore._write`), opens and closes its connections, and does
the three busiest operations its own way, because that is where the engines truly differ:
storing events (group commit on SQLite, one statement per batch on PostgreSQL), claiming
deliveries (a writer-serialised walk on SQLite, ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and
recording their ends.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from typing import TypeVar

from receiver.errors import InvalidNumber, StoreError
from receiver.numbers import to_e164
from receiver.store import calls, deliveries, events, follow_ups, schema
from receiver.store import purge as purge_plans
from receiver.store.call_records import CallRecord, CallStats, ClaimedCall, Looked, Lookup
from receiver.store.plan import Plan
from receiver.store.queries import Queries
from receiver.store.records import (
    Claimed,
    ClaimRequest,
    DeliveryFilter,
    DeliveryRecord,
    DncEntry,
    EventPage,
    EventQuery,
    EventRecord,
    Finish,
    FollowUpClaim,
    FollowUpQuery,
    FollowUpRecord,
    FollowUpStats,
    Guards,
    HandlerStats,
    NewEvent,
    Purged,
    Released,
    SchemaState,
    Stored,
)

T = TypeVar("T")
PlanFactory = Callable[[], Plan[T]]
"""Makes the plan afresh: a write may be run again on its own when its batch failed."""


class SqlStore(abc.ABC):
    """The operations of a :class:`~receiver.store.base.Store`, over a dialect's primitives."""

    queries: Queries

    def __init__(self, default_region: str | None = None) -> None:
        self.on_commit: list[Callable[[], None]] = []
        self.default_region = default_region  # numbers without +country code (E.164)

    def _notify(self) -> None:
        """Wake this process's loops: a commit may have made work due."""
        for callback in list(self.on_commit):
            callback()

    # what a dialect supplies ------------------------------------------------------------------

    @abc.abstractmethod
    async def open(self, *, migrate: bool = True, read_only: bool = False) -> None: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def _read(self, plan: PlanFactory[T]) -> T:
        """Run a plan that only reads."""

    @abc.abstractmethod
    async def _write(self, plan: PlanFactory[T], *, notify: bool = False) -> T:
        """Run a plan in one write transaction; with ``notify``, wake the workers of every
        process once it is committed."""

    @abc.abstractmethod
    async def add_event(self, event: NewEvent) -> Stored: ...

    @abc.abstractmethod
    async def _claim(self, request: ClaimRequest) -> list[Claimed]: ...

    @abc.abstractmethod
    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]: ...

    # schema -----------------------------------------------------------------------------------

    async def migrate(self) -> SchemaState:
        return await self._write(lambda: schema.migrate(self.queries, self.default_region))

    async def schema_state(self) -> SchemaState:
        return await self._read(lambda: schema.schema_state(self.queries))

    async def ping(self) -> None:
        await self._read(schema.ping)

    async def probe_write(self) -> None:
        await self._write(lambda: schema.probe_write(self.queries))

    # events -----------------------------------------------------------------------------------

    async def get_event(self, event_id: str) -> EventRecord | None:
        return await self._read(lambda: events.get_event(event_id))

    async def list_events(
        self,
        *,
        type: str | None = None,
        call_id: str | None = None,
        limit: int = 50,
        quarantined: bool = False,
        before_seq: int | None = None,
        after_seq: int | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[EventRecord]:
        where = EventQuery(type, call_id, limit, quarantined, before_seq, after_seq, since, until)
        return await self._read(lambda: events.list_events(where))

    async def events_after(
        self, after_seq: int, *, limit: int = 100, newest: bool = False
    ) -> EventPage:
        return await self._read(lambda: events.events_after(after_seq, limit, newest))

    async def first_seq_at(self, at: float | None = None) -> int:
        if at is None:
            return await self._read(events.next_seq)
        return await self._read(lambda: events.first_seq_at(at))

    async def release_quarantined(
        self, event_id: str, envelope: str, dedup_key: str, handlers: tuple[str, ...]
    ) -> Released:
        return await self._write(
            lambda: events.release_quarantined(
                self.queries, event_id, envelope, dedup_key, handlers
            ),
            notify=bool(handlers),
        )

    async def update_quarantine(self, event_id: str, quarantine: str) -> bool:
        return await self._write(lambda: events.update_quarantine(event_id, quarantine))

    async def count_events(self) -> int:
        return await self._read(events.count_events)

    async def purge(
        self,
        before: float,
        *,
        batch_size: int = 1000,
        follow_ups: bool = True,
        progress: Callable[[Purged], None] | None = None,
    ) -> Purged:
        """One short write per ``batch_size`` events (or intents), so intake goes on between."""
        removed = Purged(0, 0)
        after: int | None = 0
        while after is not None:
            step = await self._write(
                functools.partial(events.purge_chunk, self.queries, before, after, batch_size)
            )
            removed += Purged(step.deliveries, step.events)
            after = step.after
            if progress is not None:
                progress(removed)
        while follow_ups:
            plan = functools.partial(purge_plans.follow_ups_chunk, self.queries, before, batch_size)
            count = await self._write(plan)
            removed += Purged(0, 0, count)
            if progress is not None:
                progress(removed)
            if count < batch_size:
                break
        return removed

    async def count_purgeable(self, before: float, *, follow_ups: bool = True) -> Purged:
        return await self._read(lambda: purge_plans.count(self.queries, before, follow_ups))

    # deliveries -------------------------------------------------------------------------------

    async def claim(
        self,
        slots: dict[str, int],
        ordered: frozenset[str],
        leases: dict[str, float],
        limit: int | None = None,
    ) -> list[Claimed]:
        return await self._claim(ClaimRequest(slots, ordered, leases, limit))

    async def finish(self, result: Finish) -> bool:
        [answer] = await self.finish_many([result])
        if isinstance(answer, StoreError):
            raise answer
        return answer

    async def release(self, claims: list[tuple[int, int]]) -> None:
        await self._write(lambda: deliveries.release(self.queries, claims), notify=True)

    async def requeue(self, ids: list[int], *, side_effects: bool = True) -> int:
        return await self._write(
            lambda: deliveries.requeue(self.queries, ids, side_effects), notify=True
        )

    async def list_deliveries(self, where: DeliveryFilter) -> list[DeliveryRecord]:
        return await self._read(lambda: deliveries.list_deliveries(self.queries, where))

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        found = await self.list_deliveries(DeliveryFilter(ids=(delivery_id,)))
        return found[0] if found else None

    async def delivery_stats(self) -> dict[str, HandlerStats]:
        return await self._read(lambda: deliveries.delivery_stats(self.queries))

    # follow-ups -------------------------------------------------------------------------------

    async def claim_follow_ups(
        self, limit: int, lease: float, guards: Guards, reconcile_window: float = 0.0
    ) -> FollowUpClaim:
        return await self._write(
            lambda: follow_ups.claim_follow_ups(
                self.queries, limit, lease, guards, reconcile_window
            )
        )

    async def complete_follow_up(
        self,
        key: str,
        attempt: int,
        status: str,
        *,
        vocode_call_id: str | None = None,
        reason: str | None = None,
        next_attempt_at: float | None = None,
        reconcile: bool = False,
        reconcile_until: float | None = None,
    ) -> bool:
        return await self._write(
            functools.partial(
                follow_ups.complete_follow_up, self.queries, key, attempt, status, vocode_call_id,
                reason, next_attempt_at, reconcile, reconcile_until,
            ),
            notify=status == "pending",
        )

    async def list_follow_ups(
        self,
        *,
        status: str | None = None,
        limit: int = 50,
        call_id: str | None = None,
        vocode_call_id: str | None = None,
        before: tuple[float, str] | None = None,
    ) -> list[FollowUpRecord]:
        where = FollowUpQuery(status, None, call_id, vocode_call_id, before, limit)
        return await self._read(lambda: follow_ups.list_follow_ups(where))

    async def get_follow_up(self, key: str) -> FollowUpRecord | None:
        where = FollowUpQuery(key=key, limit=1)
        found = await self._read(lambda: follow_ups.list_follow_ups(where))
        return found[0] if found else None

    async def follow_up_counts(self) -> dict[str, int]:
        return await self._read(follow_ups.follow_up_counts)

    async def release_follow_up(self, key: str) -> bool:
        return await self._write(
            lambda: follow_ups.release_follow_up(self.queries, key), notify=True
        )

    async def cancel_follow_up(self, key: str) -> bool:
        return await self._write(lambda: follow_ups.cancel_follow_up(self.queries, key))

    async def follow_up_stats(self) -> FollowUpStats:
        return await self._read(follow_ups.follow_up_stats)

    async def dnc_add(self, number: str, reason: str | None = None) -> str:
        e164 = to_e164(number, self.default_region)
        await self._write(lambda: follow_ups.dnc_add(self.queries, e164, reason))
        return e164

    async def dnc_remove(self, number: str) -> bool:
        try:
            e164 = to_e164(number, self.default_region)
        except InvalidNumber:  # an entry kept as written, if it could not be read (schema 4)
            if await self._write(lambda: follow_ups.dnc_remove(number.strip())):
                return True
            raise
        return await self._write(lambda: follow_ups.dnc_remove(e164))

    async def dnc_list(self) -> list[DncEntry]:
        return await self._read(follow_ups.dnc_list)

    # calls ------------------------------------------------------------------------------------

    async def claim_calls(self, limit: int, lease: float, after: float) -> list[ClaimedCall]:
        return await self._write(lambda: calls.claim_calls(self.queries, limit, lease, after))

    async def record_lookup(self, lookup: Lookup) -> Looked:
        return await self._write(
            lambda: calls.record_lookup(self.queries, lookup), notify=lookup.event is not None
        )

    async def list_calls(self, *, status: str | None = None, limit: int = 50) -> list[CallRecord]:
        return await self._read(lambda: calls.list_calls(status, None, limit))

    async def get_call(self, call_id: str) -> CallRecord | None:
        found = await self._read(lambda: calls.list_calls(None, call_id, 1))
        return found[0] if found else None

    async def call_stats(self) -> CallStats:
        return await self._read(calls.call_stats)

    async def call_snapshot(self, event_id: str) -> str | None:
        return await self._read(lambda: calls.call_snapshot(event_id))

    async def save_call_snapshot(self, event_id: str, snapshot: str) -> str | None:
        return await self._write(lambda: calls.save_call_snapshot(event_id, snapshot))
