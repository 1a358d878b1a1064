"""What retention removes beside events and deliveries (:func:`events.purge_chunk`): finished
follow-up intents, and the counts of a dry run."""

from __future__ import annotations

import time

from receiver.store.events import FINISHED, forget_calls
from receiver.store.plan import Execute, Fetch, Plan
from receiver.store.queries import Queries
from receiver.store.records import Purged

CAP_WINDOW_SECONDS = 86_400.0
"""Intents sent within this window count towards the per-number cap: never purged."""
FINISHED_FOLLOW_UPS = "('created', 'rejected', 'refused', 'cancelled', 'suppressed')"

# Through follow_ups_due (status, next_attempt_at): a finished intent's next_attempt_at is
# when it finished (or, refused and cancelled ones, when it was due, which is earlier).
_FOLLOW_UPS = f"""FROM follow_ups WHERE status IN {FINISHED_FOLLOW_UPS}
    AND next_attempt_at < :before AND updated_at < :before
    AND coalesce(sent_at, 0) < :sent_before"""


def _params(before: float) -> dict[str, float]:
    return {"before": before, "sent_before": min(before, time.time() - CAP_WINDOW_SECONDS)}


def follow_ups_chunk(q: Queries, before: float, batch: int) -> Plan[int]:
    """Delete up to ``batch`` finished intents last changed before ``before`` (and the calls
    they created that no event is left of)."""
    params = {**_params(before), "limit": batch}
    found = yield Fetch(f"SELECT key, vocode_call_id {_FOLLOW_UPS} LIMIT :limit", params)
    if not found:
        return 0
    deleted: int = yield Execute(
        f"DELETE FROM follow_ups WHERE {q.any_of('key', 'keys', 'text')}",
        {"keys": [key for key, _ in found]},
    )
    yield from forget_calls(q, sorted({c for _, c in found if c is not None}), before)
    return deleted


def count(q: Queries, before: float, follow_ups: bool) -> Plan[Purged]:
    """What a purge with this cut-off would remove now."""
    [(deliveries,)] = yield Fetch(
        f"SELECT count(*) FROM deliveries WHERE status IN {FINISHED} AND next_attempt_at < :before",
        {"before": before},
    )
    [(events,)] = yield Fetch(
        "SELECT count(*) FROM events e WHERE e.received_at < :before"
        " AND NOT (e.quarantine IS NOT NULL AND e.released_at IS NULL) AND NOT EXISTS ("
        " SELECT 1 FROM deliveries d WHERE d.event_seq = e.seq"
        f" AND NOT (d.status IN {FINISHED} AND d.next_attempt_at < :before))",
        {"before": before},
    )
    intents = 0
    if follow_ups:
        [(intents,)] = yield Fetch(f"SELECT count(*) {_FOLLOW_UPS}", _params(before))
    return Purged(int(deliveries), int(events), int(intents))
