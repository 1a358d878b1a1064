"""What the operator console reads, on both backends: keyset pages of events, time ranges,
the live tail, a call's deliveries and follow-ups, pages of intents and their counts."""

from __future__ import annotations

import time

import pytest

from receiver.follow_ups.guards import FollowUpGuards
from receiver.follow_ups.intent import FollowUpRequest
from receiver.store.records import DeliveryFilter, Finish

AGENT = "0b6f7e0a-91c2-4f1d-8a2b-6c3d4e5f6a7b"
T0 = 1_700_000_000.0  # new_event(n) is received at T0 + n


async def add_many(store, new_event, count: int, **fields) -> list[str]:
    return [(await store.add_event(new_event(n, **fields))).id for n in range(1, count + 1)]


async def test_keyset_pages_walk_every_event_once_both_ways(store, new_event) -> None:
    """Older pages (before_seq) and newer pages (after_seq) cover every event once, newest first."""
    ids = await add_many(store, new_event, 11)
    pages, before = [], None
    while page := await store.list_events(limit=4, before_seq=before):
        pages.append([e.id for e in page])
        before = page[-1].seq
    assert [i for p in pages for i in p] == ids[::-1]
    assert [len(p) for p in pages] == [4, 4, 3]
    oldest_page = await store.list_events(limit=4, before_seq=before + 1)
    newer = await store.list_events(limit=4, after_seq=oldest_page[0].seq)
    assert [e.id for e in newer] == ids[4:0:-1]


async def test_time_range_is_found_in_arrival_order(store, new_event) -> None:
    """since/until select exactly the events received in [since, until), at every cut."""
    ids = await add_many(store, new_event, 37)
    for cut in (0.5, 1, 2, 17, 36, 37, 37.5, 50):
        since = await store.list_events(limit=100, since=T0 + cut)
        assert [e.id for e in since] == [i for n, i in enumerate(ids, 1) if n >= cut][::-1]
        until = await store.list_events(limit=100, until=T0 + cut)
        assert [e.id for e in until] == [i for n, i in enumerate(ids, 1) if n < cut][::-1]
    both = await store.list_events(limit=100, since=T0 + 10, until=T0 + 13)
    assert [e.id for e in both] == ids[9:12][::-1]


async def test_time_range_across_gaps_in_seq(store, new_event, sql) -> None:
    """Numbers missing in the middle (purged events) do not mislead the bisection."""
    ids = await add_many(store, new_event, 30)
    await sql(f"DELETE FROM events WHERE received_at BETWEEN {T0 + 8} AND {T0 + 21}")
    kept = [i for n, i in enumerate(ids, 1) if not 8 <= n <= 21]
    for cut in (5, 8, 15, 21, 22, 29):
        found = await store.list_events(limit=100, since=T0 + cut)
        expected = [i for n, i in enumerate(ids, 1) if n >= cut and i in kept]
        assert [e.id for e in found] == expected[::-1]


async def test_time_range_narrows_the_other_filters(store, new_event) -> None:
    """A time range combines with a type, a call and a keyset page."""
    for n in range(1, 21):
        kind = "event_recording" if n % 2 else "event_message"
        await store.add_event(new_event(n, type=kind, call_id=f"c{n % 3}"))
    found = await store.list_events(type="event_recording", since=T0 + 5, until=T0 + 16)
    assert [e.received_at - T0 for e in found] == [15, 13, 11, 9, 7, 5]
    page = await store.list_events(call_id="c1", since=T0 + 2, before_seq=found[0].seq)
    assert [e.received_at - T0 for e in page] == [13, 10, 7, 4]


async def test_empty_store_bounds(store) -> None:
    """With no events, a tail from now starts at 1 and a time range finds nothing."""
    assert await store.first_seq_at() == 1
    assert await store.first_seq_at(T0) == 1
    assert await store.list_events(since=T0) == []


async def test_tail_from_now_sees_only_newer_events(store, new_event) -> None:
    """events_after the newest seq returns the events stored afterwards, oldest first."""
    await add_many(store, new_event, 3)
    start = await store.first_seq_at() - 1
    assert (await store.events_after(start)).events == []
    later = [(await store.add_event(new_event(n))).id for n in (10, 11)]
    page = await store.events_after(start)
    assert [e.id for e in page.events] == later and page.skipped == 0
    assert (await store.events_after(page.last_seq)).events == []


