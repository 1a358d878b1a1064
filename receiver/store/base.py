"""The ``Store`` protocol every backend implements, and the records it exchanges."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from receiver.errors import StoreError


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An accepted delivery, ready to be stored with one delivery row per matching handler."""

    id: str
    dedup_key: str
    type: str
    call_id: str
    received_at: float
    method: str
    headers: str  # JSON object, secrets already removed
    envelope: str  # canonical JSON of the hosted envelope
    raw: bytes  # the body (POST) or query string without the token (GET), byte for byte
    handlers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stored:
    """What :meth:`Store.add_event` answers: the event's id and whether it was known already."""

    id: str
    duplicate: bool


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as read back from the store."""

    id: str
    seq: int
    dedup_key: str
    type: str
    call_id: str
    received_at: float
    method: str
    headers: dict[str, Any]
    envelope: dict[str, Any]
    raw: bytes


@dataclass(frozen=True, slots=True)
class Purged:
    """What :meth:`Store.purge` removed."""

    deliveries: int
    events: int


@dataclass(frozen=True, slots=True)
class SchemaState:
    current: int
    latest: int
    applied: list[int] = field(default_factory=list)


class Store(Protocol):
    """Durable storage shared by intake, workers and operator commands."""

    async def open(self) -> None:
        """Connect and apply pending schema versions."""

    async def close(self) -> None:
        """Finish pending writes and disconnect."""

    async def migrate(self) -> SchemaState:
        """Apply every pending schema version in order; return what was applied."""

    async def schema_state(self) -> SchemaState:
        """The version the database is at and the latest this code knows."""

    async def ping(self) -> None:
        """Raise if the database cannot be reached."""

    async def add_event(self, event: NewEvent) -> Stored:
        """Store an event and its deliveries in one transaction; return once durable.

        A second event with the same ``dedup_key`` stores nothing and answers the first id.
        """

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event by id, or None."""

    async def list_events(
        self, *, type: str | None = None, call_id: str | None = None, limit: int = 50
    ) -> list[EventRecord]:
        """The newest events first, optionally filtered."""

    async def count_events(self) -> int:
        """How many events are stored."""

    async def purge(self, before: float, *, batch_size: int = 1000) -> Purged:
        """Delete deliveries that finished (done, dropped, skipped) before ``before``, then
        events received before it that have no delivery left; in short transactions of up to
        ``batch_size`` rows, so intake and workers go on meanwhile. Dead deliveries, and their
        events, are kept for an operator."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery leased to a worker, with what the handler needs."""

    id: int
    attempt: int  # this attempt's number; also the fencing token for finish/release
    handler: str
    event_id: str
    call_id: str
    envelope: dict[str, Any]
    side_effects: bool


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of one attempt, recorded only if the lease is still this attempt's."""

    id: int
    attempt: int
    status: str  # done, retry (back to pending), dropped, skipped, dead
    next_attempt_at: float | None = None
    error: str | None = None
    follow_ups: tuple[Any, ...] = ()  # receiver.context.FollowUpRequest, done only
    side_effects: bool = True  # False: follow-ups are recorded as suppressed, never sent


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: int
    event_id: str
    event_type: str
    handler: str
    call_id: str
    status: str
    attempts: int
    next_attempt_at: float
    lease_until: float | None
    last_error: str | None
    side_effects: bool
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Which deliveries an operator command acts on."""

    ids: tuple[int, ...] = ()
    status: str | None = None
    handler: str | None = None
    type: str | None = None
    since: float | None = None
    until: float | None = None
    limit: int | None = None


@dataclass(frozen=True, slots=True)
class HandlerStats:
    pending: int
    oldest_pending_age: float
    dead: int


class DeliveryStore(Protocol):
    """The deliveries half of the store (same object as :class:`Store`)."""

    async def claim(
        self,
        slots: dict[str, int],
        ordered: frozenset[str],
        leases: dict[str, float],
        limit: int | None = None,
    ) -> list[Claimed]:
        """Lease up to ``slots[h]`` due deliveries of each handler ``h``, at most ``limit`` in
        all (the earliest due first).

        A delivery is due when pending and its time has come, or running with an expired
        lease. For handlers in ``ordered``, a delivery is due only when no earlier delivery
        of the same handler and call is pending or running.
        """

    async def finish(self, result: Finish) -> bool:
        """Record an attempt's end (and its follow-ups). False if the lease was lost."""

    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]:
        """:meth:`finish` each of ``results`` in one write, answering in the same order.

        Each is recorded or not on its own: one that fails is answered with its
        :class:`~receiver.errors.StoreError` and the others are recorded all the same.
        Raises only when none could be recorded.
        """

    async def release(self, claims: list[tuple[int, int]]) -> None:
        """Give leases back unfinished (shutdown): due again now, the attempt not counted."""

    async def list_deliveries(self, where: DeliveryFilter) -> list[DeliveryRecord]:
        """Deliveries matching ``where``, newest first."""

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        """One delivery."""

    async def requeue(self, ids: list[int], *, side_effects: bool = True) -> int:
        """Make these deliveries pending and due now with a fresh attempt count."""

    async def delivery_stats(self) -> dict[str, HandlerStats]:
        """Per handler: pending (or running) count, age of the oldest, dead count."""


