"""Several stores on one database (as several processes have): claims never overlap, each
call's events reach an ordered handler one at a time and in order, each finish counts once."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter, defaultdict

from receiver import Router
from receiver.delivery.registry import Registry
from receiver.delivery.worker import Worker
from receiver.loop import running
from receiver.store.records import Finish

CALLS, PER_CALL = 12, 8
LEASES = {"h": 60.0, "u": 60.0}


async def _seed(store, new_event) -> dict[str, list[str]]:
    order: dict[str, list[str]] = defaultdict(list)
    for n in range(PER_CALL):
        for c in range(CALLS):
            event = new_event(n * CALLS + c + 1, call_id=f"call-{c}", handlers=("h", "u"))
            order[event.call_id].append((await store.add_event(event)).id)
    return order


async def test_claims_from_several_stores_never_overlap(store, open_store, new_event) -> None:
    """Three stores claiming at once: no delivery twice, ordered calls one at a time, in order."""
    order = await _seed(store, new_event)
    stores = [store, await open_store(), await open_store()]
    running: Counter[tuple[str, str]] = Counter()
    seen: dict[str, list[str]] = defaultdict(list)
    finished: Counter[int] = Counter()
    overlaps: list[tuple[str, str]] = []

    async def run(one, claim) -> None:
        key = (claim.handler, claim.call_id)
        running[key] += 1
        if claim.handler == "h" and running[key] > 1:
            overlaps.append(key)
        if claim.handler == "h":
            seen[claim.call_id].append(claim.event_id)
        await asyncio.sleep(random.uniform(0, 0.003))
        running[key] -= 1
        if await one.finish(Finish(claim.id, claim.attempt, "done")):
            finished[claim.id] += 1

    async def claimer(one) -> None:
        idle = 0
        while idle < 20:
            claims = await one.claim({"h": 4, "u": 4}, frozenset({"h"}), LEASES)
            idle = 0 if claims else idle + 1
            await asyncio.gather(*(run(one, c) for c in claims))
            await asyncio.sleep(0.002)

    await asyncio.gather(*(claimer(s) for s in stores))
    assert overlaps == []
    assert dict(seen) == dict(order)
    assert len(finished) == 2 * CALLS * PER_CALL and set(finished.values()) == {1}


async def test_two_workers_keep_each_calls_order(store, open_store, settings_factory, new_event):
    """Two workers (two stores) on one database: each call's events run in arrival order."""
    router = Router("t")
    seen: dict[str, list[int]] = defaultdict(list)
    active: Counter[str] = Counter()
    overlaps: list[str] = []

    @router.on("event_message")
    async def ordered(event, ctx) -> None:
        active[event.call_id] += 1
        if active[event.call_id] > 1:
            overlaps.append(event.call_id)
        await asyncio.sleep(random.uniform(0, 0.004))
        seen[event.call_id].append(int(event.payload.text.lstrip("#")))
        active[event.call_id] -= 1

    settings = settings_factory(poll_interval_seconds=0.05)
    posted: dict[str, list[int]] = defaultdict(list)
    async with contextlib.AsyncExitStack() as stack:
        for one in (store, await open_store()):
            worker = Worker(one, Registry([router]), settings)
            await stack.enter_async_context(running(worker, one))
        for n in range(1, CALLS * PER_CALL + 1):
            event = new_event(n, call_id=f"call-{n % CALLS}", handlers=("t.ordered",))
            await store.add_event(event)
            posted[event.call_id].append(n)
        for _ in range(1000):  # bounded wait, not a measurement
            if sum(len(v) for v in seen.values()) >= CALLS * PER_CALL:
                break
            await asyncio.sleep(0.02)
    assert overlaps == []
    assert dict(seen) == dict(posted)
