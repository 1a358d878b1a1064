"""Deliveries on both backends: claims, per-call order, leases and fencing, outcomes, replays."""

from __future__ import annotations

import asyncio
import time

from receiver.delivery.context import HandlerContext
from receiver.errors import StoreError
from receiver.follow_ups.intent import FollowUpRequest
from receiver.store.records import DeliveryFilter, Finish

AGENT_ID = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"  # a Vocode agent id is a uuid

LEASE = {"a": 60.0, "b": 60.0, "h": 60.0}


async def add(store, new_event, n: int, call: str = "c1", handlers=("h",)) -> str:
    return (await store.add_event(new_event(n, call_id=call, handlers=handlers))).id


async def test_claim_takes_up_to_the_slots_of_each_handler(store, new_event) -> None:
    """Each handler gets at most its free slots; each claim is the delivery's first attempt."""
    for n in range(1, 6):
        await add(store, new_event, n, call=f"c{n}", handlers=("a", "b"))
    claimed = await store.claim({"a": 2, "b": 3}, frozenset(), LEASE)
    assert sorted(c.handler for c in claimed) == ["a", "a", "b", "b", "b"]
    assert {c.attempt for c in claimed} == {1}
    assert all(c.envelope["type"] == "event_message" for c in claimed)
    assert await store.claim({"a": 0, "b": 0}, frozenset(), LEASE) == []


async def test_claim_takes_at_most_its_limit_across_handlers(store, new_event) -> None:
    """A worker's free capacity bounds the whole claim, whatever each handler's slots."""
    for n in range(1, 6):
        await add(store, new_event, n, call=f"c{n}", handlers=("a", "b"))
    claimed = await store.claim({"a": 5, "b": 5}, frozenset(), LEASE, 4)
    assert len(claimed) == 4
    rest = await store.claim({"a": 5, "b": 5}, frozenset(), LEASE)
    assert len(rest) == 6 and not {c.id for c in rest} & {c.id for c in claimed}


async def test_ordered_handler_gets_only_the_head_of_each_call(store, new_event) -> None:
    """An ordered handler is offered one delivery per call: the earliest not yet finished."""
    ids = [await add(store, new_event, n, call="c1") for n in range(1, 4)]
    other = [await add(store, new_event, n, call="c2") for n in range(4, 6)]
    claimed = await store.claim({"h": 10}, frozenset({"h"}), LEASE)
    assert sorted(c.event_id for c in claimed) == [ids[0], other[0]]
    assert await store.claim({"h": 10}, frozenset({"h"}), LEASE) == []  # heads are running
    head = next(c for c in claimed if c.event_id == ids[0])
    assert await store.finish(Finish(head.id, head.attempt, "done"))
    [second] = await store.claim({"h": 10}, frozenset({"h"}), LEASE)
    assert second.event_id == ids[1]


async def test_ordered_claims_go_round_the_calls(store, new_event) -> None:
    """Successive claims of an ordered handler start after the call the last one took: with
    heads due alike, every call with work waiting gets a turn before any gets a second."""
    for n in range(15):
        await store.add_event(new_event(n, call_id=f"c{n % 5}", handlers=("h",)))
    taken = []
    for _ in range(15):
        [claimed] = await store.claim({"h": 1}, frozenset({"h"}), {"h": 60.0})
        taken.append((claimed.call_id, claimed.event_id))
        assert await store.finish(Finish(claimed.id, claimed.attempt, "done"))
    assert [call for call, _ in taken[:5]] == ["c0", "c1", "c2", "c3", "c4"]
    assert [call for call, _ in taken[5:10]] == ["c0", "c1", "c2", "c3", "c4"]  # wrapped
    for call in {call for call, _ in taken}:
        events = [event for c, event in taken if c == call]
        assert events == sorted(events)  # each call's events in order


async def test_unordered_handler_takes_a_calls_events_together(store, new_event) -> None:
    """Without order, every due delivery of a call may be claimed at once."""
    for n in range(1, 6):
        await add(store, new_event, n, call="c1")
    assert len(await store.claim({"h": 10}, frozenset(), LEASE)) == 5


async def test_a_later_event_waits_while_an_earlier_one_retries(store, new_event) -> None:
    """A head scheduled for a later retry keeps the rest of its call waiting."""
    first = await add(store, new_event, 1)
    await add(store, new_event, 2)
    [head] = await store.claim({"h": 10}, frozenset({"h"}), LEASE)
    assert head.event_id == first
    later = time.time() + 3600
    assert await store.finish(Finish(head.id, 1, "retry", next_attempt_at=later, error="boom"))
    assert await store.claim({"h": 10}, frozenset({"h"}), LEASE) == []
    row = await store.get_delivery(head.id)
    assert (row.status, row.last_error, row.lease_until) == ("pending", "boom", None)
    assert row.next_attempt_at >= later - 1