@dataclass(frozen=True, slots=True)
class ClaimedFollowUp:
    """A follow-up intent leased to a sender, marked ``sending`` before any request."""

    key: str
    attempt: int  # fencing token, as for deliveries
    to_number: str
    request: dict[str, Any]
    depth: int
    reconcile: bool  # it may have been sent already: look for the call before sending


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    key: str
    event_id: str
    handler: str
    call_id: str
    to_number: str
    from_number: str
    request: dict[str, Any]
    not_before: float
    depth: int
    status: str
    attempts: int
    next_attempt_at: float
    reconcile: bool
    vocode_call_id: str | None
    reason: str | None
    sent_at: float | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class FollowUpGuards:
    """Limits checked when an intent is claimed; a refusal is recorded on the intent."""

    max_per_number: int = 3  # calls to one number per 24 h
    max_depth: int = 2  # follow-ups of follow-ups
    window_seconds: float = 86_400.0


@dataclass(frozen=True, slots=True)
class FollowUpClaim:
    claimed: list[ClaimedFollowUp]
    refused: list[tuple[str, str]]  # (key, reason): do_not_call, cap, depth


class FollowUpStore(Protocol):
    """The follow-up half of the store (same object as :class:`Store`)."""

    async def claim_follow_ups(
        self, limit: int, lease: float, guards: FollowUpGuards
    ) -> FollowUpClaim:
        """Refuse what the guards forbid; mark up to ``limit`` due intents ``sending``.

        Due: pending and ``next_attempt_at`` passed, or ``sending`` with an expired lease
        (its sender died: it is returned with ``reconcile`` set). Guards are checked for
        intents that cannot have been sent yet; the per-number count excludes the intent.
        """

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
    ) -> bool:
        """Record a send's end: created, rejected, held, or pending again (retry)."""

    async def list_follow_ups(
        self, *, status: str | None = None, limit: int = 50
    ) -> list[FollowUpRecord]:
        """Newest first."""

    async def get_follow_up(self, key: str) -> FollowUpRecord | None:
        """One intent by key."""

    async def release_follow_up(self, key: str) -> bool:
        """Held, rejected or refused → pending, due now (guards and reconciliation still apply)."""

    async def cancel_follow_up(self, key: str) -> bool:
        """Any intent not sending or created → cancelled."""

    async def dnc_add(self, number: str, reason: str | None = None) -> None:
        """Put a number on the do-not-call list."""

    async def dnc_remove(self, number: str) -> bool:
        """Take a number off the list; False if it was not on it."""

    async def dnc_list(self) -> list[tuple[str, str | None, float]]:
        """(number, reason, added at) for every listed number."""
