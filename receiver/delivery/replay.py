"""Running deliveries again, as ``receiver replay`` and the console's replay buttons do.

A replay makes deliveries pending, due now, with a fresh attempt count; one that is running
is left alone. Without side effects, the handlers run but the follow-up calls they ask for
are recorded as ``suppressed`` and never dialled.

Example::

    result = await replay(store, DeliveryFilter(status="dead", handler="crm.save"))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from receiver.store import Store
from receiver.store.records import DeliveryFilter

CHUNK = 500  # deliveries per write: a bulk replay never holds the writer for long


@dataclass(frozen=True, slots=True)
class Replayed:
    """What a replay did: deliveries matched, left alone because running, made pending."""

    matched: int
    running: int
    requeued: int
    side_effects: bool


async def requeue_in_chunks(
    store: Store,
    ids: list[int],
    *,
    side_effects: bool = True,
    advance: Callable[[int], object] | None = None,
) -> int:
    """Requeue ``ids`` in writes of :data:`CHUNK`; ``advance(n)`` after each; answer how many."""
    done = 0
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        done += await store.requeue(chunk, side_effects=side_effects)
        if advance is not None:
            advance(len(chunk))
    return done


async def replay(store: Store, where: DeliveryFilter, *, side_effects: bool = True) -> Replayed:
    """Requeue every delivery matching ``where`` that is not running."""
    found = await store.list_deliveries(where)
    ids = [r.id for r in found if r.status != "running"]
    requeued = await requeue_in_chunks(store, ids, side_effects=side_effects)
    return Replayed(len(found), len(found) - len(ids), requeued, side_effects)