async def test_a_dead_head_unblocks_its_call(store, new_event) -> None:
    """Once the earliest delivery is dead, the next one of that call is due."""
    await add(store, new_event, 1)
    second = await add(store, new_event, 2)
    [head] = await store.claim({"h": 10}, frozenset({"h"}), LEASE)
    assert await store.finish(Finish(head.id, 1, "dead", error="poison"))
    [nxt] = await store.claim({"h": 10}, frozenset({"h"}), LEASE)
    assert nxt.event_id == second


async def test_expired_lease_is_claimed_again_and_the_stale_finish_refused(
    store, new_event
) -> None:
    """A delivery whose lease ended is claimed again; the old attempt cannot finish it."""
    await add(store, new_event, 1)
    [first] = await store.claim({"h": 1}, frozenset(), {"h": -1.0})  # lease already over
    [second] = await store.claim({"h": 1}, frozenset(), {"h": 60.0})
    assert (first.id, first.attempt, second.attempt) == (second.id, 1, 2)
    assert await store.finish(Finish(first.id, first.attempt, "done")) is False
    assert await store.finish(Finish(second.id, second.attempt, "done")) is True
    assert await store.finish(Finish(second.id, second.attempt, "done")) is False


async def test_one_attempt_finished_twice_at_once_counts_once(store, new_event) -> None:
    """Two finishes of the same attempt racing (one batch): exactly one is recorded."""
    await add(store, new_event, 1)
    [c] = await store.claim({"h": 1}, frozenset(), LEASE)
    results = await asyncio.gather(
        store.finish(Finish(c.id, c.attempt, "done")),
        store.finish(Finish(c.id, c.attempt, "dropped")),
    )
    assert sorted(results) == [False, True]


async def test_a_stale_and_the_current_finish_in_one_batch(store, new_event) -> None:
    """Two attempts of one delivery finished in one batch: only the current attempt counts,
    whichever comes first."""
    await add(store, new_event, 1)
    await add(store, new_event, 2, call="c2")
    [old] = await store.claim({"h": 1}, frozenset(), {"h": -1.0})  # lease already over
    now = sorted(await store.claim({"h": 2}, frozenset(), LEASE), key=lambda c: c.id)
    current = next(c for c in now if c.id == old.id)
    other = next(c for c in now if c.id != old.id)
    answers = await store.finish_many([
        Finish(current.id, current.attempt, "done"),
        Finish(other.id, other.attempt, "done"),
        Finish(old.id, old.attempt, "dead", error="stale"),
    ])  # fmt: skip
    assert answers == [True, True, False]
    row = await store.get_delivery(old.id)
    assert (row.status, row.attempts, row.last_error) == ("done", 2, None)


async def test_release_gives_the_attempt_back(store, new_event) -> None:
    """A released delivery is pending and due now, its attempt not counted."""
    await add(store, new_event, 1)
    [c] = await store.claim({"h": 1}, frozenset(), LEASE)
    await store.release([(c.id, c.attempt)])
    row = await store.get_delivery(c.id)
    assert (row.status, row.attempts, row.lease_until) == ("pending", 0, None)
    [again] = await store.claim({"h": 1}, frozenset(), LEASE)
    assert (again.id, again.attempt) == (c.id, 1)


async def test_requeue_starts_over_except_while_running(store, new_event) -> None:
    """Requeue makes finished deliveries pending with no attempts; a running one is left."""
    await add(store, new_event, 1)
    await add(store, new_event, 2, call="c2")
    done, running = await store.claim({"h": 2}, frozenset(), LEASE)
    assert await store.finish(Finish(done.id, done.attempt, "dead", error="x"))
    assert await store.requeue([done.id, running.id], side_effects=False) == 1
    row = await store.get_delivery(done.id)
    assert (row.status, row.attempts, row.side_effects) == ("pending", 0, False)
    assert (await store.get_delivery(running.id)).status == "running"
    [again] = await store.claim({"h": 2}, frozenset(), LEASE)
    assert (again.id, again.attempt, again.side_effects) == (done.id, 1, False)


