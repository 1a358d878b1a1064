"""The records the store exchanges with intake, workers, senders and operator commands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FinishStatus = Literal["done", "retry", "dropped", "skipped", "dead"]
DELIVERY_STATUSES = ("pending", "running", "done", "dropped", "skipped", "dead")
FOLLOW_UP_STATUSES = (
    "pending", "sending", "held", "created", "refused", "rejected", "suppressed", "cancelled",
)  # fmt: skip
"""What an attempt's end records: ``retry`` makes the delivery pending again."""


class NewFollowUp(Protocol):
    """A follow-up intent as the store records it (``receiver.FollowUpRequest`` is one)."""

    @property
    def key(self) -> str: ...
    @property
    def event_id(self) -> str: ...
    @property
    def handler(self) -> str: ...
    @property
    def call_id(self) -> str: ...
    @property
    def to_number(self) -> str: ...
    @property
    def from_number(self) -> str: ...
    @property
    def not_before(self) -> float: ...
    @property
    def trace_context(self) -> str | None: ...
    def body(self) -> dict[str, Any]: ...


class Guards(Protocol):
    """What a claim of follow-ups checks (``receiver.follow_ups.guards.FollowUpGuards``)."""

    @property
    def window_seconds(self) -> float: ...
    def refusal(self, *, listed: bool, depth: int, recent_calls: int) -> str | None:
        """Why an intent may not be dialled, or None."""
        ...


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
    trace_context: str | None = None  # the intake request's span (W3C traceparent)
    quarantine: str | None = None  # JSON {"version", "errors"}: the payload did not fit its model


@dataclass(frozen=True, slots=True)
class Stored:
    """What :meth:`Store.add_event` answers: the event's id, whether it was known already,
    and whether it made its call known (the first event of a call the receiver tracks)."""

    id: str
    duplicate: bool
    new_call: bool = False


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
    quarantine: dict[str, Any] | None = None  # {"version", "errors"}, kept once released
    released_at: float | None = None  # when a reparse released it from quarantine

    @property
    def quarantined(self) -> bool:
        """Held back from handlers: its payload did not fit, and no reparse released it yet."""
        return self.quarantine is not None and self.released_at is None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """Which events :meth:`Store.list_events` reads (see its arguments)."""

    type: str | None = None
    call_id: str | None = None
    limit: int = 50
    quarantined: bool = False
    before_seq: int | None = None
    after_seq: int | None = None
    since: float | None = None
    until: float | None = None


@dataclass(frozen=True, slots=True)
class EventPage:
    """What :meth:`Store.events_after` answers: events in the order they were stored, and
    how many newer than ``after_seq`` were left out before them (``newest`` pages only)."""

    events: list[EventRecord]
    skipped: int = 0

    @property
    def last_seq(self) -> int | None:
        """The ``seq`` to go on after, or None when the page is empty."""
        return self.events[-1].seq if self.events else None


@dataclass(frozen=True, slots=True)
class Released:
    """What releasing a quarantined event did (:meth:`Store.release_quarantined`).

    ``released``: its deliveries were created (``deliveries`` of them); ``duplicate``: once
    read by the new model it is the same event as ``duplicate_of``, which is kept alone;
    ``not_quarantined``: nothing to do (unknown, never quarantined, or released already).
    """

    outcome: Literal["released", "duplicate", "not_quarantined"]
    deliveries: int = 0
    duplicate_of: str | None = None


@dataclass(frozen=True, slots=True)
class Purged:
    """What :meth:`Store.purge` removed (or, for a dry run, would remove)."""

    deliveries: int
    events: int
    follow_ups: int = 0

    def __add__(self, other: Purged) -> Purged:
        return Purged(
            self.deliveries + other.deliveries,
            self.events + other.events,
            self.follow_ups + other.follow_ups,
        )


@dataclass(frozen=True, slots=True)
class SchemaState:
    """The version a database is at, the latest this code knows, what was just applied, and
    the versions still to apply (number, title), in order."""

    current: int
    latest: int
    applied: list[int] = field(default_factory=list)
    pending: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """What a worker asks one claim for (see :meth:`~receiver.store.base.Store.claim`)."""

    slots: dict[str, int]  # per handler, how many it may take
    ordered: frozenset[str]  # handlers that take each call's events one at a time, in order
    leases: dict[str, float]  # per handler, seconds a claimed delivery stays leased
    limit: int | None = None  # at most this many in all


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
    trace_context: str | None = None  # the span of the request that stored the event

    def log_fields(self) -> dict[str, Any]:
        """What every log line of this delivery carries (bound once, in one place)."""
        return {
            "event_id": self.event_id,
            "call_id": self.call_id,
            "type": self.envelope.get("type"),
            "handler": self.handler,
            "attempt": self.attempt,
        }


@dataclass(frozen=True, slots=True)
class Finish:
    """The end of one attempt, recorded only if the lease is still this attempt's."""

    id: int
    attempt: int
    status: FinishStatus
    next_attempt_at: float | None = None
    error: str | None = None
    follow_ups: tuple[NewFollowUp, ...] = ()  # asked for by a successful run only
    side_effects: bool = True  # False: follow-ups are recorded as suppressed, never sent


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A delivery as operator commands show it (a leased one reads as ``running``)."""

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
    call_id: str | None = None  # deliveries of this call's events
    before: int | None = None  # ids below this one only (the next page, newest first)


@dataclass(frozen=True, slots=True)
class HandlerStats:
    """One handler's backlog: pending (or running) count, age of the oldest, dead count."""

    pending: int
    oldest_pending_age: float
    dead: int


@dataclass(frozen=True, slots=True)
class FollowUpStats:
    """The follow-up backlog: intents pending or sending, and those held for an operator."""

    pending: int
    held: int


@dataclass(frozen=True, slots=True)
class ClaimedFollowUp:
    """A follow-up intent leased to a sender, marked ``sending`` before any request."""

    key: str
    attempt: int  # fencing token, as for deliveries
    to_number: str
    request: dict[str, Any]
    depth: int
    reconcile: bool  # it may have been sent already: look for the call before sending
    trace_context: str | None = None  # the span of the handler run that asked for it
    reconcile_until: float | None = None  # look until then, then hold; None: look once, send


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    """A follow-up intent as operator commands show it."""

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
    reconcile_until: float | None = None  # while the call is looked for: until when


@dataclass(frozen=True, slots=True)
class FollowUpQuery:
    """Which intents :meth:`Store.list_follow_ups` reads (see its arguments)."""

    status: str | None = None
    key: str | None = None
    call_id: str | None = None
    vocode_call_id: str | None = None
    before: tuple[float, str] | None = None
    limit: int = 50


@dataclass(frozen=True, slots=True)
class FollowUpClaim:
    """What one claim of follow-ups did: intents now ``sending``, and those refused."""

    claimed: list[ClaimedFollowUp]
    refused: list[tuple[str, str]]  # (key, reason): do_not_call, cap, depth


DncEntry = tuple[str, str | None, float]
"""(number, reason, added at) of one do-not-call entry."""