async def test_tail_newest_skips_what_it_cannot_show(store, new_event) -> None:
    """With newest, the latest events come back and the older ones are counted as skipped."""
    ids = await add_many(store, new_event, 9)
    page = await store.events_after(0, limit=3, newest=True)
    assert [e.id for e in page.events] == ids[-3:] and page.skipped == 6
    oldest = await store.events_after(0, limit=3)
    assert [e.id for e in oldest.events] == ids[:3] and oldest.skipped == 0


async def test_tail_since_a_time_starts_there(store, new_event) -> None:
    """first_seq_at(t) is where a tail --since t begins."""
    ids = await add_many(store, new_event, 8)
    start = await store.first_seq_at(T0 + 6)
    page = await store.events_after(start - 1)
    assert [e.id for e in page.events] == ids[5:]


async def test_deliveries_of_one_call_and_keyset(store, new_event) -> None:
    """Deliveries filter by the call of their event; before pages them by id."""
    for n in range(1, 7):
        await store.add_event(new_event(n, call_id=f"c{n % 2}", handlers=("a", "b")))
    calls = await store.list_deliveries(DeliveryFilter(call_id="c1"))
    assert len(calls) == 6 and {d.call_id for d in calls} == {"c1"}
    ids = [d.id for d in calls]
    assert ids == sorted(ids, reverse=True)
    rest = await store.list_deliveries(DeliveryFilter(call_id="c1", before=ids[1], limit=3))
    assert [d.id for d in rest] == ids[2:5]


async def _intent(store, new_event, n: int, call_id: str, created: float | None = None) -> str:
    await store.add_event(new_event(n, call_id=call_id, handlers=("t.h",)))
    [c] = await store.claim({"t.h": 1}, frozenset(), {"t.h": 60.0})
    key = f"{c.event_id}/t.h/1"
    request = FollowUpRequest(
        key, call_id, "+15555550123", "+15555550199", AGENT, {}, time.time(), {}
    )
    assert await store.finish(Finish(c.id, c.attempt, "done", follow_ups=(request,)))
    return key


async def test_follow_ups_by_call_status_and_keyset(store, new_event, sql) -> None:
    """Intents list by the call that asked, by the call they created, by status, in pages."""
    keys = [await _intent(store, new_event, n, f"c{n % 2}") for n in range(1, 8)]
    await sql("UPDATE follow_ups SET created_at = 1000")  # equal times: the key decides
    mine = await store.list_follow_ups(call_id="c1")
    assert {r.key for r in mine} == {keys[i] for i in (0, 2, 4, 6)}
    assert await store.cancel_follow_up(keys[3])
    assert [r.key for r in await store.list_follow_ups(status="cancelled")] == [keys[3]]
    seen, before = [], None
    while page := await store.list_follow_ups(limit=3, before=before):
        seen += [r.key for r in page]
        before = (page[-1].created_at, page[-1].key)
    assert seen == sorted(keys, reverse=True)


async def test_follow_up_of_a_created_call_and_counts(store, new_event) -> None:
    """The intent that created a Vocode call is found by that call's id; counts per status."""
    await _intent(store, new_event, 1, "c1")
    await _intent(store, new_event, 2, "c2")
    claim = await store.claim_follow_ups(1, 60.0, FollowUpGuards(max_per_number=9, max_depth=2))
    [item] = claim.claimed
    assert await store.complete_follow_up(item.key, 1, "created", vocode_call_id="v-1")
    [found] = await store.list_follow_ups(vocode_call_id="v-1")
    assert found.key == item.key and found.vocode_call_id == "v-1"
    assert await store.follow_up_counts() == {"created": 1, "pending": 1}


@pytest.mark.parametrize(
    "index", ["follow_ups_created", "follow_ups_status", "follow_ups_origin"]
)
async def test_console_indexes_exist(store, sql, backend, index) -> None:
    """Schema version 7 creates the indexes the console's follow-up lists read."""
    query = (
        f"SELECT name FROM sqlite_master WHERE type = 'index' AND name = '{index}'"
        if backend == "sqlite"
        else f"SELECT indexname FROM pg_indexes WHERE indexname = '{index}'"
    )
    assert await sql(query) == [(index,)]