async def test_list_deliveries_filters(store, new_event) -> None:
    """Deliveries list newest first, by status, handler, event type, ids, time and limit."""
    await add(store, new_event, 1, handlers=("a", "b"))
    await store.add_event(new_event(2, type="event_recording", handlers=("a",)))
    rows = await store.list_deliveries(DeliveryFilter())
    assert [r.id for r in rows] == sorted((r.id for r in rows), reverse=True)
    assert len(rows) == 3
    assert {r.handler for r in await store.list_deliveries(DeliveryFilter(handler="b"))} == {"b"}
    [rec] = await store.list_deliveries(DeliveryFilter(type="event_recording"))
    assert (rec.event_type, rec.handler, rec.status, rec.attempts) == (
        "event_recording", "a", "pending", 0,
    )  # fmt: skip
    assert await store.list_deliveries(DeliveryFilter(status="done")) == []
    assert len(await store.list_deliveries(DeliveryFilter(limit=2))) == 2
    assert [r.id for r in await store.list_deliveries(DeliveryFilter(ids=(rec.id,)))] == [rec.id]
    assert await store.list_deliveries(DeliveryFilter(since=time.time() + 60)) == []
    assert len(await store.list_deliveries(DeliveryFilter(until=time.time() + 60))) == 3
    assert (await store.get_delivery(rec.id)).event_id == rec.event_id
    assert await store.get_delivery(10**9) is None


async def test_delivery_stats_per_handler(store, new_event) -> None:
    """Stats count pending or running deliveries and dead ones, per handler."""
    for n in range(1, 4):
        await add(store, new_event, n, call=f"c{n}", handlers=("a", "b"))
    [dead] = await store.claim({"b": 1}, frozenset(), LEASE)
    assert await store.finish(Finish(dead.id, 1, "dead"))
    stats = await store.delivery_stats()
    assert (stats["a"].pending, stats["a"].dead) == (3, 0)
    assert (stats["b"].pending, stats["b"].dead) == (2, 1)
    assert stats["a"].oldest_pending_age >= 0


def _asks_for_a_call(event_id: str, attempt: int) -> tuple:
    ctx = HandlerContext(event_id=event_id, call_id="c1", handler="h", attempt=attempt)
    ctx.follow_up(to_number="+1 555 555 0123", from_number="+15555550199", agent=AGENT_ID)
    return tuple(ctx.follow_ups)


async def test_follow_ups_are_recorded_with_success_only_and_once(store, new_event, sql) -> None:
    """A finish that is refused records nothing; a replayed success records nothing new."""
    event_id = await add(store, new_event, 1)
    [stale] = await store.claim({"h": 1}, frozenset(), {"h": -1.0})
    [c] = await store.claim({"h": 1}, frozenset(), LEASE)
    asked = _asks_for_a_call(event_id, 1)
    assert not await store.finish(Finish(stale.id, 1, "done", follow_ups=asked))
    assert await sql("SELECT count(*) FROM follow_ups") == [(0,)]
    assert await store.finish(Finish(c.id, 2, "done", follow_ups=asked))
    await store.requeue([c.id])
    [again] = await store.claim({"h": 1}, frozenset(), LEASE)
    assert await store.finish(Finish(again.id, 1, "done", follow_ups=asked))
    rows = await sql("SELECT key, status, to_number, depth FROM follow_ups")
    assert rows == [(f"{event_id}/h/1", "pending", "+15555550123", 1)]
    [record] = await store.list_follow_ups()
    assert record.request["to_number"] == "+15555550123"  # the body Vocode gets: E.164 too


async def test_follow_ups_of_a_replay_without_side_effects_are_suppressed(
    store, new_event, sql
) -> None:
    """Follow-ups recorded by a delivery replayed with side effects off are never sent."""
    event_id = await add(store, new_event, 1)
    [c] = await store.claim({"h": 1}, frozenset(), LEASE)
    finish = Finish(c.id, 1, "done", follow_ups=_asks_for_a_call(event_id, 1), side_effects=False)
    assert await store.finish(finish)
    assert await sql("SELECT status FROM follow_ups") == [("suppressed",)]


async def test_finish_many_records_each_on_its_own(store, new_event, sql) -> None:
    """A result that cannot be written is answered its error; the others are recorded."""
    for n in range(3):
        await add(store, new_event, n, call=f"c{n}")
    a, b, c = sorted(await store.claim({"h": 3}, frozenset(), LEASE), key=lambda d: d.id)

    def follow_up(key: str, context: dict) -> FollowUpRequest:
        return FollowUpRequest(key, "c1", "+15555550123", "+15555550199", "agent-1", context,
                               time.time(), {})  # fmt: skip

    answers = await store.finish_many(
        [
            Finish(a.id, a.attempt, "done", follow_ups=(follow_up("a/h/1", {"n": "1"}),)),
            Finish(b.id, b.attempt, "done", follow_ups=(follow_up("b/h/1", {"x": object()}),)),
            Finish(c.id, c.attempt + 1, "done"),  # not this attempt's lease any more
        ]
    )
    assert answers[0] is True and isinstance(answers[1], StoreError) and answers[2] is False
    records = {d.id: d.status for d in await store.list_deliveries(DeliveryFilter())}
    assert (records[a.id], records[b.id], records[c.id]) == ("done", "running", "running")
    assert await sql("SELECT key FROM follow_ups") == [("a/h/1",)]
