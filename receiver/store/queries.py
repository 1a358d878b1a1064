"""The SQL that differs between the dialects: each store supplies one :class:`Queries`.

Everything else a plan runs (:mod:`receiver.store.plans`) is written once, in the SQL both
engines speak, with these pieces formatted in: the clock (:attr:`now`), array membership
(:meth:`any_of`), and the statements whose shape truly differs. A PostgreSQL delivery that
is running is stored as ``pending`` with a lease (so that a claim changes no indexed column),
which is why the delivery statements are per dialect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from receiver.store.plan import Version


class Queries(Protocol):
    versions: Sequence[Version]
    """The schema versions, in order."""

    now: str
    """The current time in epoch seconds as SQL (``:now``, the caller's, or the database's)."""

    current_schema: str
    """One row: the schema tables are created in (None when there is none)."""
    has_schema_version: str
    """One row: whether the ``schema_version`` table exists."""
    create_schema_version: str
    lock_schema: str
    """Serialises migrations of one schema (``:schema``) until the transaction ends."""

    delivery_columns: str
    """The columns of a :class:`~receiver.store.records.DeliveryRecord`, from ``d`` and ``e``."""
    delivery_status: Mapping[str, str]
    """Conditions for statuses that are not a plain ``d.status = :status``."""
    delivery_stats: str
    """Per handler: (handler, active count, age of the oldest active, dead count)."""
    release: str
    """Leases ``:ids`` / ``:attempts`` given back: pending, due now, the attempt not counted."""
    requeue: str
    """``:ids`` (not running) pending again with no attempts and ``:side_effects``."""

    follow_ups_due: str
    """Up to ``:limit`` due intents, locked for this transaction: (key, attempts, to_number,
    request, depth, reconcile, status, sent_at, trace_context, reconcile_until)."""
    lock_numbers: str
    """Serialises claims to the same ``:numbers`` until the transaction ends."""

    calls_due: str
    """Up to ``:limit`` open calls last seen ``:after`` seconds ago or more whose next check
    and lease are due, locked for this transaction: (call_id, lookups, last_seen_at, stage)."""
    lock_call: str
    """Serialises writes about one call (``:call_id``) with intake's until the transaction ends."""

    def any_of(self, column: str, param: str, sql_type: str) -> str:
        """``column`` is one of the list parameter ``param`` (of ``sql_type`` elements)."""
        ...
