"""What the console's composite pages read: a call's whole story, and the overview's numbers.

Each goes through store operations that read indexes: a call's events through
``events_call``, their deliveries through ``(event_seq, handler)``, the intents its events
asked for through ``follow_ups_origin``, the one that placed it through ``follow_ups_call``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from receiver.service import Services
from receiver.store import EventRecord, Store
from receiver.store.records import (
    FOLLOW_UP_STATUSES,
    DeliveryFilter,
    DeliveryRecord,
    FollowUpRecord,
)

CALL_EVENTS = 2000  # a call's events shown at most (self-hosted transcripts come per line)


@dataclass
class Entry:
    """One moment of a call: an event (with its deliveries) or a follow-up intent."""

    at: float
    kind: str  # "event" or "follow_up"
    event: EventRecord | None = None
    deliveries: list[DeliveryRecord] = field(default_factory=list)
    follow_up: FollowUpRecord | None = None


@dataclass
class Timeline:
    """Everything about one call id, in order."""

    call_id: str
    entries: list[Entry]
    placed_by: list[FollowUpRecord]  # the intent whose create call this call is
    truncated: bool

    @property
    def empty(self) -> bool:
        return not self.entries and not self.placed_by

    @property
    def refused(self) -> list[FollowUpRecord]:
        """Intents of this call that a guard refused."""
        return [
            e.follow_up
            for e in self.entries
            if e.follow_up is not None and e.follow_up.status == "refused"
        ]


async def call_timeline(store: Store, call_id: str) -> Timeline:
    """The call's events (each with its deliveries) and follow-ups, oldest first."""
    events = await store.list_events(call_id=call_id, limit=CALL_EVENTS)
    deliveries = await store.list_deliveries(DeliveryFilter(call_id=call_id))
    asked = await store.list_follow_ups(call_id=call_id, limit=1000)
    placed_by = await store.list_follow_ups(vocode_call_id=call_id, limit=10)
    by_event: dict[str, list[DeliveryRecord]] = defaultdict(list)
    for delivery in sorted(deliveries, key=lambda d: (d.handler, d.id)):
        by_event[delivery.event_id].append(delivery)
    entries = [Entry(e.received_at, "event", e, by_event[e.id]) for e in events]
    entries += [Entry(f.created_at, "follow_up", follow_up=f) for f in asked]
    entries.sort(key=lambda e: (e.at, e.kind))
    return Timeline(call_id, entries, placed_by, len(events) == CALL_EVENTS)


async def overview(services: Services) -> dict[str, Any]:
    """The backlog, read by the same queries as the ``/metrics`` gauges, which are set
    from this read too, so the page and a scrape right after it show the same numbers."""
    store, metrics = services.store, services.metrics
    stats = await store.delivery_stats()
    follow_up_stats = await store.follow_up_stats()
    metrics.set_delivery_stats(stats)
    metrics.set_follow_up_stats(follow_up_stats)
    handlers = sorted(set(stats) | set(services.registry.handlers))
    rows = [(h, stats.get(h)) for h in handlers]
    counts = await store.follow_up_counts()
    quarantined = await store.list_events(quarantined=True, limit=101)
    latest = await store.list_events(limit=1)
    return {
        "handlers": [
            {
                "name": name,
                "pending": s.pending if s else 0,
                "oldest": s.oldest_pending_age if s else 0.0,
                "dead": s.dead if s else 0,
            }
            for name, s in rows
        ],
        "total_pending": sum(s.pending for s in stats.values()),
        "total_dead": sum(s.dead for s in stats.values()),
        "oldest": max((s.oldest_pending_age for s in stats.values()), default=0.0),
        "follow_ups": follow_up_stats,
        "follow_up_counts": [(s, counts.get(s, 0)) for s in FOLLOW_UP_STATUSES],
        "quarantined": len(quarantined),
        "latest": latest[0] if latest else None,
        "worker": services.worker is not None,
        "sender": services.sender is not None,
    }
