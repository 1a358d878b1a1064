"""The records the store exchanges about calls: with the reconciler, and with operator
commands (``receiver calls``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from receiver.store.records import NewEvent

CALL_STATUSES = ("open", "ended", "synthesized", "reconciled", "not_found", "unreconciled")
"""open: no terminal event yet; ended: one was received; synthesized: the API said it ended
and the receiver made the event; reconciled: the API said it ended and nothing was to be made
(the event was there, or its type is not subscribed); not_found: the API does not know it;
unreconciled: still not ended when RECEIVER_RECONCILE_GIVE_UP_HOURS passed."""


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A call the receiver knows, as operator commands show it."""

    call_id: str
    origin: str  # event (its first event made it known) or follow_up (a follow-up created it)
    status: str  # one of CALL_STATUSES
    stage: str  # created, connected, ended, did_not_connect
    events: int
    last_event_type: str | None
    first_seen_at: float
    last_seen_at: float  # its last event, or its creation
    lookups: int  # GET /v1/calls made for it
    next_check_at: float | None
    lease_until: float | None
    last_result: str | None  # what the last lookup said
    terminal_event_id: str | None  # the event that ended it, received or synthesised
    updated_at: float


@dataclass(frozen=True, slots=True)
class ClaimedCall:
    """An open call leased to a reconciler to be looked up."""

    call_id: str
    attempt: int  # this lookup's number; the fencing token of its outcome
    last_seen_at: float
    stage: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one lookup of a call found, to record if its lease still holds.

    ``status`` is the call's new status (``open`` to look again at ``next_check_at``).
    With ``event`` (status ``synthesized``), the terminal event to store, unless the call
    already has one of that type, and ``snapshot`` (the Call as fetched, JSON) kept with it
    for handlers that ask for the Call."""

    call_id: str
    attempt: int
    status: str
    result: str
    stage: str | None = None
    next_check_at: float | None = None
    event: NewEvent | None = None
    snapshot: str | None = None


@dataclass(frozen=True, slots=True)
class Looked:
    """What recording a :class:`Lookup` did: ``lease_lost`` (nothing recorded), or
    ``recorded`` with the call's ``status`` now (``ended`` when its terminal event came
    meanwhile). With an event, ``event_id`` is the call's terminal event: the one just
    synthesised (``synthesized``), or one already stored."""

    outcome: Literal["recorded", "lease_lost"]
    status: str | None = None
    event_id: str | None = None
    synthesized: bool = False


@dataclass(frozen=True, slots=True)
class CallStats:
    """Calls still waiting for their terminal event."""

    open: int
