"""The ``Store`` protocol: everything intake, workers, senders and commands ask of storage.

Both backends implement it through :class:`receiver.store.core.SqlStore`, which writes each
operation once; one contract suite (``tests/store``) runs against both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from receiver.errors import StoreError
from receiver.store.call_records import CallRecord, CallStats, ClaimedCall, Looked, Lookup
from receiver.store.records import (
    Claimed,
    DeliveryFilter,
    DeliveryRecord,
    DncEntry,
    EventPage,
    EventRecord,
    Finish,
    FollowUpClaim,
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


class Store(Protocol):
    """Durable storage shared by intake, workers, senders and operator commands."""

    on_commit: list[Callable[[], None]]
    """Called (on the event loop) after a commit that may have made work due here."""

    # lifecycle and schema ------------------------------------------------------------------

    async def open(self, *, migrate: bool = True, read_only: bool = False) -> None:
        """Connect; with ``migrate`` (``serve``, ``worker``, ``migrate``), create the database
        if need be and apply pending schema versions.

        Without ``migrate`` (every other command) nothing is created or changed: a missing
        database is a :class:`StoreError`, and the caller checks :meth:`schema_state`.
        ``read_only`` refuses every write (SQLite opens the file ``mode=ro``, PostgreSQL
        sessions are ``default_transaction_read_only``), so a read-only role can inspect.
        """

    async def close(self) -> None:
        """Finish pending writes and disconnect."""

    async def migrate(self) -> SchemaState:
        """Apply every pending schema version in order; return what was applied."""

    async def schema_state(self) -> SchemaState:
        """The version the database is at and the latest this code knows."""

    async def ping(self) -> None:
        """Raise :class:`StoreError` if the database cannot be reached."""

    async def probe_write(self) -> None:
        """Commit a small write the way events are committed; raise :class:`StoreError` if
        the store cannot commit (a full disk, a read-only database)."""

    # events ----------------------------------------------------------------------------------

    async def add_event(self, event: NewEvent) -> Stored:
        """Store an event and its deliveries in one transaction; return once durable.

        A second event with the same ``dedup_key`` stores nothing and answers the first id.
        """

    async def get_event(self, event_id: str) -> EventRecord | None:
        """One event by id, or None."""

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
        """The newest events first, optionally filtered: by type, by call, only those in
        quarantine, received at or after ``since`` and before ``until``.

        Pages are keyset pages: ``before_seq`` reads the ``limit`` events stored just before
        the event numbered so (the next, older page), ``after_seq`` those just after it (the
        newer page); either costs the same at any depth. Times are found by bisection of
        the arrival order (see :meth:`first_seq_at`)."""

    async def events_after(
        self, after_seq: int, *, limit: int = 100, newest: bool = False
    ) -> EventPage:
        """Events stored after the one numbered ``after_seq``, oldest first: the next
        ``limit``, or with ``newest`` the latest ``limit`` and how many were left out before
        them (a live tail that shows the newest when events come faster than it reads)."""

    async def first_seq_at(self, at: float | None = None) -> int:
        """A ``seq`` bound: every event received at or after ``at`` is numbered at least
        this (without ``at``: one past the newest event). Found by bisection of the primary
        key, as events are numbered in the order they arrive; events received within one
        group commit of ``at`` may fall on either side."""

    async def release_quarantined(
        self, event_id: str, envelope: str, dedup_key: str, handlers: tuple[str, ...]
    ) -> Released:
        """Release a quarantined event that a newer model reads: store that reading
        (``envelope``, canonical JSON, and its ``dedup_key``) and one delivery per handler,
        in one transaction, once — whoever else releases it at the same time.

        If another event already has ``dedup_key``, the two are one event: this one is
        released as a duplicate of it, with no deliveries."""

    async def update_quarantine(self, event_id: str, quarantine: str) -> bool:
        """Replace the errors (JSON) of an event still quarantined; False if it is not."""

    async def count_events(self) -> int:
        """How many events are stored."""

    async def purge(
        self,
        before: float,
        *,
        batch_size: int = 1000,
        follow_ups: bool = True,
        progress: Callable[[Purged], None] | None = None,
    ) -> Purged:
        """Delete deliveries that finished (done, dropped, skipped) before ``before``, then
        events received before it that have no delivery left; in short transactions of up to
        ``batch_size`` events, so intake and workers go on meanwhile. Dead deliveries, and
        their events, are kept for an operator, and so are quarantined events.

        With ``follow_ups``, also finished intents (created, rejected, refused, cancelled,
        suppressed) last changed before ``before`` and sent over a day ago (the per-number
        cap counts the last day's calls). ``progress`` is told the running totals after
        each transaction."""

    async def count_purgeable(self, before: float, *, follow_ups: bool = True) -> Purged:
        """What :meth:`purge` would remove now, counted without changing anything."""

    # deliveries ------------------------------------------------------------------------------

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
        """Record one attempt's end (and its follow-ups); False if its lease was lost."""

    async def finish_many(self, results: list[Finish]) -> list[bool | StoreError]:
        """Record the end of each attempt (and its follow-ups) in one write, answering in
        the same order: True if recorded, False if its lease was lost meanwhile.

        Each is recorded or not on its own: one that fails is answered with its
        :class:`StoreError` and the others are recorded all the same. Raises only when none
        could be recorded.
        """

    async def release(self, claims: list[tuple[int, int]]) -> None:
        """Give leases (delivery id, attempt) back unfinished: due again now, the attempt
        not counted (shutdown)."""

    async def requeue(self, ids: list[int], *, side_effects: bool = True) -> int:
        """Make these deliveries pending and due now with a fresh attempt count (not a
        running one); answer how many."""

    async def list_deliveries(self, where: DeliveryFilter) -> list[DeliveryRecord]:
        """Deliveries matching ``where``, newest first."""

    async def get_delivery(self, delivery_id: int) -> DeliveryRecord | None:
        """One delivery, or None."""

    async def delivery_stats(self) -> dict[str, HandlerStats]:
        """Per handler: pending (or running) count, age of the oldest, dead count."""

    # follow-ups ------------------------------------------------------------------------------

    async def claim_follow_ups(
        self, limit: int, lease: float, guards: Guards, reconcile_window: float = 0.0
    ) -> FollowUpClaim:
        """Refuse what the guards forbid; mark up to ``limit`` due intents ``sending``.

        Due: pending and ``next_attempt_at`` passed, or ``sending`` with an expired lease
        (its sender died: it is returned with ``reconcile`` set, and, unless a search is
        under way already, ``reconcile_until`` ``reconcile_window`` seconds from now). Guards
        are checked for intents that cannot have been sent yet; the per-number count
        excludes the intent.
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
        reconcile_until: float | None = None,
    ) -> bool:
        """Record a send's end: created, rejected, held, or pending again (retry; with
        ``reconcile``, a search for the call until ``reconcile_until``). False when the
        intent is no longer this attempt's. A created call is known (tracked) from then on,
        in the same write."""

    async def list_follow_ups(
        self,
        *,
        status: str | None = None,
        limit: int = 50,
        call_id: str | None = None,
        vocode_call_id: str | None = None,
        before: tuple[float, str] | None = None,
    ) -> list[FollowUpRecord]:
        """Newest first, optionally only those in ``status``, those the events of
        ``call_id`` asked for, or the one that created the Vocode call ``vocode_call_id``;
        ``before`` (created_at, key) of the last intent of a page reads the next page."""

    async def follow_up_counts(self) -> dict[str, int]:
        """How many intents there are in each status."""

    async def get_follow_up(self, key: str) -> FollowUpRecord | None:
        """One intent by key, or None."""

    async def release_follow_up(self, key: str) -> bool:
        """Held, rejected or refused → pending, due now (guards and reconciliation still apply;
        a search for its call is no longer timed: it is looked for once, then sent)."""

    async def cancel_follow_up(self, key: str) -> bool:
        """Any intent not sending or created → cancelled."""

    async def follow_up_stats(self) -> FollowUpStats:
        """How many intents are pending or sending, and how many are held."""

    async def dnc_add(self, number: str, reason: str | None = None) -> str:
        """Put a number on the do-not-call list, in E.164 (answered); one without
        ``+country code`` is read in the store's default region. Raises
        :class:`~receiver.errors.InvalidNumber` for one that cannot be read."""

    async def dnc_remove(self, number: str) -> bool:
        """Take a number (read as :meth:`dnc_add` does) off the list; False if it was not
        on it."""

    async def dnc_list(self) -> list[DncEntry]:
        """(number, reason, added at) for every listed number."""

    # calls -----------------------------------------------------------------------------------

    async def claim_calls(self, limit: int, lease: float, after: float) -> list[ClaimedCall]:
        """Lease up to ``limit`` open calls to look up: last seen (an event, or their
        creation) ``after`` seconds ago or more, and due for a check. On PostgreSQL, calls
        another process holds are skipped; a lease that expired makes its call due again."""

    async def record_lookup(self, lookup: Lookup) -> Looked:
        """Record what a lookup found, if its lease still holds; with an event, store it
        and its deliveries once, unless the call has a terminal event already."""

    async def list_calls(self, *, status: str | None = None, limit: int = 50) -> list[CallRecord]:
        """The calls first seen last come first; optionally only those of one status."""

    async def get_call(self, call_id: str) -> CallRecord | None:
        """One call, or None."""

    async def call_stats(self) -> CallStats:
        """How many calls are open."""

    async def call_snapshot(self, event_id: str) -> str | None:
        """The Call fetched for an event, as JSON (``null``: the API did not know the call);
        None when none was fetched."""

    async def save_call_snapshot(self, event_id: str, snapshot: str) -> str | None:
        """Keep ``snapshot`` for the event unless one is kept already; answer the one kept
        (None if the event is gone)."""
